"""``formulaforge data``: build ContextFormulas datasets and inspect them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from formulaforge.commands._common import UserError, friendly_errors
from formulaforge.commands.data_stages import stages

app = typer.Typer(
    help="Build ContextFormulas (context, formula, context) datasets and show their statistics.",
    no_args_is_help=True,
)
app.command("stages")(stages)


@app.command("build")
@friendly_errors
def build(
    sources: list[str] = typer.Argument(
        None,
        help="Directories, .tex files, .tar.gz/.tar/.gz archives, or "
        "docstrings:PKG,PKG. None: docstrings:torch,sympy,numpy.",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output directory (replaced atomically; only an earlier dataset without --force)."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    min_context_tokens: int = typer.Option(
        32, "--min-context-tokens", min=0, help="Drop triplets whose two contexts total fewer tokens."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for document splits and subsets."),
    tokenizer: str = typer.Option(
        None,
        "--tokenizer",
        help="Count context tokens with this Hugging Face tokenizer (name or path); "
        "default: whitespace words.",
    ),
    cf50k: int = typer.Option(50000, "--cf50k-size", min=0, help="Size of the CF50K subset."),
    cf5k: int = typer.Option(5000, "--cf5k-size", min=0, help="Size of the CF5K subset."),
    keep_diagrams: bool = typer.Option(
        False, "--keep-diagrams", help="Keep xymatrix/tikzcd displays as formulas."
    ),
    dedup: str = typer.Option(
        "formula",
        "--dedup",
        help="'formula': each normalised formula once; "
        "'triplet': only identical formula+context repeats are dropped.",
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        help="Run on datatrove: local | slurm | ray (resumable; needs the scale extra). Default: "
        "today's builder, or local when a source holds arXiv bulk tars (arXiv_src_YYMM_NNN.tar) or is a URL.",
    ),
    tasks: int = typer.Option(None, "--tasks", min=1, help="datatrove tasks (default: --workers)."),
    metadata: str = typer.Option(
        None, "--metadata", help="arXiv metadata snapshot (JSON lines): licence in the manifest, filters."
    ),
    categories: str = typer.Option(None, "--categories", help="Keep papers in these categories: 'math.*,cs.LG'."),
    licenses: str = typer.Option(
        None, "--licenses", help="Keep papers under these licences (URL patterns; 'none' = arXiv default)."
    ),
    near_dup: str = typer.Option(
        "minhash", "--near-dup", help="Engine builds: 'minhash' drops near-duplicate contexts across papers, or 'off'."
    ),
    stage_format: str = typer.Option("jsonl", "--stage-format", help="Engine intermediate files: jsonl | parquet."),
    keep_work: bool = typer.Option(False, "--keep-work", help="Keep the engine's work dir (.OUT.work) after success."),
    requester_pays: bool = typer.Option(False, "--requester-pays", help="S3 requester-pays (arXiv's own bucket)."),
    slurm_partition: str = typer.Option(None, "--slurm-partition", help="Slurm partition (--executor slurm)."),
    slurm_time: str = typer.Option("24:00:00", "--slurm-time", help="Slurm time limit per task."),
    slurm_env: str = typer.Option(None, "--slurm-env", help="Shell line run first in each Slurm task."),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT even when it holds something other than a dataset."
    ),
    doc_cpu_seconds: float = typer.Option(
        120.0,
        "--doc-cpu-seconds",
        min=0,
        help="CPU budget per document; a document over it is skipped and listed (0: no budget).",
    ),
    ref_token: str = typer.Option(
        "(ref)", "--ref-token", help="What \\ref/\\eqref/\\cref... become in contexts."
    ),
    cite_token: str = typer.Option(
        "", "--cite-token", help="What \\cite/\\citep/\\citet... become in contexts (default: removed)."
    ),
) -> None:
    """Extract triplets into OUT/triplets.jsonl, OUT/hf (DatasetDict) and OUT/manifest.json."""
    from formulaforge.commands.data_scale import engine_config, run_engine_build

    ecfg = engine_config(
        list(sources or []),
        executor,
        tasks or workers,
        workers,
        metadata=metadata,
        categories=categories,
        licenses=licenses,
        near_dup=near_dup,
        stage_format=stage_format,
        keep_work=keep_work,
        requester_pays=requester_pays,
        slurm=(slurm_partition, slurm_time, slurm_env),
    )
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from formulaforge.datasets.builder import DATASET_KIND, BuildConfig, build_dataset
    from formulaforge.utils.atomic import check_output

    if dedup not in ("formula", "triplet"):
        raise UserError("--dedup must be 'formula' or 'triplet'")
    for s in sources or []:
        if not s.startswith("docstrings:") and "://" not in s and not Path(s).expanduser().exists():
            raise UserError(f"source not found: {s}")
    check_output(out, DATASET_KIND, force=force, replaces=True)  # before any work
    cfg = BuildConfig(
        min_context_tokens=min_context_tokens,
        tokenizer=tokenizer,
        seed=seed,
        workers=workers,
        subsets=(("CF5K", cf5k), ("CF50K", cf50k)),
        keep_diagrams=keep_diagrams,
        dedup=dedup,
        doc_cpu_seconds=doc_cpu_seconds,
        ref_token=ref_token,
        cite_token=cite_token,
    )
    if ecfg is not None:
        run_engine_build(list(sources or []), out, cfg, ecfg, force=force)
        return
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]documents"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("discovering", total=None)

        def progress(done: int, total: int, doc_id: str) -> None:
            bar.update(task, completed=done, total=total, description=doc_id[-60:])

        report = build_dataset(list(sources or []), out, cfg, progress=progress, force=force)
    c = report.manifest["counts"]
    console.print(
        f"[green]wrote {c['triplets']} triplets from {c['documents_with_triplets']}/{c['documents']} "
        f"documents to {out}[/green] (train {c['per_split']['train']}, validation "
        f"{c['per_split']['validation']}, test {c['per_split']['test']})"
    )
    audit = report.manifest["counts"].get("audit")
    if audit:
        kinds = ", ".join(f"{k} {v}" for k, v in audit["by_kind"].items() if v and k != "empty_side")
        console.print(
            f"context audit: {audit['flagged_percent']}% of triplets flagged"
            + (f" ({kinds})" if kinds else "")
            + " — `formulaforge data audit OUT` for details"
        )
    n_err = len(report.manifest["errors"])
    if c["documents_skipped"] or n_err:
        console.print(f"{c['documents_skipped']} documents skipped, {n_err} problems listed in manifest.json")
        skipped = [e for e in report.manifest["errors"] if e.get("skipped") == "document"]
        for e in skipped[:3]:
            console.print(f"  skipped {e['doc_id']}: {e['reason']}", markup=False)
    for w in report.warnings:
        console.print(f"[yellow]note:[/yellow] {w}")


@app.command("stats")
@friendly_errors
def stats(
    data_dir: Path = typer.Argument(..., help="A dataset directory written by `data build`."),
    plot: Path = typer.Option(
        None, "--plot", help="Save the operator co-occurrence heatmap P(b|a) as this PNG."
    ),
    top_k: int = typer.Option(20, "--top-k", min=2, help="Operators/symbols in the heatmap."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Counts, length distributions and the operator co-occurrence heatmap."""
    from rich.console import Console
    from rich.table import Table

    from formulaforge.datasets.stats import dataset_stats, plot_cooccurrence

    if not data_dir.is_dir():
        raise UserError(f"{data_dir} is not a directory")
    st = dataset_stats(data_dir, top_k=top_k)
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise UserError("--plot must name a .png file")
        co = st["cooccurrence"]
        plot_cooccurrence(
            co["labels"], co["p_b_given_a"], plot, title=f"P(b | a) over {st['triplets']} formulas"
        )
    if as_json:
        typer.echo(json.dumps(st, indent=2, ensure_ascii=False))
        return
    console = Console()
    t = Table(title=f"{data_dir}: {st['triplets']} triplets")
    t.add_column("what")
    t.add_column("value")
    for key in ("per_split", "per_subset", "per_env", "per_collection"):
        t.add_row(key, ", ".join(f"{k}: {v}" for k, v in list(st[key].items())[:12]))
    for key in ("formula_chars", "context_words"):
        t.add_row(key, ", ".join(f"{k}={v}" for k, v in st[key].items()))
    t.add_row("top symbols", ", ".join(f"{s} ({n})" for s, n in st["top_symbols"][:15]))
    console.print(t)
    if plot is not None:
        console.print(f"heatmap: {plot}")


@app.command("audit")
@friendly_errors
def audit(
    data_dir: Path = typer.Argument(..., help="A dataset directory written by `data build`."),
    sample: int = typer.Option(30, "--sample", min=0, help="Random triplets to write for review by eye."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random sample."),
    review: Path = typer.Option(
        None, "--review", help="Markdown review page to write (default: DATA_DIR/audit_review.md)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Flag contexts with LaTeX/reST residue, headings, signatures or runaway length; sample for review."""
    from formulaforge.datasets.audit import DEFECT_KINDS, INFO_KINDS, audit_dataset, review_page

    if not data_dir.is_dir():
        raise UserError(f"{data_dir} is not a directory")
    report = audit_dataset(data_dir, sample=sample, seed=seed)
    c = report.counts
    page = review or data_dir / "audit_review.md"
    if sample:
        page.write_text(review_page(report, f"{data_dir} (seed {seed})"), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps({**c.as_dict(), "review": str(page) if sample else None}, indent=2))
        return
    typer.echo(f"{data_dir}: {c.triplets} triplets, {c.flagged} flagged ({c.share(c.flagged)}%)")
    for kind in DEFECT_KINDS + INFO_KINDS:
        note = "  (allowed, not a defect)" if kind in INFO_KINDS else ""
        typer.echo(
            f"  {kind:<17} {c.by_kind.get(kind, 0):>7}  {c.share(c.by_kind.get(kind, 0)):>6.2f}%{note}"
        )
    if sample:
        typer.echo(f"review page with {len(report.samples)} samples: {page}")


@app.command("merge")
@friendly_errors
def merge(
    shards: list[Path] = typer.Argument(..., help="Dataset directories written by `data build` (same seed)."),
    out: Path = typer.Option(
        ..., "--out", help="Output directory (replaced atomically; only an earlier dataset without --force)."
    ),
    seed: int = typer.Option(0, "--seed", help="The seed the shards were built with (recomputes subsets)."),
    cf50k: int = typer.Option(50000, "--cf50k-size", min=0, help="Size of the CF50K subset."),
    cf5k: int = typer.Option(5000, "--cf5k-size", min=0, help="Size of the CF5K subset."),
    dedup: str = typer.Option(
        "formula", "--dedup", help="Duplicate rule across shards: 'formula' or 'triplet'."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace OUT even when it holds something other than a dataset."
    ),
) -> None:
    """Merge per-shard datasets (e.g. one per arXiv bulk tar) into one, deduplicated across shards."""
    from formulaforge.datasets.builder import BuildConfig, merge_datasets

    if dedup not in ("formula", "triplet"):
        raise UserError("--dedup must be 'formula' or 'triplet'")
    cfg = BuildConfig(seed=seed, subsets=(("CF5K", cf5k), ("CF50K", cf50k)), dedup=dedup)
    report = merge_datasets([str(s) for s in shards], out, cfg, force=force)
    c = report.manifest["counts"]
    typer.echo(
        f"merged {len(shards)} shards into {out}: {c['triplets']} triplets "
        f"({c['dropped']['duplicate_exact'] + c['dropped']['duplicate_normalized']} cross-shard duplicates)"
    )
    for w in report.warnings:
        typer.echo(f"note: {w}")
