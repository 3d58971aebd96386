"""Where the Botfip-LLM student runs: ``--device auto|cpu|cuda[:N]``, bf16 autocast, pinned copies.

``auto`` is CUDA when torch sees a GPU, else the CPU. Under ``torchrun`` a bare ``cuda``
(or ``auto``) means this process's own GPU, ``cuda:$LOCAL_RANK``, so every rank holds its
student and its gradients on its own device (what NCCL needs). Mixed precision is bf16
autocast on CUDA only (CPU autocast is slower than float32 for these small models).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` -> a ``torch.device``; ``ValueError`` when it is not there."""
    if isinstance(name, torch.device):
        name = str(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r} (auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device (use --device cpu or auto)")
    if name == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
        return torch.device("cuda", index if index is not None else torch.cuda.current_device())
    dev = torch.device(name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return dev


def autocast(device: torch.device, bf16: bool = True) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when ``bf16``; a no-op context on the CPU."""
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy; on CUDA through pinned memory so the copy overlaps compute."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def pins_memory(device: torch.device) -> bool:
    """Whether :func:`to_device` pins host tensors for this device (the CPU needs no copy)."""
    return device.type == "cuda"
