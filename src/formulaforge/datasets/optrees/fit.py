"""Fit a skeleton's constants to data with L-BFGS (torch) from several random starts.

This is how a predicted OTS becomes a formula with numbers (the paper's inference step)
and how ``formulaforge trees fit`` answers for user data. The loss is the MSE over
points where the candidate is defined; a start that leaves points undefined is ranked
behind one that does not. Non-finite gradients (from undefined points that were masked
out) are zeroed so one bad point cannot poison a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from formulaforge.datasets.optrees.evaluate import evaluate, evaluate_torch
from formulaforge.datasets.optrees.images import GridSpec, denormalize
from formulaforge.datasets.optrees.tree import OpTree


@dataclass
class FitResult:
    constants: np.ndarray
    mse: float
    """MSE over the points where the fitted formula is defined."""
    defined: float
    """Share of points where the fitted formula is defined (finite)."""
    start_mses: list[float]
    r2: float


def _loss_value(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(pred)
    if not ok.any():
        return float("inf"), 0.0
    return float(np.mean((pred[ok] - y[ok]) ** 2)), float(ok.mean())


def fit_constants(
    tree: OpTree,
    inputs: Sequence[np.ndarray],
    y: np.ndarray,
    *,
    n_starts: int = 8,
    max_iter: int = 200,
    init_range: tuple[float, float] = (-2.0, 2.0),
    init: np.ndarray | None = None,
    seed: int = 0,
) -> FitResult:
    """Least-squares constants for ``tree`` on points ``inputs`` (one array per variable) -> ``y``.

    ``init`` (optional) is tried as the first start; the other starts are uniform in
    ``init_range``. Returns the best start by (defined share, MSE).
    """
    import torch

    y = np.asarray(y, dtype=np.float64).ravel()
    xs_np = [np.asarray(x, dtype=np.float64).ravel() for x in inputs]
    if any(len(x) != len(y) for x in xs_np):
        raise ValueError("every input array must have one value per target value")
    finite_y = np.isfinite(y)
    if not finite_y.all():
        y, xs_np = y[finite_y], [x[finite_y] for x in xs_np]
    if len(y) == 0:
        raise ValueError("no finite target values to fit")
    n = tree.n_constants
    rng = np.random.default_rng(seed)
    starts = [rng.uniform(*init_range, size=n) for _ in range(n_starts)]
    if init is not None:
        starts[0] = np.asarray(init, dtype=np.float64)
    xs = [torch.from_numpy(x.copy()) for x in xs_np]
    target = torch.from_numpy(y.copy())
    best: tuple[float, float, np.ndarray] | None = None
    start_mses: list[float] = []
    for start in starts:
        c = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([c], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-15, history_size=20)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            pred = evaluate_torch(tree, c, xs)
            ok = torch.isfinite(pred)
            if not bool(ok.any()):
                loss = (c * 0).sum() + 1e30
            else:
                loss = ((pred[ok] - target[ok]) ** 2).mean() + 1e6 * (1 - ok.double().mean())
            loss.backward()
            if c.grad is not None:
                c.grad = torch.nan_to_num(c.grad, nan=0.0, posinf=0.0, neginf=0.0)
            return loss

        if n:
            try:
                opt.step(closure)
            except RuntimeError:
                pass
        found = c.detach().numpy().copy()
        if not np.isfinite(found).all():
            found = start
        mse, defined = _loss_value(evaluate(tree, found, xs_np), y)
        start_mses.append(mse)
        if best is None or (defined, -mse) > (best[1], -best[0]):
            best = (mse, defined, found)
    assert best is not None
    mse, defined, consts = best
    var = float(np.var(y))
    r2 = 1.0 - mse / var if var > 0 and np.isfinite(mse) else float("nan")
    return FitResult(consts, mse, defined, start_mses, r2)


def fit_to_image(tree: OpTree, image: np.ndarray, scale_factors: np.ndarray, grid: GridSpec, **kwargs: object) -> FitResult:
    """Fit constants to one normalized function image ``(S, H, W)`` using its kept scale factors.

    Pixels that were undefined were stored as 0 and come back as the channel midpoint; with
    mostly-defined images (the generator guarantees >= 50 %) the fit is dominated by real values.
    """
    raw = denormalize(image, scale_factors, grid.bound)
    x0, x1 = grid.inputs
    return fit_constants(tree, [x0, x1], raw, **kwargs)  # type: ignore[arg-type]
