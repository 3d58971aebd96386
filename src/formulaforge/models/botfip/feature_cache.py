"""On-disk cache of teacher token features, keyed by (teacher fingerprint, formula string).

Pre-training sees each skeleton's formula string once per constant set per epoch (the
paper: 50 sets x 100 epochs), but the frozen teacher's output for a string never
changes. So every distinct string runs through the teacher once, ever: features are
stored as float16 safetensors shards under ``ROOT/<fingerprint>/part-NNNNN.safetensors``
(tensor name = SHA-256 of the string, shape (tokens, D) with padding removed) and read
back on later epochs and runs. A new teacher (or truncation) has a new fingerprint and
therefore a separate folder. Shards are written atomically; readers ignore partial files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

ComputeFn = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TeacherFeatureCache:
    def __init__(self, root: str | Path | None, fingerprint: str, dtype: torch.dtype = torch.float16) -> None:
        self.fingerprint = fingerprint
        self.dir = Path(root) / fingerprint if root is not None else None
        self.dtype = dtype
        self._mem: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0
        if self.dir is not None and self.dir.is_dir():
            for shard in sorted(self.dir.glob("part-*.safetensors")):
                with safe_open(str(shard), framework="pt") as f:
                    for key in f.keys():
                        self._mem[key] = f.get_tensor(key)

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._mem

    def get(self, texts: Sequence[str], compute: ComputeFn, batch_size: int = 64) -> list[torch.Tensor]:
        """Token features (T_i, D) float32 for each text; misses are computed and stored once."""
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k in self._mem:
                self.hits += 1
            elif k not in missing:
                missing[k] = t
        if missing:
            self.misses += len(missing)
            new: dict[str, torch.Tensor] = {}
            items = list(missing.items())
            for i in range(0, len(items), batch_size):
                chunk = items[i:i + batch_size]
                hidden, mask = compute([t for _, t in chunk])
                for j, (k, _) in enumerate(chunk):
                    new[k] = hidden[j, : int(mask[j].sum())].to(self.dtype).contiguous()
            self._mem.update(new)
            self._write(new)
        return [self._mem[k].float() for k in keys]

    def _write(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.dir is None or not tensors:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        index = len(list(self.dir.glob("part-*.safetensors")))
        while (target := self.dir / f"part-{index:05d}.safetensors").exists():
            index += 1
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".safetensors")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"fingerprint": self.fingerprint})
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def pad_features(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, D) -> (B, T, D) zero-padded and the (B, T) bool mask."""
    t = max(f.shape[0] for f in features)
    d = features[0].shape[1]
    out = torch.zeros(len(features), t, d)
    mask = torch.zeros(len(features), t, dtype=torch.bool)
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = True
    return out, mask
