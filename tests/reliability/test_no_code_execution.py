"""No string from a user-facing input is ever run as Python, and no credential follows a redirect.

RecBole evaluates configuration strings with ``eval()``; ``recsys.recbole.compat`` replaces that ``eval``
inside RecBole's modules with a literal-only reader. These tests make the builtin ``eval`` raise
for the whole test, so any path that still reaches it fails loudly, and they plant a command that
would create a marker file if it ever ran.
"""

from __future__ import annotations

import builtins
import http.server
import sys
import threading

import pytest

from recsys.cli import main
from tests.conftest import write


@pytest.fixture
def no_eval(monkeypatch):
    calls = []
    real = builtins.eval

    def refuse(source, *args, **kwargs):
        calls.append(source)
        raise AssertionError(f"eval() reached with {source!r}")

    monkeypatch.setattr(builtins, "eval", refuse)
    yield calls
    monkeypatch.setattr(builtins, "eval", real)


def payload(marker) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def test_train_set_value_is_never_evaluated(tmp_path, capsys, no_eval):
    marker = tmp_path / "PWNED"
    code = main(["train", "--model", "BPR", "--dataset", "ml-100k", "--results", str(tmp_path / "r"),
                 "--set", "epochs=1", "--set", f'y="{payload(marker)}"'])
    err = capsys.readouterr().err
    assert code == 2 and "unknown config key 'y'" in err, err
    assert not marker.exists() and not no_eval


def test_suite_value_is_never_evaluated(tmp_path, capsys, no_eval):
    marker = tmp_path / "PWNED"
    suite = write(tmp_path / "s.toml", f'name = "pwn"\ndatasets = ["ml-100k"]\nseeds = [1]\n[models.BPR]\n'
                                       f'epochs = 1\npwn = "{payload(marker)}"\n')
    code = main(["bench", "--suite", str(suite), "--results", str(tmp_path / "r"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and "unknown config key 'pwn'" in captured.out, captured
    assert not marker.exists() and not no_eval


def test_known_keys_with_code_reach_recbole_as_plain_strings(tmp_path, ml100k, no_eval):
    """A known key's value passes the key check; RecBole's own Config must keep it a string."""
    from recsys.recbole.bridge import recbole_config

    marker = tmp_path / "PWNED"
    config = recbole_config("BPR", ml100k, {"learner": payload(marker), "embedding_size": 16})
    assert config["learner"] == payload(marker) and config["embedding_size"] == 16
    assert not marker.exists() and not no_eval


def test_via_recbole_refuses_unknown_keys_before_recbole(tmp_path, capsys, no_eval):
    marker = tmp_path / "PWNED"
    code = main(["train", "--model", "BPR", "--dataset", "ml-100k", "--via", "recbole", "--set", "epochs=1",
                 "--set", f'z="{payload(marker)}"'])
    err = capsys.readouterr().err
    assert code == 2 and "unknown config key 'z'" in err, err
    assert not marker.exists() and not no_eval


def test_recbole_config_and_command_line_read_literals_only(tmp_path, monkeypatch, no_eval):
    """RecBole's own API, used directly (as RecBole's Trainer tests do): literals typed, code kept as text."""
    from recbole.config import Config

    marker = tmp_path / "PWNED"
    monkeypatch.setattr(sys, "argv", ["prog", f"--learner={payload(marker)}", "--embedding_size=[32]"])
    config = Config(model="BPR", dataset="ml-100k",
                    config_dict={"hidden": "[64, 64]", "flag": "true", "lr": "1e-3", "name": "inter",
                                 "code": payload(marker), "power": "2**10"})
    assert config["hidden"] == [64, 64] and config["flag"] is True and config["lr"] == 0.001
    assert config["name"] == "inter" and config["code"] == payload(marker) and config["power"] == "2**10"
    assert config["learner"] == payload(marker) and config["embedding_size"] == [32]
    assert not marker.exists() and not no_eval


def test_recbole_modules_that_eval_are_patched():
    import recbole.config.configurator as configurator
    import recbole.trainer.hyper_tuning as hyper_tuning
    from recbole.model.context_aware_recommender import kd_dagfm

    from recsys.recbole.compat import literal_only

    assert configurator.eval is literal_only and hyper_tuning.eval is literal_only
    assert kd_dagfm.eval("CrossNet") is kd_dagfm.CrossNet
    with pytest.raises(ValueError, match="teacher"):
        kd_dagfm.eval("__import__('os')")
    with pytest.raises(ValueError, match="teacher"):
        kd_dagfm.eval("torch")  # a module global that is not a class of the module
    assert literal_only("[0.01, 0.005]") == [0.01, 0.005]
    with pytest.raises(NameError):
        literal_only("open('/etc/passwd').read()")


# ---- HTTP: credentials and redirects ---------------------------------------------------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list = []
    location = ""

    def log_message(self, *args):
        pass

    def do_POST(self):
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if type(self).location:
            self.send_response(302)
            self.send_header("Location", type(self).location)
            self.end_headers()
            return
        body = b'{"choices": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST


def _serve(handler):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_api_key_never_follows_a_redirect_to_another_origin():
    from recsys.io.net import RedirectRefused
    from recsys.llm.http import post_json

    other = _serve(type("Other", (_Recorder,), {"seen": [], "location": ""}))
    first = _serve(type("First", (_Recorder,), {"seen": [],
                                                "location": f"http://localhost:{other.server_address[1]}/steal"}))
    try:
        with pytest.raises(RedirectRefused, match="another origin"):
            post_json(f"http://127.0.0.1:{first.server_address[1]}/v1/chat", {"x": 1}, api_key="sk-secret",
                      max_retries=0)
        assert first.RequestHandlerClass.seen == [("/v1/chat", "Bearer sk-secret")]
        assert other.RequestHandlerClass.seen == []  # the key never reached the other host
    finally:
        for s in (first, other):
            s.shutdown()
            s.server_close()


def test_downloads_refuse_redirects_off_https(tmp_path):
    from recsys.data.download import fetch
    from recsys.errors import DataError

    server = _serve(type("Redirect", (_Recorder,), {"seen": [], "location": "http://example.org/x.csv"}))
    try:
        with pytest.raises(DataError, match="https only"):
            fetch(f"http://127.0.0.1:{server.server_address[1]}/x.csv", tmp_path / "dl" / "x.csv", None,
                  progress=False)
        with pytest.raises(DataError, match="https only"):
            fetch("file:///etc/passwd", tmp_path / "dl" / "p", None, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "dl").exists() or not list((tmp_path / "dl").iterdir())  # no partial file
