"""The three MSFT training sets built from one ContextFormulas triplet dataset.

Paper (MSFT, Fig. 1 and sec. 4): every stage trains on ``(input, label)`` pairs cut from
the same triplets (context before, formula, context after):

* Stage I (LoRA) - formula generation from its context: input = instruction + context
  before + context after, label = the formula;
* Stage II (D-plugin) - auto-regressive formula modelling on pairs of the same sample:
  input = instruction + the formula, label = the formula. ``stage2_variant="mask"`` or
  ``"shuffle"`` corrupts the input tokens instead (a denoising variant; not in the paper);
* Stage III (Q-plugin) - computation priority: for the chain z_1..z_M of each formula
  (:func:`formulaforge.formula.priority_chain`), pairs input = instruction + z_{i-1},
  label = z_i.

``input`` is the *user message* only; :func:`formulaforge.datasets.prompts.render_prompt`
applies a chat template (instruct models) or the plain template later. Records keep the
triplet's split, so no formula crosses from train into valid/test through the stages; the
manifest also counts normalized formulas and documents seen in more than one split, as a
check on the triplet builder.

Output layout (written atomically: a crash leaves the previous STAGES_DIR intact)::

    STAGES_DIR/manifest.json
    STAGES_DIR/stage1/{train,valid,test}.jsonl   fields: input, label, id, source_id, doc_id
    STAGES_DIR/stage2/...                        + variant
    STAGES_DIR/stage3/...                        + step, steps
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from formulaforge.datasets.noise import mask_tokens, shuffle_tokens
from formulaforge.datasets.stage_templates import StageTemplates
from formulaforge.formula import DEFAULT_MAX_LEN, normalize, priority_chain
from formulaforge.utils.atomic import atomic_dir, write_json_atomic

STAGES_KIND = "stages"  # marker kind of a STAGES_DIR (utils.atomic)
from formulaforge.utils.jsonl import read_jsonl

SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {"train": "train", "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid", "test": "test"}
STAGES = ("stage1", "stage2", "stage3")
STAGE2_VARIANTS = ("copy", "mask", "shuffle")
REQUIRED_FIELDS = ("id", "formula", "context_before", "context_after", "split")
TRIPLETS_FILE = "triplets.jsonl"


@dataclasses.dataclass(frozen=True)
class StageOptions:
    """How the stage sets are cut; recorded in the manifest."""

    max_chain: int = DEFAULT_MAX_LEN
    stage2_variant: str = "copy"
    noise: float = 0.15
    seed: int = 0
    normalize_formulas: bool = True
    max_context_chars: int | None = None
    templates: StageTemplates = dataclasses.field(default_factory=StageTemplates)

    def __post_init__(self) -> None:
        if self.stage2_variant not in STAGE2_VARIANTS:
            raise ValueError(f"stage2_variant must be one of {STAGE2_VARIANTS}, not {self.stage2_variant!r}")
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], not {self.noise}")
        if self.max_context_chars is not None and self.max_context_chars < 1:
            raise ValueError("max_context_chars must be >= 1 (or None for no limit)")
        if self.max_chain < 2:
            raise ValueError("max_chain must be >= 2 (a chain of 1 gives no stage-III pair)")


def triplets_path(directory: str | os.PathLike[str]) -> Path:
    path = Path(directory)
    if path.is_file():
        return path
    candidate = path / TRIPLETS_FILE
    if not candidate.is_file():
        raise FileNotFoundError(f"no {TRIPLETS_FILE} in {path}")
    return candidate


def read_triplets(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield validated triplets (split mapped to train/valid/test) from ``DIR/triplets.jsonl``."""
    path = triplets_path(directory)
    for lineno, row in enumerate(read_jsonl(path), 1):
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            raise ValueError(f"{path}: record {lineno} lacks field(s) {missing}")
        split = SPLIT_ALIASES.get(str(row["split"]).lower())
        if split is None:
            raise ValueError(f"{path}: record {lineno} has split {row['split']!r}; expected one of {SPLITS}")
        row["split"] = split
        yield row


def clip_context(before: str, after: str, limit: int | None) -> tuple[str, str]:
    """Keep the ``limit`` characters of each context nearest the formula, cut at a space.

    A tokenizer that truncates the prompt from the end would drop the context after the
    formula entirely; clipping both sides here keeps the text next to the formula.
    """
    before, after = before.strip(), after.strip()
    if limit is None:
        return before, after
    if len(before) > limit:
        cut = before[-limit:]
        space = cut.find(" ")
        before = cut[space + 1 :] if 0 <= space < limit // 4 else cut
    if len(after) > limit:
        cut = after[:limit]
        space = cut.rfind(" ")
        after = cut[:space] if space > limit - limit // 4 else cut
    return before, after


def stage_records(triplet: dict[str, Any], options: StageOptions) -> dict[str, list[dict[str, Any]]]:
    """The stage I/II/III records of one triplet."""
    tpl = options.templates
    raw = str(triplet["formula"])
    formula = normalize(raw) if options.normalize_formulas else raw.strip()
    tid = str(triplet["id"])
    base = {"source_id": tid, "doc_id": triplet.get("doc_id")}
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    if not formula:
        return out
    before, after = clip_context(str(triplet["context_before"]), str(triplet["context_after"]), options.max_context_chars)
    out["stage1"].append({
        "input": tpl.stage1.format(context_before=before, context_after=after),
        "label": formula,
        "id": f"{tid}/s1",
        **base,
    })
    if options.stage2_variant == "copy":
        stage2_input = tpl.stage2.format(formula=formula)
    else:
        corrupt = mask_tokens if options.stage2_variant == "mask" else shuffle_tokens
        noisy = corrupt(formula, options.noise, seed=options.seed, key=tid)
        stage2_input = tpl.stage2_denoise.format(formula=noisy)
    out["stage2"].append({
        "input": stage2_input, "label": formula, "id": f"{tid}/s2", "variant": options.stage2_variant, **base
    })
    chain = priority_chain(formula if options.normalize_formulas else raw, max_len=options.max_chain)
    steps = len(chain) - 1
    for i in range(1, len(chain)):
        out["stage3"].append({
            "input": tpl.stage3.format(previous=chain[i - 1]),
            "label": chain[i],
            "id": f"{tid}/s3/{i}",
            "step": i,
            "steps": steps,
            **base,
        })
    return out


class _Writers:
    """Nine open JSONL files (stage x split) inside the temporary output directory."""

    def __init__(self, root: Path, stack: contextlib.ExitStack) -> None:
        self.files: dict[tuple[str, str], IO[str]] = {}
        for stage in STAGES:
            (root / stage).mkdir(parents=True, exist_ok=True)
            for split in SPLITS:
                self.files[stage, split] = stack.enter_context(open(root / stage / f"{split}.jsonl", "w", encoding="utf-8"))

    def write(self, stage: str, split: str, record: dict[str, Any]) -> None:
        fh = self.files[stage, split]
        fh.write(json.dumps(record, ensure_ascii=False))
        fh.write("\n")


def build_stages(
    triplets: Iterable[dict[str, Any]] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: StageOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write STAGES_DIR (see the module docstring) and return its manifest.

    ``out`` must be absent, empty or an earlier STAGES_DIR; anything else needs ``force``.

    ``triplets`` is a triplet dataset directory (or its ``triplets.jsonl``) or an iterable
    of triplet dicts with the fields of :data:`REQUIRED_FIELDS` (``split`` already one of
    :data:`SPLITS` or an alias).
    """
    options = options or StageOptions()
    source = str(triplets) if isinstance(triplets, (str, os.PathLike)) else None
    rows = read_triplets(triplets) if source is not None else triplets
    counts = {stage: dict.fromkeys(SPLITS, 0) for stage in STAGES}
    formulas = dict.fromkeys(SPLITS, 0)
    chains_with_pairs = dict.fromkeys(SPLITS, 0)
    skipped_empty = 0
    seen_formula: dict[str, set[str]] = defaultdict(set)
    seen_doc: dict[str, set[str]] = defaultdict(set)
    started = time.perf_counter()
    with atomic_dir(out, STAGES_KIND, force=force) as tmp, contextlib.ExitStack() as stack:
        writers = _Writers(tmp, stack)
        for n, triplet in enumerate(rows, 1):
            split = SPLIT_ALIASES.get(str(triplet.get("split", "")).lower())
            if split is None:
                raise ValueError(f"triplet {triplet.get('id')!r} has split {triplet.get('split')!r}")
            records = stage_records(triplet, options)
            if not records["stage1"]:
                skipped_empty += 1
                continue
            formulas[split] += 1
            chains_with_pairs[split] += bool(records["stage3"])
            seen_formula[records["stage1"][0]["label"]].add(split)
            if triplet.get("doc_id") is not None:
                seen_doc[str(triplet["doc_id"])].add(split)
            for stage in STAGES:
                for record in records[stage]:
                    writers.write(stage, split, record)
                counts[stage][split] += len(records[stage])
            if progress is not None and n % 200 == 0:
                progress(n)
        stack.close()
        total_formulas = sum(formulas.values())
        pairs = sum(counts["stage3"].values())
        manifest = {
            "format": "formulaforge.stages/1",
            "source": source,
            "counts": counts,
            "formulas": formulas,
            "skipped_empty_formulas": skipped_empty,
            "stage3": {
                "pairs_per_formula": round(pairs / total_formulas, 3) if total_formulas else 0.0,
                "pairs_per_formula_by_split": {
                    s: round(counts["stage3"][s] / formulas[s], 3) if formulas[s] else 0.0 for s in SPLITS
                },
                "formulas_without_pairs": total_formulas - sum(chains_with_pairs.values()),
            },
            "leakage_check": {
                "formulas_in_several_splits": sum(len(v) > 1 for v in seen_formula.values()),
                "documents_in_several_splits": sum(len(v) > 1 for v in seen_doc.values()),
            },
            "options": {**{k: v for k, v in dataclasses.asdict(options).items() if k != "templates"}},
            "templates": options.templates.to_dict(),
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json_atomic(tmp / "manifest.json", manifest)
    return manifest


def read_stage(stages_dir: str | os.PathLike[str], stage: int | str, split: str) -> Iterator[dict[str, Any]]:
    """Records of one stage file, e.g. ``read_stage(d, 3, "train")``."""
    name = f"stage{stage}" if isinstance(stage, int) or str(stage).isdigit() else str(stage)
    if name not in STAGES or split not in SPLITS:
        raise ValueError(f"unknown stage/split {stage!r}/{split!r}")
    return read_jsonl(Path(stages_dir) / name / f"{split}.jsonl")
