"""The machine's matrix-product peaks in float32 and bfloat16, measured side by side in one process.

Training speed on a CPU depends on whether bfloat16 runs in hardware (AVX512-BF16, AMX) or is
emulated; these two numbers decide whether ``precision = "bf16"`` pays on the machine at hand.
Two shapes: a square product (the peak) and a catalogue logit product ([targets x d] @ [d x items],
the shape of a sequential model's softmax).
"""

from __future__ import annotations

import time

import torch

from recsys.train.precision import native_bf16

SHAPES = {"square 2048": (2048, 2048, 2048), "logits 8192x64x12101": (8192, 64, 12101)}


def _seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (kernel selection, allocation)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peaks(device: str = "cpu", repeats: int = 3) -> dict:
    """GFLOP/s of each shape in float32 and bfloat16 (best of ``repeats``), and their ratio."""
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    rows = []
    for name, (m, k, n) in SHAPES.items():
        a = torch.randn(m, k, generator=gen, device=dev)
        b = torch.randn(k, n, generator=gen, device=dev)
        flops = 2.0 * m * k * n
        row = {"shape": name}
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            x, y = a.to(dtype), b.to(dtype)
            row[f"{label}_gflops"] = flops / _seconds(lambda: x @ y, dev, repeats) / 1e9
        row["bf16_speedup"] = row["bf16_gflops"] / row["fp32_gflops"]
        rows.append(row)
    cpu = torch.backends.cpu.get_cpu_capability()
    return {"device": str(dev), "cpu_capability": cpu, "native_bf16": native_bf16(dev),
            "threads": torch.get_num_threads(), "shapes": rows}
