import numpy as np
import polars as pl

from recsys.data.tensors import (
    DatasetTensors,
    Ragged,
    chunked_sequences,
    gather_windows,
    prefix_samples,
)


def toy_ragged():
    # user 1: 1 2 3 4 5 6 7, user 2: 8 9, user 3: 10
    items = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    return Ragged(indptr=np.array([0, 0, 7, 9, 10]), items=items)


def test_chunked_sequences_cover_every_target_once_with_causal_inputs():
    inputs, targets, users = chunked_sequences(toy_ragged(), max_len=4)
    # user 1 has 6 targets -> windows [2 targets] + [4 targets] (most recent window full); user 2 one window
    assert users.tolist() == [1, 1, 2]
    assert targets.tolist() == [[2, 3, 0, 0], [4, 5, 6, 7], [9, 0, 0, 0]]
    assert inputs.tolist() == [[1, 2, 0, 0], [3, 4, 5, 6], [8, 0, 0, 0]]
    # each input is the item right before its target
    mask = targets > 0
    pairs = sorted(zip(inputs[mask].tolist(), targets[mask].tolist()))
    assert pairs == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (8, 9)]


def test_prefix_samples_match_recbole_augmentation():
    r = toy_ragged()
    start, length, target, users = prefix_samples(r, max_len=3)
    windows = gather_windows(r.items, start, length, 3)
    got = [(w[: n].tolist(), t) for w, n, t in zip(windows, length, target)]
    assert got[:4] == [([1], 2), ([1, 2], 3), ([1, 2, 3], 4), ([2, 3, 4], 5)]
    assert ([8], 9) in got and len(got) == 7
    assert users.tolist() == [1] * 6 + [2]


def test_window_takes_the_latest_items():
    seq, lengths = toy_ragged().window(np.array([1, 3]), 3)
    assert seq.tolist() == [[5, 6, 7], [10, 0, 0]] and lengths.tolist() == [3, 1]


def test_training_inputs_come_from_train_only(ml100k):
    """No validation or test interaction appears in any training input or target."""
    t = DatasetTensors(ml100k)
    inputs, targets, users = chunked_sequences(t.train, 50)
    inter = ml100k.interactions
    held_out = inter.filter(pl.col("split") != "train").select("user_idx", "item_idx")
    held = set(map(tuple, held_out.to_numpy().tolist()))
    u = users.unsqueeze(1).expand_as(inputs)
    for tensor in (inputs, targets):
        m = tensor > 0
        used = set(zip(u[m].tolist(), tensor[m].tolist()))
        assert not used & held  # ml-100k has no repeated (user, item) pairs, so any overlap is a leak
    n_train = int((inter["split"] == "train").sum())
    assert int((targets > 0).sum()) == n_train - 943  # every training target except each user's first item


def test_targets_and_histories(ml100k):
    t = DatasetTensors(ml100k)
    users, pos = t.targets("test")
    assert len(users) == 943 and pos.shape == (943, 1)
    hist = t.history("test")
    valid_users, valid_pos = t.targets("valid")
    # the test history of each user ends with its validation item
    last = hist.items[hist.indptr[valid_users + 1] - 1]
    assert (last == valid_pos[:, 0].numpy()).all()
    assert t.item_popularity().sum() == len(t.train.items)
