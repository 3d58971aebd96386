"""``formulaforge trees``: operation trees, OTS sequences, Funcimg-OTS datasets, constant fitting."""

from __future__ import annotations

import csv
import json
import shlex
import sys
from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors

app = typer.Typer(help="Symbolic operation trees (Botfip): OTS <-> formulas, datasets, constant fitting.",
                  no_args_is_help=True)


def _range(text: str, name: str, cast: type = int) -> tuple:
    try:
        lo, hi = (cast(p) for p in text.split(":"))
    except ValueError:
        raise UserError(f"{name} must look like LOW:HIGH, got {text!r}") from None
    if lo > hi:
        raise UserError(f"{name}: LOW must not exceed HIGH ({text})")
    return lo, hi


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(p) for p in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"{name} must be numbers separated by commas, got {text!r}") from None


@app.command()
@friendly_errors
def decode(
    ots: str = typer.Argument(..., help='OTS, e.g. "15,0,1,0,19,18,0,0,0"'),
    constants: str = typer.Option("", help="Numeric constants C0,C1,... to substitute"),
    latex: bool = typer.Option(False, "--latex", help="Also print the LaTeX form"),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify with sympy (time-limited)"),
) -> None:
    """Print the formula of an OTS (constants as C0, C1, ...)."""
    import sympy as sp

    from formulaforge.datasets.optrees.ots import OTSDecodeError, parse_ots
    from formulaforge.datasets.optrees.ots import decode as decode_ots
    from formulaforge.datasets.optrees.symbolic import formula_strings, to_sympy
    from formulaforge.datasets.optrees.symbolic import simplify as simp

    try:
        tree = decode_ots(parse_ots(ots))
    except OTSDecodeError as exc:
        raise UserError(str(exc)) from None
    if constants:
        values = _floats(constants, "--constants")
        if len(values) != tree.n_constants:
            raise UserError(f"this skeleton has {tree.n_constants} constants, got {len(values)}")
        expr = to_sympy(tree, values)
        if simplify:
            expr, _ = simp(expr)
        typer.echo(sp.sstr(expr))
        if latex:
            typer.echo(sp.latex(expr))
        return
    strings = formula_strings(tree, simplify_expr=simplify)
    typer.echo(strings.sympy)
    if latex:
        typer.echo(strings.latex)


@app.command()
@friendly_errors
def encode(
    formula: str = typer.Argument(..., help='Formula over x0, x1 and C0, C1, ..., e.g. "C0*(x0 + x1)**2 + C1"'),
    as_json: bool = typer.Option(False, "--json", help="Print OTS, constants and check as JSON"),
) -> None:
    """Print an OTS whose tree equals the formula (with the constants shown)."""
    import sympy as sp

    from formulaforge.datasets.optrees.symbolic import (
        NotRepresentable,
        encode_formula,
        parse_formula,
        to_sympy,
    )

    expr = parse_formula(formula)
    try:
        enc = encode_formula(expr)
    except NotRepresentable as exc:
        raise UserError(str(exc)) from None
    rebuilt = to_sympy(enc.tree, enc.constants)
    consts = {f"C{i}": sp.sstr(c) for i, c in enumerate(enc.constants)}
    if as_json:
        typer.echo(json.dumps({"ots": enc.ots, "constants": consts, "formula": sp.sstr(rebuilt),
                               "node_count": enc.tree.node_count}))
        return
    typer.echo(",".join(str(t) for t in enc.ots))
    typer.echo("constants: " + ", ".join(f"{k}={v}" for k, v in consts.items()), err=True)
    typer.echo(f"tree: {enc.tree.describe()}", err=True)


@app.command()
@friendly_errors
def generate(
    out: Path = typer.Option(..., "--out", help="Output directory (re-running resumes it)"),
    skeletons: int = typer.Option(..., "--skeletons", min=1, help="Number of distinct skeletons"),
    constants_per_skeleton: int = typer.Option(50, "--constants-per-skeleton", min=1),
    nodes: str = typer.Option("5:15", help="Node-count range MIN:MAX (root included)"),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes"),
    seed: int = typer.Option(0, help="Random seed (same seed + settings = same dataset)"),
    shard_size: int = typer.Option(100, min=1, help="Skeletons per shard"),
    const_range: str = typer.Option("-2:2", help="Constants are drawn from U(LOW, HIGH)"),
    const_leaf_prob: float = typer.Option(0.15, help="Share of leaves that are constants"),
    max_unary_chain: int = typer.Option(3, help="Longest run of nested unary operators"),
    p_unary: float = typer.Option(0.7, "--p-unary", help="Probability of a unary node where both arities fit "
                                  "(earlier Botfip generator 0.7; issue 7 used 0.5)"),
    operator_sampling: str = typer.Option("level-first", "--operator-sampling",
                                          help="level-first (level high/medium/low 0.6/0.3/0.1, then a uniform "
                                               "operator; the earlier Botfip generator) or weighted (issue 7: "
                                               "per-operator weights 3/2/1 by level)"),
    image_size: int = typer.Option(64, help="Grid points per side"),
    scales: str = typer.Option("0.1,1,10", help="Half-widths of the image channels"),
    image_dtype: str = typer.Option("float16", help="float16 or float32"),
    simplify: str = typer.Option("full", help="Formula strings: full (sympy.simplify), light (fast) or none"),
    simplify_timeout: float = typer.Option(0.5, help="CPU seconds for full simplification per skeleton "
                                           "(past it the light form is kept)"),
    exclude: list[Path] = typer.Option([], help="skeletons.jsonl (or dataset dir) whose formulas must not recur"),
    force: bool = typer.Option(False, "--force", help="Write into OUT even when it holds something else."),
) -> None:
    """Generate a sharded Funcimg-OTS-formula dataset with a manifest."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from formulaforge.datasets.optrees.dataset import GenerateConfig
    from formulaforge.datasets.optrees.dataset import generate as run
    from formulaforge.datasets.optrees.images import GridSpec
    from formulaforge.datasets.optrees.sampling import SamplerConfig

    if simplify not in ("full", "light", "none"):
        raise UserError("--simplify must be full, light or none")
    if image_dtype not in ("float16", "float32"):
        raise UserError("--image-dtype must be float16 or float32")
    lo, hi = _range(nodes, "--nodes")
    clo, chi = _range(const_range, "--const-range", float)
    if operator_sampling not in ("level-first", "weighted"):
        raise UserError("--operator-sampling must be level-first or weighted")
    if not 0.0 <= p_unary <= 1.0:
        raise UserError("--p-unary must lie in [0, 1]")
    sampler = SamplerConfig(min_nodes=lo, max_nodes=hi, const_range=(clo, chi), const_leaf_prob=const_leaf_prob,
                            max_unary_chain=max_unary_chain, p_unary=p_unary, operator_sampling=operator_sampling)
    grid = GridSpec(scales=tuple(_floats(scales, "--scales")), size=image_size)
    cfg = GenerateConfig(n_skeletons=skeletons, constants_per_skeleton=constants_per_skeleton, sampler=sampler,
                         grid=grid, seed=seed, shard_size=shard_size, image_dtype=image_dtype,
                         simplify=simplify, simplify_timeout=simplify_timeout)
    excl = [p / "skeletons.jsonl" if p.is_dir() else p for p in exclude]
    for p in excl:
        if not p.exists():
            raise UserError(f"--exclude: {p} not found")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        tasks: dict[str, int] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        manifest = run(cfg, out, workers=workers, exclude_skeletons=excl, on_progress=on_progress,
                       command=" ".join(shlex.quote(a) for a in sys.argv), force=force)
    t = manifest["timing"]
    typer.echo(f"{manifest['n_samples']} samples from {manifest['n_skeletons']} skeletons in "
               f"{len(manifest['shards'])} shards -> {out} ({t['total_s']:.1f} s, {t['workers']} workers)")


@app.command()
@friendly_errors
def fit(
    csv_path: Path = typer.Argument(..., help="CSV with columns x0,x1,y (header optional; y last)"),
    ots: str = typer.Option(..., "--ots", help="Skeleton OTS whose constants are fitted"),
    starts: int = typer.Option(8, min=1, help="Random L-BFGS starts"),
    max_iter: int = typer.Option(200, min=1),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit the constants of a skeleton to CSV points with L-BFGS; print constants, MSE, R^2, formula."""
    from formulaforge.datasets.optrees.fit import fit_constants
    from formulaforge.datasets.optrees.ots import OTSDecodeError, parse_ots
    from formulaforge.datasets.optrees.ots import decode as decode_ots
    from formulaforge.datasets.optrees.symbolic import formula_with_values

    try:
        tree = decode_ots(parse_ots(ots))
    except OTSDecodeError as exc:
        raise UserError(str(exc)) from None
    xs, y = _read_points(csv_path, n_vars=2)
    res = fit_constants(tree, xs, y, n_starts=starts, max_iter=max_iter, seed=seed)
    formula = formula_with_values(tree, res.constants)
    if as_json:
        typer.echo(json.dumps({"constants": res.constants.tolist(), "mse": res.mse, "r2": res.r2,
                               "defined": res.defined, "formula": formula, "n_points": len(y)}))
        return
    typer.echo(f"formula: {formula}")
    typer.echo("constants: " + ", ".join(f"C{i}={c:.6g}" for i, c in enumerate(res.constants)))
    typer.echo(f"mse: {res.mse:.6g}  r2: {res.r2:.6g}  defined: {res.defined:.3f}  points: {len(y)}")


def _read_points(path: Path, n_vars: int) -> tuple[list, object]:
    import numpy as np

    if not path.exists():
        raise UserError(f"{path} not found")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"{path} is empty")
    header = rows[0]
    try:
        [float(c) for c in header]
        body = rows
        names = None
    except ValueError:
        body = rows[1:]
        names = [h.strip() for h in header]
    try:
        data = np.array([[float(c) for c in r] for r in body], dtype=np.float64)
    except ValueError as exc:
        raise UserError(f"{path}: non-numeric value ({exc})") from None
    if data.ndim != 2 or data.shape[0] == 0:
        raise UserError(f"{path}: no data rows")
    if names is not None and all(f"x{i}" in names for i in range(n_vars)) and "y" in names:
        cols = [names.index(f"x{i}") for i in range(n_vars)]
        return [data[:, c] for c in cols], data[:, names.index("y")]
    if data.shape[1] < 2:
        raise UserError(f"{path}: need at least one input column and y")
    xs = [data[:, i] for i in range(min(data.shape[1] - 1, n_vars))]
    while len(xs) < n_vars:
        xs.append(np.zeros(len(data)))
    return xs, data[:, -1]
