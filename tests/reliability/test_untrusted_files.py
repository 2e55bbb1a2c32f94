"""No file the toolkit reads can run code: malicious pickles where checkpoints and arrays are expected."""

import os
import pickle

import numpy as np
import pytest
import torch

from recsys.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class Payload:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_checkpoint_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "model"
    with open(ckpt.with_suffix(".pt"), "wb") as fh:
        pickle.dump({"weight": Payload(marker)}, fh)
    model = torch.nn.Linear(2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(model, ckpt)
    assert str(ckpt.with_suffix(".pt")) in str(info.value)
    assert not marker.exists()  # nothing ran
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched


def test_torch_save_of_a_malicious_object_is_refused_too(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "model"
    torch.save({"weight": Payload(marker)}, ckpt.with_suffix(".pt"))
    with pytest.raises(CheckpointError):
        load_checkpoint(torch.nn.Linear(2, 2), ckpt)
    assert not marker.exists()


def test_real_checkpoints_round_trip_and_garbage_is_named(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_checkpoint(model, tmp_path / "ok", {"model": "x"})
    other = torch.nn.Linear(3, 2)
    assert load_checkpoint(other, tmp_path / "ok") == {"model": "x"}
    assert torch.equal(other.weight, model.weight)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(other, tmp_path / "junk")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(other, tmp_path / "missing")


def test_an_artefact_array_with_pickled_objects_is_refused(tmp_path, ml100k):
    """LLM-side artefacts are .npy files read with allow_pickle=False: an object array never unpickles."""
    import json

    from recsys.llm.artefacts import artefact_dir
    from recsys.llm.inputs import _load_artefact

    marker = tmp_path / "pwned"
    base = artefact_dir(ml100k)
    base.mkdir(parents=True, exist_ok=True)
    np.save(base / "evil.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    (base / "evil.json").write_text(json.dumps({"artefact": "evil"}))
    try:
        with pytest.raises(ValueError, match="allow_pickle"):
            _load_artefact(ml100k, "evil")
    finally:
        (base / "evil.npy").unlink()
        (base / "evil.json").unlink()
    assert not marker.exists()
