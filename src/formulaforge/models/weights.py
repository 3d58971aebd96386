"""Read a safetensors file we did not necessarily write, with one clear error for bad files.

``safetensors.load_file`` raises a bare ``SafetensorError`` (a traceback in the CLI) for a
truncated, empty or garbled file, and happily returns NaN weights, which then generate
empty text with exit status 0. Here the header is checked against the file size first, any
library error becomes :class:`WeightsError` naming the file, and floating tensors must be
finite (the error names the first tensor that is not).
"""

from __future__ import annotations

import struct
from pathlib import Path

import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit on the JSON header


class WeightsError(ValueError):
    """A weights file that cannot be used (corrupt, truncated, non-finite values)."""


def check_header(path: Path) -> None:
    """The 8-byte header length must be sane and fit in the file (no reading of the rest)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror or exc})") from None
    if len(head) < 8:
        raise WeightsError(f"{path}: not a safetensors file ({size} bytes: empty or truncated)")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise WeightsError(f"{path}: corrupt safetensors header (claims {n} bytes of a {size}-byte file)")


def load_safetensors(path: str | Path, *, device: str = "cpu", finite: bool = True) -> dict[str, torch.Tensor]:
    """Tensors of ``path``; :class:`WeightsError` for a bad file or (``finite``) a NaN/Inf value."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    check_header(path)
    try:
        tensors = load_file(str(path), device=device)
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends: all mean "bad file"
        raise WeightsError(f"{path}: corrupt safetensors file ({str(exc).splitlines()[0][:200]})") from None
    if finite:
        for name, t in tensors.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad = "NaN" if bool(torch.isnan(t).any()) else "infinite"
                raise WeightsError(f"{path}: tensor {name} holds {bad} values; refusing to use these weights")
    return tensors
