"""Which arithmetic the training runs in: fp32, bf16 autocast, or fp16 autocast with a gradient scaler.

On a GPU, auto = bf16 when the device supports it (no scaler needed: bf16 has fp32's exponent
range), else fp16 with torch.amp.GradScaler (a skipped step when the scaled gradients overflow).
On a CPU, bf16 autocast only pays where the CPU has native bf16 arithmetic (the avx512_bf16 or
amx_bf16 flags); elsewhere it is emulated and can be many times slower than fp32, so auto = fp32
there. fp16 on a CPU is refused (no scaler path, no speed-up).
"""

from __future__ import annotations

from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose(requested: str, device: str, flags: set, cuda_bf16: bool = False) -> tuple[str, str]:
    """(precision, why) — pure. requested: auto | fp32 | bf16 | fp16; device: cpu or cuda[:i].

    Raises ValueError for fp16 on a CPU.
    """
    on_gpu = device.startswith("cuda")
    native = sorted(set(NATIVE_BF16_FLAGS) & set(flags))
    if requested == "fp16" and not on_gpu:
        raise ValueError(
            "ddp.precision=fp16 needs a GPU (CPU autocast has no fp16 speed-up); use bf16 or fp32"
        )
    if requested != "auto":
        why = "as configured"
        if requested == "bf16" and not on_gpu and not native:
            why = "as configured; this CPU has no native bf16 (expect it to be slower than fp32)"
        return requested, why
    if on_gpu:
        return (
            ("bf16", "auto: the GPU supports bf16")
            if cuda_bf16
            else ("fp16", "auto: the GPU has no bf16; fp16 with a gradient scaler")
        )
    if native:
        return "bf16", f"auto: the CPU has native bf16 ({', '.join(native)})"
    return "fp32", "auto: the CPU has no native bf16 (avx512_bf16 / amx_bf16)"
