"""On-disk cache of teacher token features, keyed by (teacher fingerprint, formula string).

Pre-training sees each skeleton's formula string once per constant set per epoch (the
paper: 50 sets x 100 epochs), but the frozen teacher's output for a string never
changes. So every distinct string runs through the teacher once, ever: features are
stored as float16 safetensors shards under ``ROOT/<fingerprint>/part-NNNNN.safetensors``
(tensor name = SHA-256 of the string, shape (tokens, D) with padding removed) and read
back on later epochs and runs. A new teacher (or truncation) has a new fingerprint and
therefore a separate folder. Shards are written atomically; readers ignore partial files.

During training the lookup is on the hot path of every step, so :meth:`get_padded`
serves a batch from one in-memory table (all strings' states stacked and padded,
float16) with one ``index_select``, and remembers each string's row so a step hashes
nothing: no disk, no tokenizer, no per-sample Python loop.
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
        self._table: torch.Tensor | None = None  # (N, T_max, D) float16, rows padded with zeros
        self._lengths: torch.Tensor | None = None  # (N,) tokens per row
        self._row_of_key: dict[str, int] = {}
        self._row_of_text: dict[str, int] = {}
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
            self._table = None  # rebuilt on the next padded lookup
        return [self._mem[k].float() for k in keys]

    def get_padded(self, texts: Sequence[str], compute: ComputeFn, batch_size: int = 64
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """``pad_features(self.get(texts, compute))``, served from the stacked in-memory table."""
        rows = self._rows(texts)
        if rows is None:  # a string the table does not hold yet
            self.get(texts, compute, batch_size)  # computes and stores the misses
            self._build_table()
            rows = self._rows(texts)
            assert rows is not None
        else:
            self.hits += len(texts)
        idx = torch.tensor(rows, dtype=torch.long)
        lengths = self._lengths.index_select(0, idx)
        t = int(lengths.max()) if rows else 0
        hidden = self._table.index_select(0, idx)[:, :t].float()
        return hidden, torch.arange(t)[None, :] < lengths[:, None]

    def _rows(self, texts: Sequence[str]) -> list[int] | None:
        if self._table is None:
            return None
        out = []
        for text in texts:
            row = self._row_of_text.get(text)
            if row is None:
                row = self._row_of_key.get(text_key(text))
                if row is None:
                    return None
                self._row_of_text[text] = row
            out.append(row)
        return out

    def _build_table(self) -> None:
        """Stack every stored string's states into one zero-padded tensor; entries become views of it."""
        keys = list(self._mem)
        t_max = max((v.shape[0] for v in self._mem.values()), default=0)
        d = next(iter(self._mem.values())).shape[1] if self._mem else 0
        table = torch.zeros(len(keys), t_max, d, dtype=self.dtype)
        lengths = torch.zeros(len(keys), dtype=torch.long)
        for i, k in enumerate(keys):
            v = self._mem[k]
            table[i, : v.shape[0]] = v
            lengths[i] = v.shape[0]
            self._mem[k] = table[i, : v.shape[0]]  # one copy of the data in memory, not two
        self._table, self._lengths = table, lengths
        self._row_of_key = {k: i for i, k in enumerate(keys)}
        self._row_of_text = {}

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
