"""Multi-scale function images: a tree evaluated on a grid over (x0, x1) at several scales.

Layout: ``images[k, s, i, j] = f_k(x0 = g_s[j], x1 = g_s[i])`` with ``g_s`` a linspace over
``[-scale_s, scale_s]`` (columns follow x0, rows follow x1). Each channel (scale) is
min-max normalized over its finite values to ``[-0.95, 0.95]``; the per-channel
``(min, max)`` are kept as ``scale_factors`` so values can be recovered; non-finite
pixels become 0 after normalization; a constant channel becomes all 0. Optional Gaussian
input noise (paper: 0.001) is added after normalization.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from formulaforge.datasets.optrees.evaluate import evaluate
from formulaforge.datasets.optrees.tree import OpTree

BOUND = 0.95


@dataclass(frozen=True)
class GridSpec:
    """Where function images are sampled: half-widths per channel and pixels per side."""

    scales: tuple[float, ...] = (0.1, 1.0, 10.0)
    size: int = 64
    n_variables: int = 2
    bound: float = BOUND
    dtype: str = "float32"
    """Evaluation precision. float32 is ~2x faster; values beyond its range (|v| > 3.4e38)
    count as undefined, which is what they would become in a float16/float32 image anyway."""

    def __post_init__(self) -> None:
        if self.n_variables != 2:
            raise ValueError("function images are 2-D grids over (x0, x1); n_variables must be 2")
        if self.size < 2 or not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError("need size >= 2 and positive scales")

    @cached_property
    def axes(self) -> np.ndarray:
        """``(S, size)`` coordinates of each channel's axis."""
        return np.stack([np.linspace(-s, s, self.size) for s in self.scales])

    @cached_property
    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x0, x1)`` arrays of shape ``(S, size, size)``: x0 along the rows, x1 along the columns.

        ``images[k, s, i, j] = f(x0 = axis[i], x1 = axis[j])``, the ``meshgrid(..., indexing="ij")``
        layout of the earlier Botfip code (before issue 20 this was transposed).
        """
        a = self.axes.astype(self.dtype)
        x0 = np.broadcast_to(a[:, :, None], (len(self.scales), self.size, self.size)).copy()
        x1 = np.broadcast_to(a[:, None, :], (len(self.scales), self.size, self.size)).copy()
        x0.flags.writeable = x1.flags.writeable = False
        return x0, x1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.scales), self.size, self.size)

    def to_json(self) -> dict[str, object]:
        return {"scales": list(self.scales), "size": self.size, "dtype": self.dtype, "layout": "images[k, scale, row=x0, col=x1]",
                "normalization": f"per-channel min-max to [-{self.bound}, {self.bound}] over finite values; "
                                 "non-finite -> 0; constant channel -> 0"}


DEFAULT_GRID = GridSpec()


@dataclass
class ImageBatch:
    images: np.ndarray          # (K, S, H, W) float32, normalized
    scale_factors: np.ndarray   # (K, S, 2) float64: per-channel (min, max) of the raw finite values
    defined: np.ndarray         # (K,) share of finite raw values over all channels
    raw: np.ndarray | None = None  # (K, S, H, W) raw values when requested


def normalize(values: np.ndarray, bound: float = BOUND) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel min-max over the last two axes; returns (normalized, (min, max), finite mask)."""
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    if all_finite:  # the common case: no masking needed
        lo = values.min(axis=(-2, -1)).astype(np.float64)
        hi = values.max(axis=(-2, -1)).astype(np.float64)
    else:
        lo = np.where(finite, values, np.inf).min(axis=(-2, -1)).astype(np.float64)
        hi = np.where(finite, values, -np.inf).max(axis=(-2, -1)).astype(np.float64)
        empty = ~np.isfinite(lo)
        lo = np.where(empty, 0.0, lo)
        hi = np.where(empty, 0.0, hi)
    with np.errstate(all="ignore"):
        span = hi - lo
        ok = np.isfinite(span) & (span > 0)
        scale = np.where(ok, 2.0 * bound / np.where(ok, span, 1.0), 0.0)
        # (v - lo) * scale - bound, with lo folded into the offset: one multiply, one add
        offset = np.where(ok, -lo * scale - bound, 0.0)
        out = values * scale[..., None, None].astype(values.dtype)
        out += offset[..., None, None].astype(values.dtype)
    if not all_finite:
        out[~finite] = 0.0
    return out, np.stack([lo, hi], axis=-1), finite


def denormalize(images: np.ndarray, scale_factors: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """Raw values back from normalized images (non-finite pixels come back as the channel midpoint)."""
    lo = scale_factors[..., 0][..., None, None]
    hi = scale_factors[..., 1][..., None, None]
    return lo + (np.asarray(images, dtype=np.float64) + bound) * (hi - lo) / (2.0 * bound)


def function_images(
    tree: OpTree,
    constants: np.ndarray,
    grid: GridSpec = DEFAULT_GRID,
    *,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
    keep_raw: bool = False,
) -> ImageBatch:
    """Images of one skeleton for ``K`` constant vectors (``constants``: ``(K, n_constants)``)."""
    consts = np.atleast_2d(np.asarray(constants, dtype=np.float64))
    raw = evaluate(tree, consts, grid.inputs)
    norm, factors, finite = normalize(raw, grid.bound)
    images = norm.astype(np.float32, copy=False)
    if noise_std > 0:
        images = add_noise(images, noise_std, rng)
    defined = finite.reshape(finite.shape[0], -1).mean(axis=1)
    return ImageBatch(images, factors, defined, raw if keep_raw else None)


def function_images_batch(
    trees: Sequence[OpTree],
    constants: Sequence[np.ndarray],
    grid: GridSpec = DEFAULT_GRID,
    *,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> ImageBatch:
    """Images for many skeletons (each with its own ``(K_i, n_i)`` constants), concatenated."""
    parts = [function_images(t, c, grid, noise_std=noise_std, rng=rng) for t, c in zip(trees, constants, strict=True)]
    return ImageBatch(np.concatenate([p.images for p in parts]), np.concatenate([p.scale_factors for p in parts]),
                      np.concatenate([p.defined for p in parts]))


def add_noise(images: np.ndarray, std: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """The paper's input noise, for use at training time on stored clean images."""
    rng = rng or np.random.default_rng()
    noise = rng.standard_normal(images.shape, dtype=np.float32)  # float32 draws: ~4x faster than float64
    noise *= np.float32(std)
    noise += images
    return noise.astype(images.dtype, copy=False)
