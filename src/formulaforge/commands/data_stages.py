"""``formulaforge data stages DIR --out STAGES_DIR``: the MSFT stage I/II/III datasets.

A plain function so the ``data`` group (commands/data.py) registers it with one line:
``app.command("stages")(stages)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from formulaforge.commands._common import friendly_errors


@friendly_errors
def stages(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Triplet dataset directory (with triplets.jsonl).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output STAGES_DIR (stage1/ stage2/ stage3/ manifest.json).")],
    max_chain: Annotated[int, typer.Option(help="Longest computation-priority chain (stage III pairs = length - 1).")] = 16,
    stage2_variant: Annotated[
        str, typer.Option(help="Stage II input: 'copy' (the paper), or a denoising variant 'mask' / 'shuffle'.")
    ] = "copy",
    noise: Annotated[float, typer.Option(help="Share of tokens corrupted by the mask/shuffle variants.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed of the denoising corruption.")] = 0,
    templates: Annotated[
        Path | None, typer.Option(help="YAML/JSON file overriding instruction templates (stage1, stage2, stage2_denoise, stage3).")
    ] = None,
    max_context_chars: Annotated[
        int | None, typer.Option(help="Clip each context to the N characters nearest the formula (default: no limit).")
    ] = None,
    raw_formulas: Annotated[bool, typer.Option(help="Keep formulas as written instead of normalized.")] = False,
    force: Annotated[bool, typer.Option(help="Replace STAGES_DIR even when it holds something other than stage data.")] = False,
) -> None:
    """Build the MSFT stage datasets from a triplet dataset (splits follow the triplets)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from formulaforge.datasets.stage_templates import StageTemplates
    from formulaforge.datasets.stages import STAGES_KIND, StageOptions, build_stages, triplets_path
    from formulaforge.utils.atomic import check_output

    source = triplets_path(directory)
    check_output(out, STAGES_KIND, force=force, replaces=True)  # before any work
    options = StageOptions(
        max_chain=max_chain,
        stage2_variant=stage2_variant,
        noise=noise,
        seed=seed,
        normalize_formulas=not raw_formulas,
        max_context_chars=max_context_chars,
        templates=StageTemplates.from_file(templates) if templates else StageTemplates(),
    )
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as bar:
        task = bar.add_task("building stages", total=None)
        manifest = build_stages(
            source, out, options, progress=lambda n: bar.update(task, description=f"{n} triplets"), force=force
        )
    counts = manifest["counts"]
    for stage, by_split in counts.items():
        typer.echo(f"{stage}: " + ", ".join(f"{split} {n}" for split, n in by_split.items()))
    typer.echo(f"stage III pairs per formula: {manifest['stage3']['pairs_per_formula']}")
    leak = manifest["leakage_check"]
    if leak["formulas_in_several_splits"] or leak["documents_in_several_splits"]:
        typer.secho(
            f"warning: {leak['formulas_in_several_splits']} formulas and {leak['documents_in_several_splits']} "
            "documents occur in more than one split of the triplets",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(f"wrote {out}")
