"""Arrays indexed by our ``item_idx`` / ``user_idx`` re-indexed to a RecBole dataset's internal ids.

Needed when one of our models runs inside RecBole's own pipeline: RecBole numbers items by its own
token order, so the LLM-side arrays the pipeline built must follow it.
"""

from __future__ import annotations

import numpy as np

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset


def align_to_recbole(recbole_dataset, ds: PreparedDataset, arrays: dict) -> dict:
    """Re-index arrays indexed by our ``item_idx`` (or ``user_idx``, keys ``user_*``) to a RecBole dataset's
    internal ids; ``hard_negative_pairs`` hold ids themselves (user, item, item) and are re-mapped."""
    tokens = recbole_dataset.field2id_token[recbole_dataset.iid_field]  # internal id -> token ([PAD] at 0)
    lookup = dict(zip(ds.items[S.ITEM].cast(str).to_list(), ds.items[S.ITEM_IDX].to_list()))
    ours = np.array([0] + [lookup[str(t)] for t in tokens[1:]], dtype=np.int64)
    u_tokens = recbole_dataset.field2id_token[recbole_dataset.uid_field]
    u_lookup = dict(zip(ds.users[S.USER].cast(str).to_list(), ds.users[S.USER_IDX].to_list()))
    users = np.array([0] + [u_lookup[str(t)] for t in u_tokens[1:]], dtype=np.int64)
    out = {}
    if "hard_negative_pairs" in arrays:  # ids, not indices: map (user, item, negative); drop pairs RecBole lacks
        to_item = np.zeros(int(ours.max()) + 1, dtype=np.int64)
        to_item[ours] = np.arange(len(ours))
        to_user = np.zeros(int(users.max()) + 1, dtype=np.int64)
        to_user[users] = np.arange(len(users))
        p = np.asarray(arrays["hard_negative_pairs"])
        inside = (p[:, 0] <= users.max()) & (p[:, 1] <= ours.max())
        p = p[inside]
        mapped = np.stack([to_user[p[:, 0]], to_item[p[:, 1]], to_item[np.minimum(p[:, 2], ours.max())]], axis=1)
        keep = (mapped[:, 0] > 0) & (mapped[:, 1] > 0)
        out["hard_negative_pairs"] = mapped[keep]
        out["hard_negative_vectors"] = np.asarray(arrays["hard_negative_vectors"])[inside][keep]
    for key, value in arrays.items():
        if key in ("hard_negative_pairs", "hard_negative_vectors"):
            continue
        if key.startswith("user_"):  # user-indexed arrays (profiles) follow RecBole's user ids
            out[key] = np.asarray(value)[users]
        elif hasattr(value, "tocsr"):
            out[key] = value.tocsr()[ours][:, ours]
        else:
            out[key] = np.asarray(value)[ours]
    return out
