"""Measurements -> the model's function images: read points or an image, resample onto the grids.

A user has data, not a closed form. Points are ``(x0, x1, y)`` rows (CSV with those
column names, or a ``.npy`` array of shape ``(N, 3)``); an image is a 2-D array of function
values (``.npy``) or a grayscale picture (``.png``) covering ``[-extent, extent]^2`` with
``x0`` along the rows and ``x1`` along the columns, as the model's own images. An image
becomes points (one per pixel), so both inputs take one path: the values are linearly
interpolated (``scipy.interpolate.griddata``) at each grid channel's pixels inside the
convex hull of the points; pixels outside it are undefined, which the model saw as 0
after normalization, exactly like undefined pixels of its training images. The fitted
constants are then fitted to the user's own points, not to the interpolation.
A grayscale picture loses the value scale, which the implicit root ``C*f + C`` absorbs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from formulaforge.datasets.optrees.images import GridSpec, normalize

MAX_POINTS = 200_000


def read_points(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x0, x1, y)`` from a CSV with columns x0, x1, y (any order, extra columns ignored) or a ``(N, 3)`` .npy."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"points file not found: {p}")
    if p.suffix.lower() == ".npy":
        arr = np.load(p, allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"{p}: a points .npy must have shape (N, 3) for x0, x1, y; got {arr.shape}")
        cols = arr.astype(np.float64).T
    else:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            names = {(n or "").strip().lower(): n for n in reader.fieldnames or []}
            missing = [c for c in ("x0", "x1", "y") if c not in names]
            if missing:
                raise ValueError(f"{p}: CSV needs columns x0, x1, y; missing {', '.join(missing)}")
            rows = []
            for i, r in enumerate(reader):
                if i >= MAX_POINTS:
                    raise ValueError(f"{p}: more than {MAX_POINTS} points; subsample them first")
                try:
                    rows.append([float(r[names[c]]) for c in ("x0", "x1", "y")])
                except (TypeError, ValueError):
                    raise ValueError(f"{p}: row {i + 2} is not three numbers") from None
        cols = np.asarray(rows, dtype=np.float64).reshape(-1, 3).T
    x0, x1, y = cols
    ok = np.isfinite(x0) & np.isfinite(x1) & np.isfinite(y)
    if ok.sum() < 4:
        raise ValueError(f"{p}: need at least 4 finite points, got {int(ok.sum())}")
    return x0[ok], x1[ok], y[ok]


def read_image(path: str | Path, extent: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(x0, x1, y)`` of an image over ``[-extent, extent]^2`` (rows = x0, columns = x1)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    if extent <= 0:
        raise ValueError("the image extent must be positive")
    if p.suffix.lower() == ".npy":
        img = np.load(p, allow_pickle=False).astype(np.float64)
    elif p.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(p) as im:
            img = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    else:
        raise ValueError(f"{p}: an image is a .npy array of values or a grayscale .png")
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"{p}: expected one 2-D image, got shape {img.shape}")
    a0 = np.linspace(-extent, extent, img.shape[0])
    a1 = np.linspace(-extent, extent, img.shape[1])
    x0, x1 = np.meshgrid(a0, a1, indexing="ij")
    ok = np.isfinite(img)
    return x0[ok], x1[ok], img[ok]


def grid_images(x0: np.ndarray, x1: np.ndarray, y: np.ndarray, grid: GridSpec) -> tuple[np.ndarray, float]:
    """Normalized ``(S, H, W)`` images of the points on ``grid`` and the share of pixels they cover."""
    from scipy.interpolate import griddata

    gx0, gx1 = grid.inputs
    pts = np.column_stack([x0, x1])
    raw = griddata(pts, y, (gx0.astype(np.float64), gx1.astype(np.float64)), method="linear")
    image, _, finite = normalize(raw)
    return image.astype(np.float32), float(finite.mean())
