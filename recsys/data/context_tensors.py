"""A prepared CTR / multi-scenario dataset as tensors: one row per sample, one column per field.

Field convention (RecBole's): token fields hold 1-based ids with 0 free for padding; the
vocabulary of a field covers every value in the dataset (as RecBole's remapping does), so an
id never depends on the split. The scenario is a token field too (``scenario``; every model
sees it), and models that branch by scenario read it as ``scenario - 1``. Dense fields are
min-max scaled with the **training** split's minimum and maximum (clipped to [0, 1]; missing
values 0) and handed to RecBole models as ``[value, 0]`` pairs, RecBole 1.2's float-field form.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import polars as pl
import torch

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.data.recipe import CTR_TASKS
from recsys.errors import DataError

LABEL_FIELD = "label"
SCENARIO_FIELD = "scenario"


class ContextTensors:
    def __init__(self, ds: PreparedDataset):
        self.ds = ds
        fields = ds.meta.get("context_fields")
        if fields is None:
            raise DataError("this prepared dataset has no context fields (it was prepared before CTR support, or "
                            "its recipe's task is not ctr / multi_scenario)", path=ds.path,
                            hint=f"run `recsys data prepare {ds.name} --force`")
        df = ds.interactions
        self.n_rows = len(df)
        self.token_fields: list[str] = []
        self.float_fields: list[str] = list(fields["dense"])
        self.vocab: dict[str, list[str]] = {}
        self.values: dict[str, torch.Tensor] = {}
        for name in fields["sparse"]:
            if name == S.USER:
                ids = df[S.USER_IDX].to_numpy()
                self.vocab[name] = ds.users[S.USER].to_list()
            elif name == S.ITEM:
                ids = df[S.ITEM_IDX].to_numpy()
                self.vocab[name] = ds.items[S.ITEM].to_list()
            else:
                col = df[name].cast(pl.String).fill_null("")
                uniq = col.unique(maintain_order=True).to_list()
                ids = col.replace_strict({v: i + 1 for i, v in enumerate(uniq)}, return_dtype=pl.Int64).to_numpy()
                self.vocab[name] = uniq
            self.token_fields.append(name)
            self.values[name] = torch.from_numpy(np.array(ids, dtype=np.int64))
        self.scenario_names: list[str] = []
        if fields.get("scenario") and S.SCENARIO in df.columns:
            self.scenario_names = sorted(df[S.SCENARIO].cast(pl.String).unique().to_list())
            lookup = {v: i + 1 for i, v in enumerate(self.scenario_names)}
            sid = df[S.SCENARIO].cast(pl.String).replace_strict(lookup, return_dtype=pl.Int64).to_numpy()
            self.token_fields.append(SCENARIO_FIELD)
            self.vocab[SCENARIO_FIELD] = self.scenario_names
            self.values[SCENARIO_FIELD] = torch.from_numpy(np.array(sid, dtype=np.int64))
        split = df[S.SPLIT].to_numpy()
        self.splits = {name: np.flatnonzero(split == name) for name in np.unique(split)}
        if S.TRAIN not in self.splits or S.VALID not in self.splits:
            raise DataError("a CTR dataset needs train and valid splits", path=ds.path)
        train = self.splits[S.TRAIN]
        for name in self.float_fields:
            raw = df[name].cast(pl.Float64).to_numpy()
            lo, hi = np.nanmin(raw[train]), np.nanmax(raw[train])
            scaled = np.clip((raw - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
            self.values[name] = torch.from_numpy(np.nan_to_num(scaled, nan=0.0).astype(np.float32))
        self.label = torch.from_numpy(np.array(df[S.LABEL].cast(pl.Float32).to_numpy()))
        self.user = df[S.USER_IDX].to_numpy()
        self.group_values = {g: df[g].cast(pl.String).fill_null("").to_numpy() for g in fields.get("groups", [])}
        self.n_users = len(ds.users)
        self.n_items = len(ds.items)

    # ---- what RecBole models ask a dataset ----------------------------------------------------------
    def num(self, field: str) -> int:
        if field in self.float_fields:
            return 1
        return len(self.vocab[field]) + 1

    @property
    def n_scenarios(self) -> int:
        return len(self.scenario_names)

    def split_names(self) -> list[str]:
        order = {S.TRAIN: 0, S.VALID: 1}
        return sorted(self.splits, key=lambda s: (order.get(s, 2), s))

    def scenario_of(self, rows: np.ndarray) -> np.ndarray:
        """0-based scenario per row (all 0 without a scenario field)."""
        if SCENARIO_FIELD not in self.values:
            return np.zeros(len(rows), dtype=np.int64)
        return self.values[SCENARIO_FIELD][rows].numpy() - 1

    def batch(self, rows: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The fields of these rows, as an ``Interaction``'s dict (float fields as ``[value, 0]``)."""
        idx = torch.as_tensor(rows)
        out = {f: self.values[f][idx] for f in self.token_fields}
        for f in self.float_fields:
            v = self.values[f][idx]
            out[f] = torch.stack([v, torch.zeros_like(v)], dim=-1)
        out[LABEL_FIELD] = self.label[idx]
        return out

    @cached_property
    def positive_rate(self) -> float:
        return float(self.label[self.splits[S.TRAIN]].mean())


def tensors_for(ds: PreparedDataset):
    """The tensor view a dataset's task trains on: ``ContextTensors`` for CTR, ``DatasetTensors`` otherwise."""
    if ds.task in CTR_TASKS:
        return ContextTensors(ds)
    from recsys.data.tensors import DatasetTensors

    return DatasetTensors(ds)
