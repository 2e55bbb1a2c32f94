"""Suites with TTA4SR entries: they reuse the backbone entry's weights and are resumable."""

import pytest

from recsys.bench.run_types import checkpoint_path
from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import load_suite
from recsys.errors import RecipeError
from tests.conftest import write

SUITE = """
name = "tta-mini"
datasets = ["ml-100k"]
seeds = [1]
baseline = "SASRec"

[defaults]
epochs = 1
MAX_ITEM_LIST_LENGTH = 20

[models.SASRec]
hidden_size = 32
inner_size = 64
n_layers = 1
n_heads = 1

[models."TTA4SR(SASRec, TMask-R)"]
model = "TTA4SR"
backbone = "SASRec"
operator = "TMask-R"
tta_copies = 3

[models."SASRec (other seeds only)"]
model = "SASRec"
seeds = [2]
"""


def test_tta_entry_augments_the_backbone_cell_and_resumes(tmp_path):
    suite = load_suite(write(tmp_path / "s.toml", SUITE))
    store = ResultsStore(tmp_path / "store")
    lines = []
    records = run_suite(suite, store, progress=False, echo=lines.append)
    by_model = {r["model"]: r for r in records}
    assert set(by_model) == {"SASRec", "TTA4SR(SASRec, TMask-R)"}  # the seeds-limited entry ran nowhere
    tta = by_model["TTA4SR(SASRec, TMask-R)"]
    assert tta["config"]["backbone"] == "SASRec" and tta["config"]["tta_copies"] == 3
    assert tta["config"]["backbone_config"]["hidden_size"] == 32
    assert tta["fit"]["inference"]["test"]["backbone_ndcg@10"] == pytest.approx(
        by_model["SASRec"]["test"]["test"]["ndcg@10"])
    assert checkpoint_path(by_model["SASRec"]["run_id"]).with_suffix(".pt").is_file()
    assert "group_item" in store.per_user(tta["run_id"]).columns
    again = []
    run_suite(suite, store, progress=False, echo=again.append)
    assert sum("done earlier, skipped" in line for line in again) == 2


def test_tta_entry_naming_an_unknown_backbone_is_refused(tmp_path):
    text = SUITE.replace('backbone = "SASRec"', 'backbone = "SASRek"')
    suite = load_suite(write(tmp_path / "s.toml", text))
    with pytest.raises(RecipeError, match="SASRek"):
        run_suite(suite, ResultsStore(tmp_path / "store"), progress=False, echo=lambda s: None)


def test_run_ids_are_safe_for_files_and_lists():
    from recsys.bench.store import run_id

    rid = run_id("TTA4SR(SASRec, TMask-R)", "f" * 64, "c" * 16, 1)
    assert rid.startswith("TTA4SR_SASRec_TMask-R-s1-") and "," not in rid and " " not in rid
    assert rid != run_id("TTA4SR(SASRec; TMask-R)", "f" * 64, "c" * 16, 1)  # the digest keeps names apart
    assert run_id("SASRec", "f" * 64, "c" * 16, 1).startswith("SASRec-s1-")
