import pytest

from recsys.cli import main
from recsys.llm.backends import make_generator
from recsys.llm.generators import GeneratorError, TransformersGenerator


def test_embed_status_and_fallback_label(capsys):
    assert main(["llm", "embed", "ml-100k", "--encoder", "tfidf"]) == 0
    out = capsys.readouterr().out
    assert "1,682 of 1,682 items embedded with tfidf-svd" in out and "[non-neural fallback]" in out
    assert main(["llm", "status", "ml-100k"]) == 0
    assert "tfidf-svd (non-LLM fallback)" in capsys.readouterr().out


def test_profile_with_the_keyword_fallback(capsys):
    assert main(["llm", "profile", "ml-100k", "--generator", "keywords", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 user profiles from keywords-tfidf" in out and "[non-LLM fallback]" in out


def test_generator_errors_are_clear(tmp_path, capsys):
    with pytest.raises(GeneratorError, match="not a transformers model directory"):
        TransformersGenerator(tmp_path)
    with pytest.raises(GeneratorError, match="needs --base-url"):
        make_generator("openai", base_url="", model="m")
    assert main(["llm", "profile", "ml-100k", "--generator", "gpt"]) == 2
    assert "unknown generator 'gpt'" in capsys.readouterr().err
