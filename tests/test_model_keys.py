"""`recsys models MODEL` lists every key a run of it accepts: each one is accepted by the config check,
and every trainer key has a meaning."""

import pytest

from recsys.cli import main
from recsys.train.config import TRAINER_KEYS
from recsys.train.keys import TRAINER_HELP, model_keys


def test_every_trainer_key_is_explained():
    assert set(TRAINER_HELP) == set(TRAINER_KEYS)


@pytest.mark.parametrize("model", ["SASRec", "H2Rec", "LightGCN"])
def test_listed_model_keys_are_the_accepted_ones(model, ml100k, capsys):
    from recsys.models.registry import get_model_spec
    from recsys.train.config import recbole_model_config

    listed = {k: v for k, v, _ in model_keys(model)}
    recbole_model_config(get_model_spec(model), ml100k, listed, 1)  # each listed key, at its default, is accepted
    keys = set(listed)
    assert keys and main(["models", model]) == 0
    text = capsys.readouterr().out
    for key in list(keys)[:5] + ["max_epochs", "max_minutes", "eval_every", "length_buckets"]:
        assert f"  {key} " in text


def test_several_unknown_keys_are_named_at_once(ml100k):
    from recsys.train.config import ConfigError
    from recsys.train.run import train_run

    with pytest.raises(ConfigError, match=r"'hiden_size'.*'n_layrs'.*recsys models SASRec"):
        train_run("SASRec", ml100k, {"hiden_size": 32, "n_layrs": 1})
