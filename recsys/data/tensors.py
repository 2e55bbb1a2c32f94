"""Whole-tensor views of a prepared dataset: per-user sequences, pairs, histories and targets.

Everything here is built with numpy/torch array operations over all users at once; batches
are slices and gathers of these tensors, never per-sample Python. Training inputs are built
from the ``train`` split only; evaluation histories add ``valid`` when testing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from recsys.data import schema as S
from recsys.data.filters import time_keys
from recsys.data.prepare import PreparedDataset


@dataclass
class Ragged:
    """Per-user item lists in time order, as CSR: items of user u are ``items[indptr[u]:indptr[u+1]]``."""

    indptr: np.ndarray  # [n_users + 2] int64 (user indices start at 1)
    items: np.ndarray  # int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def last(self, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The last ``max_len`` items of every user, left-aligned and zero-padded (RecBole's layout)."""
        return self.window(np.arange(len(self.indptr) - 1), max_len)

    def window(self, users: np.ndarray, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The last ``max_len`` items of the given users, left-aligned and zero-padded."""
        lengths = np.minimum(self.lengths[users], max_len)
        start = self.indptr[users + 1] - lengths
        return gather_windows(self.items, start, lengths, max_len), torch.from_numpy(lengths.astype(np.int64))

    def __getitem__(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user]: self.indptr[user + 1]]


def ordered(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(time_keys(df, S.USER_IDX), maintain_order=True)


def ragged(df: pl.DataFrame, n_users: int) -> Ragged:
    df = ordered(df)
    users = df[S.USER_IDX].to_numpy()
    counts = np.bincount(users, minlength=n_users + 1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Ragged(indptr=indptr, items=df[S.ITEM_IDX].to_numpy().astype(np.int64))


class DatasetTensors:
    """The tensors one training run needs, built once per prepared dataset."""

    def __init__(self, ds: PreparedDataset):
        self.ds = ds
        inter = ds.interactions
        self.n_users = int(ds.users[S.USER_IDX].max())
        self.n_items = int(ds.items[S.ITEM_IDX].max())
        self.train_frame = inter.filter(pl.col(S.SPLIT) == S.TRAIN)
        self.train = ragged(self.train_frame, self.n_users)
        self._inter = inter
        self._cache: dict = {}
        self.history("test")  # built with the data, not inside a timed evaluation

    def split_names(self) -> list[str]:
        return sorted(self._inter[S.SPLIT].unique().to_list())

    def history(self, phase: str) -> Ragged:
        """Items a user is known to have had before ``phase``: train for valid, train + valid for tests."""
        if phase == S.VALID:
            return self.train
        if "history" not in self._cache:
            frame = self._inter.filter(pl.col(S.SPLIT).is_in([S.TRAIN, S.VALID]))
            self._cache["history"] = ragged(frame, self.n_users)
        return self._cache["history"]

    def targets(self, phase: str) -> tuple[np.ndarray, torch.Tensor]:
        """Users with at least one ``phase`` interaction and their target items ([U, P], padded with -1)."""
        if ("targets", phase) not in self._cache:
            self._cache[("targets", phase)] = self._targets(phase)
        return self._cache[("targets", phase)]

    def _targets(self, phase: str) -> tuple[np.ndarray, torch.Tensor]:
        frame = self._inter.filter(pl.col(S.SPLIT) == phase)
        if frame.is_empty():
            raise ValueError(f"{self.ds.name} has no '{phase}' interactions; splits: {self.split_names()}")
        grouped = (frame.group_by(S.USER_IDX).agg(pl.col(S.ITEM_IDX).unique(maintain_order=True))
                   .sort(S.USER_IDX))
        users = grouped[S.USER_IDX].to_numpy().astype(np.int64)
        lists = grouped[S.ITEM_IDX].to_list()
        width = max(len(x) for x in lists)
        out = np.full((len(lists), width), -1, dtype=np.int64)
        lengths = np.array([len(x) for x in lists])
        flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
        rows = np.repeat(np.arange(len(lists)), lengths)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = flat
        return users, torch.from_numpy(out)

    def item_popularity(self) -> np.ndarray:
        """Training interactions per item index (index 0 = padding, count 0)."""
        return np.bincount(self.train.items, minlength=self.n_items + 1)

    def train_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        users = np.repeat(np.arange(len(self.train.lengths)), self.train.lengths)
        return torch.from_numpy(users.astype(np.int64)), torch.from_numpy(self.train.items)

    def train_keys(self) -> torch.Tensor:
        """Sorted ``user * (n_items + 1) + item`` keys of training pairs, for vectorised membership tests."""
        users, items = self.train_pairs()
        return torch.unique(users * (self.n_items + 1) + items)


def chunked_sequences(r: Ragged, max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-sequence-per-user training windows covering every next-item target once.

    Each user's training sequence s gives inputs s[:-1] and targets s[1:]; these are cut from the
    end into windows of ``max_len`` (so the most recent window is full, like RecBole's truncation).
    Returns (inputs [W, L], targets [W, L], users [W]), left-aligned with 0 padding.
    """
    lengths = r.lengths
    n_targets = np.maximum(lengths - 1, 0)
    users = np.repeat(np.arange(len(lengths)), n_targets)
    # position of each target within its user's targets, and from the end
    starts = np.repeat(r.indptr[:-1], n_targets)
    offset = np.arange(len(users)) - np.repeat(np.cumsum(n_targets) - n_targets, n_targets)
    from_end = np.repeat(n_targets, n_targets) - 1 - offset
    window = from_end // max_len  # 0 = most recent
    n_windows = (n_targets + max_len - 1) // max_len
    window_base = np.concatenate([[0], np.cumsum(n_windows)])[:-1]
    wid = np.repeat(window_base, n_targets) + (np.repeat(n_windows, n_targets) - 1 - window)
    # within a window, targets are left-aligned: the oldest target of the window at column 0
    win_len = np.minimum(max_len, np.repeat(n_targets, n_targets) - window * max_len)
    col = (win_len - 1) - (from_end - window * max_len)
    total = int(n_windows.sum())
    inputs = np.zeros((total, max_len), dtype=np.int64)
    targets = np.zeros((total, max_len), dtype=np.int64)
    inputs[wid, col] = r.items[starts + offset]
    targets[wid, col] = r.items[starts + offset + 1]
    win_users = np.repeat(np.arange(len(lengths)), n_windows)
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(win_users)


def prefix_samples(r: Ragged, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RecBole's augmentation, as index arrays: for every target position t >= 1 of each user,
    (start offset of its history window in ``r.items``, history length, target item, user)."""
    lengths = r.lengths
    n_targets = np.maximum(lengths - 1, 0)
    base = np.repeat(r.indptr[:-1], n_targets)
    t = np.arange(len(base)) - np.repeat(np.cumsum(n_targets) - n_targets, n_targets) + 1
    hist_len = np.minimum(t, max_len)
    start = base + t - hist_len
    users = np.repeat(np.arange(len(lengths)), n_targets)
    return start, hist_len, r.items[base + t], users


def gather_windows(items: np.ndarray, start: np.ndarray, length: np.ndarray, max_len: int) -> torch.Tensor:
    """Rows ``items[start:start+length]``, left-aligned and zero-padded to ``max_len``."""
    col = np.arange(max_len)
    valid = col[None, :] < length[:, None]
    if len(items) == 0:
        return torch.zeros((len(start), max_len), dtype=torch.int64)
    idx = np.minimum(start[:, None] + col[None, :], len(items) - 1)
    return torch.from_numpy(np.where(valid, items[idx], 0).astype(np.int64))


class TrainingView(DatasetTensors):
    """A dataset's tensors whose *training* sequences are replaced (augmented, or one time period),
    while every evaluation input stays real: validation/test targets and histories come from the
    dataset alone."""

    def __init__(self, base: DatasetTensors, train: Ragged):
        self.__dict__.update(base.__dict__)
        self._cache = dict(base._cache)
        self.real_train, self.train = base.train, train

    def history(self, phase: str) -> Ragged:
        return self.real_train if phase == S.VALID else super().history(phase)


class AugmentedTensors(TrainingView):
    """Training sequences that hold extra items (an augmenter's); ``added``: how many."""

    def __init__(self, base: DatasetTensors, train: Ragged, added: int):
        super().__init__(base, train)
        self.added = added


def with_training_items(tensors: DatasetTensors, rows: pl.DataFrame) -> AugmentedTensors:
    """Insert ``rows`` (``user_idx, item_idx, after``: after that 0-based position of the user's training
    sequence) into the training sequences only."""
    r = tensors.train
    if rows.is_empty():
        return AugmentedTensors(tensors, r, 0)
    rows = rows.sort([S.USER_IDX, "after"], maintain_order=True)
    lengths = r.lengths.copy()
    users, items, after = (rows[c].to_numpy().astype(np.int64) for c in (S.USER_IDX, S.ITEM_IDX, "after"))
    if (after >= lengths[users]).any() or (after < 0).any():
        raise ValueError("augmented rows point past a user's training sequence ('after' out of range)")
    # old items keep their order; an inserted row sorts right after its anchor: key = 2 * position + 1
    old_users = np.repeat(np.arange(len(lengths)), lengths)
    old_pos = np.arange(len(r.items)) - np.repeat(r.indptr[:-1], lengths)
    keys_user = np.concatenate([old_users, users])
    keys_pos = np.concatenate([2 * old_pos, 2 * after + 1])
    all_items = np.concatenate([r.items, items])
    order = np.lexsort((np.arange(len(all_items)), keys_pos, keys_user))
    counts = np.bincount(keys_user, minlength=len(lengths))
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return AugmentedTensors(tensors, Ragged(indptr=indptr, items=all_items[order]), len(items))
