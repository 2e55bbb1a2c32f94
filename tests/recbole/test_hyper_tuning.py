"""RecBole's ``HyperTuning`` under recsys with the ``[tune]`` extra (hyperopt >= 0.2.7): the exhaustive
search visits every point of the grid once and picks the best by validation, and a parameter file
is read as literals, never evaluated."""

from __future__ import annotations

import pytest

import recsys  # noqa: F401  (the patches)

pytest.importorskip("hyperopt", reason="install the [tune] extra: pip install -e '.[tune]'")


def _toy_objective(seen):
    def objective(config_dict, config_file_list):
        seen.append(dict(config_dict))
        score = 1 - abs(config_dict["learning_rate"] - 0.01) - abs(config_dict["embedding_size"] - 16) / 100
        return {"model": "toy", "best_valid_score": score, "valid_score_bigger": True,
                "best_valid_result": {"score": score}, "test_result": {"score": score}}
    return objective


def test_exhaustive_search_visits_the_whole_grid_once(tmp_path):
    from recbole.trainer.hyper_tuning import HyperTuning

    space = tmp_path / "space.hyper"
    space.write_text("learning_rate choice [0.01,0.001]\nembedding_size choice [16,32]\n")
    seen: list[dict] = []
    tuner = HyperTuning(_toy_objective(seen), params_file=str(space), algo="exhaustive")
    tuner.run()
    grid = {(s["learning_rate"], s["embedding_size"]) for s in seen}
    assert len(seen) == 4 and grid == {(0.01, 16), (0.01, 32), (0.001, 16), (0.001, 32)}
    assert tuner.best_params == {"learning_rate": 0.01, "embedding_size": 16}


def test_random_search_is_seeded_by_hyperopt(tmp_path, monkeypatch):
    from recbole.trainer.hyper_tuning import HyperTuning

    monkeypatch.setenv("HYPEROPT_FMIN_SEED", "7")
    space = tmp_path / "space.hyper"
    space.write_text("learning_rate loguniform -8,0\n")
    runs = []
    for _ in range(2):
        seen: list[dict] = []
        HyperTuning(_toy_objective_lr(seen), params_file=str(space), algo="random", max_evals=3).run()
        runs.append([s["learning_rate"] for s in seen])
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def _toy_objective_lr(seen):
    def objective(config_dict, config_file_list):
        seen.append(dict(config_dict))
        return {"model": "toy", "best_valid_score": 1.0, "valid_score_bigger": True,
                "best_valid_result": {}, "test_result": {}}
    return objective


def test_a_parameter_file_is_never_evaluated(tmp_path):
    from recbole.trainer.hyper_tuning import HyperTuning

    marker = tmp_path / "ran"
    space = tmp_path / "space.hyper"
    space.write_text(f"learning_rate choice __import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(Exception):
        HyperTuning(_toy_objective([]), params_file=str(space), algo="exhaustive")
    assert not marker.exists()
