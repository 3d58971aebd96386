"""Operation trees for the web UI: a formula or an OTS in, everything Botfip sees out.

Runs inside the killable worker process (sympy parsing and simplification of visitor
input). Returns plain data: the OTS, a drawing of the tree as indented text, the formula
strings, the constants and the three-scale function image.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_OTS_TEXT = re.compile(r"^[\s\[\]()]*\d+([\s,]+\d+)*[\s\[\]()]*$")


def looks_like_ots(text: str) -> bool:
    return bool(_OTS_TEXT.match(text))


def tree_drawing(tree: Any) -> str:
    """The tree as indented lines (``├─``), the operator's name on each node."""
    lines: list[str] = []

    def walk(node: Any, prefix: str, last: bool, top: bool) -> None:
        name = tree.vocab[node.token].name
        lines.append(name if top else f"{prefix}{'└─ ' if last else '├─ '}{name}")
        child_prefix = "" if top else prefix + ("   " if last else "│  ")
        for i, child in enumerate(node.children):
            walk(child, child_prefix, i == len(node.children) - 1, False)

    walk(tree.root, "", True, True)
    return "\n".join(lines)


def build_tree(text: str, constants_text: str = "", seed: int = 0) -> dict[str, Any]:
    """Everything about the tree named by ``text`` (a formula over x0, x1, C0.. or an OTS)."""
    import sympy as sp

    from formulaforge.datasets.optrees.images import DEFAULT_GRID, function_images
    from formulaforge.datasets.optrees.ots import decode, encode, parse_ots
    from formulaforge.datasets.optrees.symbolic import (
        encode_formula,
        formula_strings,
        formula_with_values,
        parse_formula,
        to_sympy,
    )

    text = text.strip()
    if looks_like_ots(text):
        tree = decode(parse_ots(text))
        constants = None
    else:
        encoded = encode_formula(parse_formula(text))
        tree = encoded.tree
        values = [complex(c) if c.is_number else None for c in encoded.constants]
        # Symbolic constants (C0, C1 typed by the visitor) are drawn at random below.
        constants = ([v.real for v in values] if values and all(v is not None and v.imag == 0
                                                                   and np.isfinite(v.real) for v in values)
                     else None)
    if constants_text.strip():
        try:
            constants = [float(p) for p in constants_text.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"constants must be numbers separated by commas, got {constants_text!r}") from None
    if constants is not None and len(constants) != tree.n_constants:
        raise ValueError(f"this tree has {tree.n_constants} constants, got {len(constants)}")
    random_constants = constants is None
    if constants is None:
        rng = np.random.default_rng(seed)
        constants = [round(float(v), 3) for v in rng.uniform(-2.0, 2.0, tree.n_constants)]
    strings = formula_strings(tree, timeout=2.0)
    batch = function_images(tree, np.asarray([constants]), DEFAULT_GRID)
    return {
        "ots": encode(tree),
        "nodes": tree.node_count,
        "depth": tree.depth(),
        "drawing": tree_drawing(tree),
        "skeleton": strings.sympy,
        "skeleton_latex": strings.latex,
        "formula": formula_with_values(tree, constants),
        "formula_latex": sp.latex(to_sympy(tree, [round(c, 4) for c in constants])),
        "constants": constants,
        "random_constants": random_constants,
        "images": batch.images[0],  # (3, 64, 64), normalized to [-0.95, 0.95]
        "scale_factors": batch.scale_factors[0],
        "defined": float(batch.defined[0]),
        "scales": list(DEFAULT_GRID.scales),
    }


def predict_from_images(run_dir: str, images: np.ndarray, scale_factors: np.ndarray,
                        beam_size: int = 1, seed: int = 0) -> dict[str, Any]:
    """Botfip-LLM: image -> OTS (grammar-constrained) -> constants fitted to the image's pixels."""
    import torch

    predictor = _predictor(run_dir, beam_size)
    ots = predictor.ots_from_images(torch.as_tensor(images[None], dtype=torch.float32))[0]
    inputs, y = predictor.image_points(images, scale_factors, 512, np.random.default_rng(seed))
    return predictor.fit(ots, inputs, y, seed=seed).to_json()


def predict_from_points(run_dir: str, points_text: str, points_file: str | None, top_k: int = 3,
                        beam_size: int = 1) -> dict[str, Any]:
    """Botfip-LLM: measured points (CSV text ``x0,x1,y`` or an uploaded CSV/.npy) -> top-k fitted formulas."""
    import tempfile
    from pathlib import Path

    from formulaforge.datasets.optrees.resample import read_points

    if points_file:
        x0, x1, y = read_points(points_file)
    elif points_text.strip():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "points.csv"
            path.write_text(points_text, encoding="utf-8")
            x0, x1, y = read_points(path)
    else:
        raise ValueError("give points: paste CSV rows with a header x0,x1,y or upload a CSV/.npy file")
    return _predictor(run_dir, beam_size).predict_points(x0, x1, y, top_k=top_k)


_PREDICTORS: dict[tuple[str, int], Any] = {}


def _predictor(run_dir: str, beam_size: int) -> Any:
    """Loaded once per worker process (the worker is long-lived)."""
    from formulaforge.models.botfip.predict import BotfipPredictor

    key = (run_dir, beam_size)
    if key not in _PREDICTORS:
        _PREDICTORS[key] = BotfipPredictor.from_run(run_dir, beam_size=beam_size)
    return _PREDICTORS[key]
