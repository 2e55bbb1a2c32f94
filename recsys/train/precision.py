"""Mixed precision for training: ``precision = "fp32" | "bf16"``.

``bf16`` runs each training step's forward pass under ``torch.autocast`` (CPU or CUDA): matrix
products in bfloat16, the weights, the optimiser state and the loss (reduced in float32) in float32.
Evaluation always scores in float32: bfloat16 keeps 8 significant bits, so two items whose scores
differ by less than about 0.4% would tie, and ties move ranks (``tie_policy``); a test shows the
rankings change when scoring is done in bfloat16, and that a bf16-trained model is evaluated in
float32.

bfloat16 is fast only where the hardware has it (AVX512-BF16 or AMX on x86 CPUs, tensor cores on
GPUs); elsewhere it is emulated and slower than float32. ``recsys perf matmul`` measures both on
the machine at hand, and asking for bf16 on a CPU without native support warns.
"""

from __future__ import annotations

import functools
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether bfloat16 matrix products run in hardware on ``device`` (else they are emulated)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    flags = _cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def check_precision(precision: str, device: torch.device | str = "cpu") -> None:
    """Unknown values are errors; bf16 without hardware support trains, slowly, with a warning."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and not native_bf16(device):
        where = (f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no avx512_bf16/amx_bf16"
                 if torch.device(device).type == "cpu" else "this GPU does not support bfloat16")
        warnings.warn(f"precision = bf16: {where}, so bf16 is emulated and slower than fp32 here; "
                      "`recsys perf matmul` shows both", RuntimeWarning, stacklevel=2)


def autocast(precision: str, device: torch.device | str = "cpu"):
    """The context a training step's forward pass runs in."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_DTYPES[precision])


def with_precision(run, precision: str, device: torch.device | str = "cpu"):
    """Wrap an objective's ``run(compute)``: the forward pass under autocast, the loss in float32."""
    if precision == "fp32":
        return run

    def run_mixed(compute):
        with autocast(precision, device):
            loss = run(compute)
        return loss.float()

    return run_mixed


def describe(precision: str, device: torch.device | str = "cpu") -> dict:
    """What provenance records about a run's precision."""
    return {"precision": precision, "native_bf16": native_bf16(device),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
