"""Trivial baselines for a Botfip-LLM evaluation, scored on the same samples as the model.

A model that does not beat these has not learned the task (issue 20: the tiny model's S_RL
equalled the constant-medoid baseline's). All of them only read the fine-tuning set, as the
model did:

* ``most_frequent``: the OTS that occurs most often among the fine-tuning samples;
* ``medoid``: the fine-tuning skeleton with the highest mean S_RL against all fine-tuning
  samples (the best constant answer under the metric; candidates capped for speed);
* ``nearest_neighbour``: the OTS of the closest fine-tuning function image (L2 over the
  normalized pixels; at most ``max_images`` of them, drawn at random) or, for the formula
  task, of the closest formula string (Levenshtein);
* ``linear`` (symbolic-regression comparison only): least squares ``a + b x0 + c x1`` on the points.

Written here because no library offers these for OTS data; the distances come from torch
(``cdist``) and rapidfuzz.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import sympy as sp
import torch
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from formulaforge.datasets.optrees.dataset import OptreeDataset
from formulaforge.datasets.optrees.metrics import relative_similarity


def _ots_and_formulas(ds: OptreeDataset, indices: np.ndarray) -> tuple[list[tuple[int, ...]], list[str]]:
    """OTS and formula string of each sample, read from the shards' token arrays (no images loaded)."""
    shard_of = np.searchsorted(ds._starts, indices, side="right") - 1
    ots: list[tuple[int, ...]] = [()] * indices.size
    formulas: list[str] = [""] * indices.size
    for s in np.unique(shard_of):
        arrays, rows = ds._shard(int(s))
        for w in np.flatnonzero(shard_of == s):
            j = int(indices[w] - ds._starts[s])
            ots[w] = tuple(int(t) for t in arrays["ots"][j][: int(arrays["ots_length"][j])])
            formulas[w] = rows[j]["formula"]
    return ots, formulas


class SkeletonBaselines:
    """Constant answers and nearest-neighbour retrieval from one fine-tuning set."""

    def __init__(self, ds: OptreeDataset, indices: np.ndarray, *, norm: str = "target",
                 max_candidates: int = 400, max_images: int = 10000, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.ds = ds
        self.indices = indices
        self.ots, self.formulas = _ots_and_formulas(ds, indices)
        counts = Counter(self.ots)
        self.most_frequent = list(max(counts, key=lambda o: (counts[o], o)))
        distinct = sorted(counts)
        cands = distinct if len(distinct) <= max_candidates else [
            distinct[i] for i in rng.choice(len(distinct), max_candidates, replace=False)]
        total = sum(counts.values())

        def mean_score(c: tuple[int, ...]) -> float:
            return sum(n * relative_similarity(c, o, norm) for o, n in counts.items()) / total

        self.medoid = list(max(cands, key=lambda c: (mean_score(c), c)))
        self.medoid_train_s_rl = mean_score(tuple(self.medoid))
        keep = indices if indices.size <= max_images else np.sort(rng.choice(indices, max_images, replace=False))
        self._nn_pos = np.searchsorted(indices, keep)
        self._images: torch.Tensor | None = None
        self._keep = keep

    def _image_bank(self) -> torch.Tensor:
        """The retrieval images, flattened, in float16 (10,000 paper-size images: 246 MB)."""
        if self._images is None:
            parts = [torch.from_numpy(self.ds.batch(self._keep[i:i + 512].tolist()).images).half().flatten(1)
                     for i in range(0, self._keep.size, 512)]
            self._images = torch.cat(parts)
        return self._images

    def nearest_images(self, images: torch.Tensor, chunk: int = 2048) -> list[list[int]]:
        """OTS of the closest fine-tuning image (L2 over normalized pixels) for each image."""
        bank = self._image_bank()
        out: list[list[int]] = []
        for i in range(0, images.shape[0], 256):
            q = images[i:i + 256].float().flatten(1)
            best = torch.full((q.shape[0],), float("inf"))
            arg = torch.zeros(q.shape[0], dtype=torch.long)
            for k in range(0, bank.shape[0], chunk):
                d, j = torch.cdist(q, bank[k:k + chunk].float()).min(1)
                better = d < best
                best, arg = torch.where(better, d, best), torch.where(better, j + k, arg)
            out += [list(self.ots[self._nn_pos[int(j)]]) for j in arg]
        return out

    def nearest_formulas(self, formulas: list[str]) -> list[list[int]]:
        """OTS of the closest fine-tuning formula string (Levenshtein) for each string."""
        choices = list(dict.fromkeys(self.formulas))
        first = {f: self.ots[i] for i, f in reversed(list(enumerate(self.formulas)))}
        out = []
        for f in formulas:
            best = process.extractOne(f, choices, scorer=Levenshtein.distance)
            out.append(list(first[best[0]]))
        return out


def linear_fit(xs: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, sp.Expr]:
    """Least squares ``a + b*x0 + c*x1``: (predictions, the fitted expression)."""
    design = np.column_stack([np.ones_like(y)] + list(xs))
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    x = [sp.Symbol(f"x{i}", real=True) for i in range(len(xs))]
    expr = sp.Float(float(coef[0])) + sum(sp.Float(float(c)) * v for c, v in zip(coef[1:], x, strict=True))
    return design @ coef, expr
