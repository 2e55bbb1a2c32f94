"""Group metrics: popularity buckets, head/tail, history length; and group rows in the leaderboard."""

import numpy as np
import pytest

from recsys.eval.groups import (
    GroupSpec,
    bucket_labels,
    group_summary,
    head_items,
    split_group_metric,
    user_groups,
)


def test_bucket_edges_follow_the_h2rec_buckets():
    labels = bucket_labels(np.array([0, 1, 9, 10, 29, 30, 59, 60, 99, 100, 5000]), (1, 10, 30, 60, 100), "pop")
    assert labels.tolist() == ["pop:0", "pop:1-9", "pop:1-9", "pop:10-29", "pop:10-29", "pop:30-59", "pop:30-59",
                               "pop:60-99", "pop:60-99", "pop:100+", "pop:100+"]


def test_head_is_the_top_share_of_items_by_training_count():
    popularity = np.array([0, 50, 1, 40, 2, 3, 0, 4, 5, 6, 7])  # 10 items (index 0 = padding)
    head = head_items(popularity, 0.2)
    assert np.flatnonzero(head).tolist() == [1, 3]
    assert not head[0]


def test_group_means_equal_the_per_user_means_within_each_group():
    rng = np.random.default_rng(0)
    users = np.arange(1, 201)
    targets = rng.integers(1, 11, size=(200, 1))
    popularity = np.array([0, 500, 200, 80, 45, 20, 12, 9, 3, 1, 0])
    lengths = np.concatenate([[0], rng.integers(1, 40, size=200)])
    groups = user_groups(users, targets, lengths, popularity, GroupSpec())
    ndcg = rng.random(200)
    summary = group_summary({"ndcg@10": ndcg}, groups, ("ndcg@10",))
    tail = groups["group_item"] == "item:tail"
    assert summary["ndcg@10|item:tail"] == pytest.approx(ndcg[tail].mean())
    assert summary["users|item:tail"] + summary["users|item:head"] == 200
    short = lengths[users] < 10
    assert summary["users|len:1-9"] == short.sum()
    assert summary["ndcg@10|len:1-9"] == pytest.approx(ndcg[short].mean())
    rare = popularity[targets[:, 0]] < 10
    rare_members = np.isin(groups["group_pop"], ["pop:0", "pop:1-9"])
    assert (rare == rare_members).all()


def test_several_targets_per_user_give_length_groups_only():
    groups = user_groups(np.array([1, 2]), np.array([[3, 4], [5, -1]]), np.array([0, 3, 30]), np.ones(6, int),
                         GroupSpec())
    assert set(groups) == {"group_len"}


def test_group_metric_names_round_trip():
    assert split_group_metric("ndcg@10|pop:1-9") == ("ndcg@10", "group_pop", "pop:1-9")
    assert split_group_metric("ndcg@10|item:tail") == ("ndcg@10", "group_item", "item:tail")
    assert split_group_metric("ndcg@10") == ("ndcg@10", None, None)


def test_evaluator_and_leaderboard_report_groups(ml100k, tmp_path):
    from recsys.bench.records import record_for
    from recsys.bench.store import ResultsStore
    from recsys.report.leaderboard import leaderboard
    from recsys.train.run import train_run

    store = ResultsStore(tmp_path)
    for model in ("MostPop", "ItemKNN"):
        result = train_run(model, ml100k, {"progress": False}, seed=1)
        summary = result.test["test"].summary
        head, tail = summary["users|item:head"], summary["users|item:tail"]
        assert head + tail == len(result.test["test"].users)
        # popularity ranking only ever finds head items
        if model == "MostPop":
            assert summary["hit@10|item:tail"] == 0.0 and summary["hit@10|item:head"] > 0.1
        record, per_user = record_for(result, ml100k, f"{model}-1", "h")
        record["suite"] = "groups"
        store.save(record, per_user)
    board = leaderboard(store, "groups", "MostPop", ("ndcg@10", "ndcg@10|item:tail", "ndcg@10|item:head"))
    knn_tail = board.filter((board["model"] == "ItemKNN") & (board["metric"] == "ndcg@10|item:tail"))
    assert knn_tail["mean"][0] > 0.0 and knn_tail["p_value"][0] < 0.05  # tail gains over MostPop are testable
