"""One domain of a cross-domain dataset, as a dataset of its own (for per-domain baselines).

``domain_view(ds, "food")`` keeps the interactions with that domain's items, split labels
unchanged: a user's history becomes its food-only subsequence, and only the cases whose target
is a food item remain to validate and test. Item and user indices are the mixed dataset's, so a
per-domain model's scores and per-user results line up with the mixed models'. Its fingerprint
derives from the mixed dataset's and the domain name.
"""

from __future__ import annotations

import hashlib
from functools import cached_property

import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset


class DomainView:
    def __init__(self, ds: PreparedDataset, domain: str):
        if S.DOMAIN not in ds.interactions.columns:
            raise ValueError(f"{ds.name} has no domains; a domain view needs a cross-domain dataset")
        known = sorted(ds.interactions[S.DOMAIN].drop_nulls().unique().to_list())
        if domain not in known:
            raise ValueError(f"{ds.name} has no domain {domain!r}; its domains: {known}")
        self.base, self.domain = ds, domain
        self.meta = {**ds.meta, "name": f"{ds.name}[{domain}]", "domain_view": domain,
                     "fingerprint": hashlib.sha256(f"{ds.fingerprint}:{domain}".encode()).hexdigest()}

    name = property(lambda self: self.meta["name"])
    fingerprint = property(lambda self: self.meta["fingerprint"])
    task = property(lambda self: self.base.task)
    items = property(lambda self: self.base.items)  # all items: indices shared with the mixed dataset
    users = property(lambda self: self.base.users)

    @cached_property
    def interactions(self) -> pl.DataFrame:
        return self.base.interactions.filter(pl.col(S.DOMAIN) == self.domain)

    def split(self, name: str) -> pl.DataFrame:
        return self.interactions.filter(pl.col(S.SPLIT) == name)

    def __repr__(self) -> str:
        return f"DomainView({self.base.name!r}, {self.domain!r}, interactions={len(self.interactions)})"


def domain_view(ds: PreparedDataset, domain: str) -> DomainView:
    return DomainView(ds, domain)
