"""Merge methods on hand-made state dicts: each rule checked against a value computed by hand."""

from __future__ import annotations

import pytest
import torch

from recsys.merging.methods import (
    MergeError,
    check_compatible,
    dare,
    hi_merging,
    layer_groups,
    merge,
    opcm,
    recency_weights,
    task_arithmetic,
    ties,
    weighted,
)

T = torch.tensor


def states():
    base = {"item_embedding.weight": torch.zeros(4, 2), "enc.layer.0.dense.weight": torch.zeros(2, 2),
            "enc.layer.0.LayerNorm.weight": torch.ones(2), "position_ids": torch.arange(3)}
    a = {k: v.clone() for k, v in base.items()}
    b = {k: v.clone() for k, v in base.items()}
    a["item_embedding.weight"][1] = T([2.0, 2.0])  # item 1 seen only by model a
    a["item_embedding.weight"][3] = T([1.0, 1.0])
    b["item_embedding.weight"][2] = T([4.0, -4.0])  # item 2 seen only by model b
    b["item_embedding.weight"][3] = T([3.0, 3.0])  # item 3 seen by both
    a["enc.layer.0.dense.weight"] = T([[1.0, -2.0], [0.5, 0.0]])
    b["enc.layer.0.dense.weight"] = T([[3.0, 2.0], [-0.1, 0.0]])
    a["enc.layer.0.LayerNorm.weight"] = T([2.0, 1.0])
    b["enc.layer.0.LayerNorm.weight"] = T([0.0, 1.0])
    return base, a, b


def test_task_arithmetic_averages_and_does_not_dilute_rows_touched_by_one_model():
    base, a, b = states()
    m = task_arithmetic(base, [a, b])
    emb = m["item_embedding.weight"]
    assert torch.equal(emb[0], T([0.0, 0.0]))  # touched by nobody
    assert torch.equal(emb[1], T([2.0, 2.0]))  # a's update whole, not halved
    assert torch.equal(emb[2], T([4.0, -4.0]))
    assert torch.equal(emb[3], T([2.0, 2.0]))  # both: their mean
    assert torch.allclose(m["enc.layer.0.dense.weight"], T([[2.0, 0.0], [0.2, 0.0]]))
    assert torch.equal(m["position_ids"], base["position_ids"])
    m2 = task_arithmetic(base, [a, b], scale=1.0)  # lambda = 1: the sum; a one-model row keeps T x its share
    assert torch.allclose(m2["enc.layer.0.dense.weight"], T([[4.0, 0.0], [0.4, 0.0]]))
    assert torch.equal(m2["item_embedding.weight"][1], T([4.0, 4.0]))


def test_ties_trims_elects_a_sign_and_averages_the_agreeing_entries():
    base, a, b = states()
    m = ties(base, [a, b], density=0.5)
    # dense: a = [[1,-2],[.5,0]] keeps its top 2 by magnitude: [[1,-2],[0,0]]; b = [[3,2],[-.1,0]] -> [[3,2],[0,0]]
    # signs: entry (0,0): + (both agree: mean 2); entry (0,1): -2 + 2 = 0 -> sign 0: nothing agrees -> 0
    assert torch.allclose(m["enc.layer.0.dense.weight"], T([[2.0, 0.0], [0.0, 0.0]]))
    full = ties(base, [a, b], density=1.0)
    # (0,1): -2 + 2 = 0 -> no sign, 0; (1,0): 0.5 + (-0.1) > 0 -> only a agrees -> 0.5
    assert torch.allclose(full["enc.layer.0.dense.weight"], T([[2.0, 0.0], [0.5, 0.0]]))
    assert torch.allclose(full["item_embedding.weight"][1], T([2.0, 2.0]))  # one model's entry: not diluted


def test_dare_rescales_so_the_expected_update_is_kept():
    base = {"w": torch.zeros(200, 200)}
    model = {"w": torch.ones(200, 200)}
    m = dare(base, [model], drop=0.75, then="task_arithmetic", seed=3)["w"]
    kept = m != 0
    assert torch.allclose(m[kept], torch.full_like(m[kept], 4.0))  # 1 / (1 - 0.75)
    assert abs(kept.float().mean().item() - 0.25) < 0.01 and abs(m.mean().item() - 1.0) < 0.05
    again = dare(base, [model], drop=0.75, seed=3)["w"]
    assert torch.equal(m, again)  # seeded
    with pytest.raises(MergeError, match="drop must be in"):
        dare(base, [model], drop=1.0)


def test_opcm_projects_out_the_merged_directions_and_keeps_the_mean_norm():
    base = {"enc.w": torch.zeros(3, 3), "enc.bias": torch.zeros(3)}
    first = {"enc.w": torch.diag(T([3.0, 0.0, 0.0])), "enc.bias": T([1.0, 1.0, 1.0])}
    # the second change overlaps the first's direction (e1 e1^T) and adds a new one (e2 e2^T)
    second = {"enc.w": T([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), "enc.bias": T([3.0, 3.0, 3.0])}
    m = opcm(base, iter([first, second]), alpha=0.5)
    w = m["enc.w"]
    # projected second = e2 e2^T; sum = diag(3, 1, 0), rescaled to the mean norm (3 + sqrt 5) / 2
    target = (3 + 5 ** 0.5) / 2
    expected = torch.diag(T([3.0, 1.0, 0.0])) * (target / (10 ** 0.5))
    assert torch.allclose(w, expected, atol=1e-6)
    assert torch.allclose(m["enc.bias"], T([2.0, 2.0, 2.0]))  # not projected: the running mean
    with pytest.raises(MergeError, match="no model"):
        opcm(base, iter([]))


def test_weighted_merging_by_recency():
    base, a, b = states()
    assert recency_weights(3, 0.5) == [0.25, 0.5, 1.0]
    m = weighted(base, [a, b], [1.0, 3.0])
    assert torch.allclose(m["enc.layer.0.dense.weight"], 0.25 * a["enc.layer.0.dense.weight"]
                          + 0.75 * b["enc.layer.0.dense.weight"])
    assert torch.equal(m["item_embedding.weight"][1], T([2.0, 2.0]))  # only a touched it: a's update whole
    assert torch.allclose(m["item_embedding.weight"][3], T([2.5, 2.5]))  # 0.25 * 1 + 0.75 * 3
    with pytest.raises(MergeError, match="2 weights for 1 models"):
        weighted(base, [a], [1.0, 2.0])


def test_hi_merging_prunes_a_layer_change_that_hurts_while_another_helps():
    base = {"enc.layer.0.w": torch.zeros(2), "enc.layer.1.w": torch.zeros(2)}
    a = {"enc.layer.0.w": T([1.0, 0.0]), "enc.layer.1.w": T([1.0, 1.0])}
    b = {"enc.layer.0.w": T([0.0, -1.0]), "enc.layer.1.w": T([1.0, 1.0])}
    good = T([1.0, 1.0])

    def score(state):  # validation: closeness of layer 0 to (1, 1) and of layer 1 to (1, 1)
        return -float((state["enc.layer.0.w"] - good).norm() + (state["enc.layer.1.w"] - good).norm())

    merged, report = hi_merging(base, [a, b], score, density=1.0, scales=(1.0, 2.0))
    assert [(p["layer"], p["model"]) for p in report["pruned"]] == [("enc.layer.0", 1)]  # b's change there hurts
    assert report["pruned"][0]["effect"] < 0
    assert report["final"] > report["start"]
    assert torch.allclose(merged["enc.layer.1.w"], T([1.0, 1.0]))
    assert layer_groups(["a.layer.0.x", "a.layer.0.y", "a.layer.10.x", "emb.weight"]) == {
        "a.layer.0": ["a.layer.0.x", "a.layer.0.y"], "a.layer.10": ["a.layer.10.x"], "emb": ["emb.weight"]}


def test_incompatible_checkpoints_are_refused_with_the_offending_name():
    base, a, b = states()
    wide = dict(a, **{"item_embedding.weight": torch.zeros(5, 2)})
    with pytest.raises(MergeError, match=r"m2: item_embedding.weight is \(5, 2\).*item space"):
        check_compatible(base, [a, wide], ["m1", "m2"])
    with pytest.raises(MergeError, match="m1: parameters differ from the base: missing"):
        check_compatible(base, [{k: v for k, v in a.items() if k != "position_ids"}], ["m1"])
    with pytest.raises(MergeError, match="different item spaces"):
        check_compatible(base, [a], ["m1"], ["aaa", "bbb"])
    shifted = dict(a, position_ids=torch.arange(1, 4))
    with pytest.raises(MergeError, match="buffer position_ids differs"):
        check_compatible(base, [shifted], ["m1"])
    with pytest.raises(MergeError, match="unknown merge method 'soup'"):
        merge("soup", base, [a])
    with pytest.raises(MergeError, match="hi_merging needs validation data"):
        merge("hi_merging", base, [a])


def test_given_touched_rows_replace_the_changed_rows_rule():
    base, a, b = states()
    b["item_embedding.weight"][1] = T([-0.5, -0.5])  # b drifted item 1 (as a negative) without seeing it
    seen = [{"item_embedding.weight": T([False, True, False, True])},
            {"item_embedding.weight": T([False, False, True, True])}]
    for method in ("task_arithmetic", "weighted", "opcm"):
        m = merge(method, base, [a, b], touched=seen, weights=[1.0, 1.0])
        assert torch.allclose(m["item_embedding.weight"][1], T([2.0, 2.0])), method  # a's update, no drift
        assert torch.allclose(m["item_embedding.weight"][3], T([2.0, 2.0])), method
    plain = task_arithmetic(base, [a, b])  # without the masks b's drift counts as a touch
    assert torch.allclose(plain["item_embedding.weight"][1], T([0.75, 0.75]))
