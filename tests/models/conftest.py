"""Fixtures shared by the model tests (session-scoped: built once per pytest worker)."""

import pytest


@pytest.fixture(scope="session")
def built():
    """ml-100k with HNLMRec's inputs (nearest-text hard negatives of every training pair) resolved once."""
    from recsys.data import prepare
    from recsys.data.tensors import DatasetTensors
    from recsys.llm.inputs import model_inputs
    from recsys.models.registry import get_model_spec

    ds = prepare("ml-100k", progress=False)
    tensors = DatasetTensors(ds)
    inputs, metas = model_inputs(get_model_spec("HNLMRec").needs, ds, tensors, {})
    return ds, tensors, inputs, metas


@pytest.fixture(scope="session")
def cdr(shared_data):
    """cdr-ml-genres: ml-latest-small split into two domains by genre group (the cross-domain model tests)."""
    from recsys.data import prepare

    return prepare("cdr-ml-genres", shared_data, progress=False)


@pytest.fixture(scope="session")
def tensors(cdr):
    from recsys.data.tensors import DatasetTensors

    return DatasetTensors(cdr)
