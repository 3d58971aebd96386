"""``data build --executor ...``: option checks and the report for datatrove-backed builds.

Kept apart from commands/data.py so the ``build`` command only gains its options and a
two-line branch; the engine itself lives in formulaforge.datasets.scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from formulaforge.commands._common import UserError


def _patterns(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def engine_config(
    sources: list[str],
    executor: str | None,
    tasks: int,
    workers: int,
    *,
    metadata: str | None,
    categories: str | None,
    licenses: str | None,
    near_dup: str,
    stage_format: str,
    keep_work: bool,
    requester_pays: bool,
    slurm: tuple[str | None, str, str | None],
) -> Any:
    """The engine settings, or ``None`` for today's in-process builder (no executor, local LaTeX only)."""
    from formulaforge.datasets.scale.engine import EngineConfig
    from formulaforge.datasets.scale.plan import needs_engine

    storage = {"requester_pays": True} if requester_pays else {}
    engine_only = metadata or categories or licenses or keep_work or requester_pays or slurm[0]
    if executor is None and not engine_only and not needs_engine(sources, storage):
        return None
    ecfg = EngineConfig(
        executor=executor or "local",
        tasks=tasks,
        workers=workers,
        metadata=metadata,
        categories=_patterns(categories),
        licenses=_patterns(licenses),
        near_dup=near_dup,
        stage_format=stage_format,
        storage_options=storage,
        keep_work=keep_work,
        slurm_partition=slurm[0],
        slurm_time=slurm[1],
        slurm_env=slurm[2],
    )
    try:
        ecfg.check()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return ecfg


def run_engine_build(sources: list[str], out: Path, cfg: Any, ecfg: Any, force: bool = False) -> None:
    from formulaforge.datasets.scale.engine import build_at_scale, work_dir

    report = build_at_scale(sources, out, cfg, ecfg, force=force)
    if report is None:
        typer.echo(
            f"submitted the Slurm jobs; the dataset appears at {out} when the last one ends "
            f"(progress and logs: {work_dir(out)}/logs; the same command resumes an interrupted run)"
        )
        return
    m = report.manifest
    c = m["counts"]
    near = m["near_duplicates"]
    typer.echo(
        f"wrote {c['triplets']} triplets from {c['documents_with_triplets']}/{c['documents']} papers to {out} "
        f"(train {c['per_split']['train']}, validation {c['per_split']['validation']}, test "
        f"{c['per_split']['test']}; executor {ecfg.executor}, {ecfg.tasks} tasks)"
    )
    if near.get("method") == "minhash":
        typer.echo(f"near-duplicate contexts removed: {near['removed']} of {near['triplets_in']} triplets")
    if c["documents_skipped"] or m["errors"]:
        typer.echo(
            f"{c['documents_skipped']} papers skipped, {len(m['errors'])} problems listed in manifest.json"
        )
    for w in report.warnings:
        typer.echo(f"note: {w}")
