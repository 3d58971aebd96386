"""Inference: function images or formula strings -> OTS (grammar-constrained) -> tree -> fitted formula.

The decoder is masked by issue 7's incremental OTS grammar, so every prediction rebuilds
into an operation tree; its constants are then fitted with L-BFGS to the data (the image
pixels, de-normalized with the kept scale factors, or user points). The result carries
the formula as a sympy string and LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from formulaforge.datasets.optrees.grammar import OTSGrammarState
from formulaforge.datasets.optrees.images import DEFAULT_GRID, GridSpec, denormalize
from formulaforge.datasets.optrees.ots import OTSDecodeError, decode
from formulaforge.models.botfip.checkpoint import load_model
from formulaforge.models.botfip.decoding import generate, generate_top_k
from formulaforge.models.botfip.device import autocast
from formulaforge.models.botfip.model import BotfipLLM

TASK_INPUTS = {"funcimg": "function images / points", "formula": "formula strings"}


@dataclass
class Prediction:
    ots: list[int]
    valid: bool
    formula: str | None = None
    """Skeleton with C_i placeholders."""
    fitted: str | None = None
    """Formula with the fitted constants."""
    latex: str | None = None
    constants: list[float] = field(default_factory=list)
    mse: float | None = None
    r2: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class BotfipPredictor:
    """Decoding and fitting for one run. ``task`` (from the run) says which input it was fine-tuned on:
    ``funcimg`` (images, points), ``formula`` (formula strings) or ``None`` (accept both, e.g. in tests)."""

    def __init__(self, model: BotfipLLM, *, beam_size: int = 1, constrained: bool = True,
                 grid: GridSpec = DEFAULT_GRID, task: str | None = None) -> None:
        self.model = model.eval()
        self.cfg = model.cfg
        self.beam_size = beam_size
        self.constrained = constrained
        self.grid = grid
        self.task = task
        self.device = next(model.parameters()).device

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto", **kwargs: Any) -> BotfipPredictor:
        model, _, meta = load_model(run_dir, device)
        # a pre-training run's decoder was trained on images only (L_OM), so it reads images
        task = meta.get("task") or ("funcimg" if meta.get("stage") == "pretrain" else None)
        return cls(model, task=task, **kwargs)

    def check_task(self, wanted: str) -> None:
        """One-line refusal when this run was fine-tuned for the other input."""
        if self.task is not None and self.task != wanted:
            raise ValueError(f"this run was fine-tuned for {TASK_INPUTS[self.task]} (task {self.task}); it cannot "
                             f"read {TASK_INPUTS[wanted]}: use a run fine-tuned with --task {wanted}")

    def _grammar(self):
        if not self.constrained:
            return None
        return lambda: OTSGrammarState(max_nodes=self.cfg.max_nodes)

    @torch.no_grad()
    def ots_from_images(self, images: torch.Tensor, batch_size: int = 64) -> list[list[int]]:
        self.check_task("funcimg")
        out: list[list[int]] = []
        for i in range(0, images.shape[0], batch_size):
            with autocast(self.device):
                hidden, _ = self.model.image_encoder(images[i:i + batch_size].to(self.device))
                out += generate(self.model.ots, hidden, None, self._grammar(), self.cfg.max_ots_len, self.beam_size)
        return out

    @torch.no_grad()
    def top_k_from_image(self, image: torch.Tensor, k: int) -> list[list[int]]:
        """Up to ``k`` distinct OTS for one ``(S, H, W)`` image, best first (beam search)."""
        self.check_task("funcimg")
        with autocast(self.device):
            hidden, _ = self.model.image_encoder(image[None].to(self.device))
            return generate_top_k(self.model.ots, hidden, None, self._grammar(), self.cfg.max_ots_len, k,
                                  self.beam_size)[0]

    @torch.no_grad()
    def ots_from_teacher_states(self, hidden: torch.Tensor, mask: torch.Tensor, batch_size: int = 64
                                ) -> list[list[int]]:
        if self.model.embedder is None:
            raise ValueError("this model has no teacher embedder; it cannot read formula strings")
        self.check_task("formula")
        hidden, mask = hidden.to(self.device), mask.to(self.device)
        out: list[list[int]] = []
        for i in range(0, hidden.shape[0], batch_size):
            with autocast(self.device):
                states, _ = self.model.embedder(hidden[i:i + batch_size], mask[i:i + batch_size])
                out += generate(self.model.ots, states, mask[i:i + batch_size], self._grammar(),
                                self.cfg.max_ots_len, self.beam_size)
        return out

    def predict_points(self, x0: np.ndarray, x1: np.ndarray, y: np.ndarray, *, top_k: int = 3,
                       n_starts: int = 4, max_iter: int = 100, max_fit_points: int = 2000,
                       seed: int = 0) -> dict[str, Any]:
        """Points -> images on the model's grids -> top-k skeletons, each with constants fitted (L-BFGS) to the points.

        Candidates are ranked by R^2 on the points (best first); ``coverage`` is the share of
        grid pixels the points' convex hull covers (low coverage: the model sees mostly blanks).
        """
        from formulaforge.datasets.optrees.resample import grid_images

        self.check_task("funcimg")
        image, coverage = grid_images(x0, x1, y, self.grid)
        candidates = self.top_k_from_image(torch.from_numpy(image), top_k)
        rng = np.random.default_rng(seed)
        pick = rng.choice(y.size, size=min(max_fit_points, y.size), replace=False)
        fits = [self.fit(ots, [x0[pick], x1[pick]], y[pick], n_starts=n_starts, max_iter=max_iter, seed=seed)
                for ots in candidates]
        fits.sort(key=lambda f: -(f.r2 if f.r2 is not None and np.isfinite(f.r2) else -np.inf))
        return {"n_points": int(y.size), "fit_points": int(pick.size), "grid_coverage": round(coverage, 4),
                "candidates": [f.to_json() for f in fits]}

    def fit(self, ots: list[int], inputs: list[np.ndarray], y: np.ndarray, *, n_starts: int = 4,
            max_iter: int = 50, seed: int = 0) -> Prediction:
        """Rebuild the tree and fit its constants to points (``inputs``: one array per variable)."""
        from formulaforge.datasets.optrees.fit import fit_constants
        from formulaforge.datasets.optrees.symbolic import formula_strings, formula_with_values, to_sympy

        try:
            tree = decode(ots)
        except OTSDecodeError:
            return Prediction(ots, False)
        res = fit_constants(tree, inputs, y, n_starts=n_starts, max_iter=max_iter, seed=seed)
        import sympy as sp

        fitted_expr = to_sympy(tree, [round(float(c), 6) for c in res.constants])
        return Prediction(ots, True, formula_strings(tree, timeout=1.0).sympy,
                          formula_with_values(tree, res.constants), sp.latex(fitted_expr),
                          [float(c) for c in res.constants], float(res.mse), float(res.r2))

    def image_points(self, image: np.ndarray, scale_factors: np.ndarray, n_points: int,
                     rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
        """``n_points`` pixels of one image as (x0, x1) -> y points (raw values via the scale factors)."""
        raw = denormalize(image, scale_factors, self.grid.bound)
        x0, x1 = self.grid.inputs
        idx = rng.choice(raw.size, size=min(n_points, raw.size), replace=False)
        return [x0.ravel()[idx], x1.ravel()[idx]], raw.ravel()[idx]
