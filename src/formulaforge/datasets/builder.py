"""Build a ContextFormulas dataset: sources -> triplets -> dedup -> splits/subsets -> outputs.

Streaming end to end: documents are processed one at a time (in ``workers`` processes,
results consumed in document order so the output is deterministic), triplets go straight
to a JSONL file, and only fixed-size hashes per triplet stay in memory (for dedup and the
subset ranking). Everything is built in a temporary sibling directory and renamed onto
``out`` at the end, so an interrupted run leaves either the previous dataset or none.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formulaforge import __version__
from formulaforge.datasets.dedup import Deduplicator, hash64
from formulaforge.datasets.extract import DocStats, Settings, docstring_triplets, latex_triplets
from formulaforge.datasets.splits import DEFAULT_FRACTIONS, DEFAULT_SUBSETS, SPLITS, plan_subsets, split_of, subset_rank_key
from formulaforge.datasets.tokens import token_counter
from formulaforge.sources import docstrings as ds_source
from formulaforge.sources import latex_docs
from formulaforge.utils.atomic import atomic_dir, write_json_atomic

DOCSTRING_PREFIX = "docstrings:"
DEFAULT_SOURCE = DOCSTRING_PREFIX + ",".join(ds_source.DEFAULT_PACKAGES)
TRIPLET_FIELDS = ("id", "doc_id", "source", "source_file", "env", "formula", "context_before", "context_after",
                  "collection", "split", "subset", "offsets")


@dataclass
class BuildConfig:
    min_context_tokens: int = 32
    tokenizer: str | None = None
    seed: int = 0
    workers: int = 1
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    subsets: tuple[tuple[str, int], ...] = DEFAULT_SUBSETS
    keep_diagrams: bool = False
    dedup: str = "formula"
    write_hf: bool = True


@dataclass
class DocResult:
    doc_id: str
    source: str
    triplets: list[dict[str, Any]]
    errors: list[dict[str, str]]
    stats: dict[str, Any]
    sha256: str = ""
    n_bytes: int = 0
    skipped: str | None = None
    collection: str = ""


@dataclass
class BuildReport:
    out: Path
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def discover_sources(sources: list[str]) -> tuple[list[Any], list[dict[str, str]]]:
    """Turn SOURCE arguments into document specs (cheap: no extraction yet)."""
    specs: list[Any] = []
    errors: list[dict[str, str]] = []
    for src in sources or [DEFAULT_SOURCE]:
        if src.startswith(DOCSTRING_PREFIX):
            packages = [p.strip() for p in src[len(DOCSTRING_PREFIX) :].split(",") if p.strip()]
            if not packages:
                packages = list(ds_source.DEFAULT_PACKAGES)
            specs.extend(ds_source.discover(src, packages))
            continue
        path = Path(src).expanduser()
        found, errs = latex_docs.discover(src, path)
        specs.extend(found)
        errors.extend({"source": src, "file": f, "reason": r, "skipped": "file"} for f, r in errs)
    seen: set[str] = set()
    unique = []
    for s in specs:
        if s.doc_id in seen:
            continue
        seen.add(s.doc_id)
        unique.append(s)
    return unique, errors


def process_document(spec: Any, settings: Settings, tokenizer: str | None) -> DocResult:
    """Extract one document's triplets (runs in a worker). Never raises: failures are reported."""
    count = token_counter(tokenizer)
    stats = DocStats()
    problems: list[tuple[str, str]] = []
    try:
        if isinstance(spec, ds_source.DocstringSpec):
            docs = ds_source.read_docstrings(spec.path)
            rel = spec.doc_id[len(DOCSTRING_PREFIX) :]
            triplets = list(docstring_triplets(spec.doc_id, rel, docs, settings, count, stats))
            data = Path(spec.path).read_bytes()
            import hashlib

            sha, n_bytes = hashlib.sha256(data).hexdigest(), len(data)
            file_errors: list[tuple[str, str]] = []
        else:
            doc = latex_docs.load_document(spec)
            triplets = list(latex_triplets(doc, settings, count, stats, problems))
            sha, n_bytes, file_errors = doc.sha256, doc.n_bytes, doc.errors
    except (latex_docs.DocumentError, ValueError, OSError, RecursionError) as exc:
        return DocResult(spec.doc_id, spec.source, [], [], asdict(stats), skipped=str(exc),
                         collection=spec.collection)
    errors = [{"file": f, "reason": r, "skipped": "file" if r.startswith("skipped file") else "part"}
              for f, r in file_errors]
    errors += [{"file": where, "reason": why, "skipped": "formula"} for where, why in problems]
    return DocResult(spec.doc_id, spec.source, triplets, errors, asdict(stats), sha, n_bytes,
                     collection=spec.collection)


def _worker(args: tuple[Any, Settings, str | None]) -> DocResult:
    return process_document(*args)


def _results(specs: list[Any], settings: Settings, cfg: BuildConfig) -> Iterator[DocResult]:
    jobs = ((s, settings, cfg.tokenizer) for s in specs)
    if cfg.workers <= 1 or len(specs) <= 1:
        for job in jobs:
            yield process_document(*job)
        return
    ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
    with ctx.Pool(cfg.workers) as pool:
        yield from pool.imap(_worker, jobs, chunksize=1)


def build_dataset(
    sources: list[str],
    out: str | Path,
    cfg: BuildConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> BuildReport:
    """Build the dataset into ``out`` (replaced atomically). See the module docstring."""
    cfg = cfg or BuildConfig()
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").exists())):
        raise ValueError(f"{out} exists and is not a FormulaForge dataset; refusing to overwrite it")
    token_counter(cfg.tokenizer)  # fail fast on a bad tokenizer name
    t0 = time.perf_counter()
    specs, errors = discover_sources(list(sources))
    if not specs:
        raise ValueError("no documents found in " + ", ".join(sources or [DEFAULT_SOURCE]))
    settings = Settings(min_context_tokens=cfg.min_context_tokens, keep_diagrams=cfg.keep_diagrams)
    dedup = Deduplicator(cfg.dedup)
    per_split: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    per_collection: Counter[str] = Counter()
    per_env: Counter[str] = Counter()
    drops: Counter[str] = Counter()
    documents: list[dict[str, Any]] = []
    totals = Counter()
    keys = array("Q")
    with atomic_dir(out) as tmp:
        stage = tmp / ".stage.jsonl"
        with open(stage, "w", encoding="utf-8") as fh:
            for i, res in enumerate(_results(specs, settings, cfg), 1):
                if progress:
                    progress(i, len(specs), res.doc_id)
                errors.extend({"source": res.source, "doc_id": res.doc_id, **e} for e in res.errors)
                doc_entry: dict[str, Any] = {"doc_id": res.doc_id, "source": res.source, "collection": res.collection,
                                             "sha256": res.sha256,
                                             "bytes": res.n_bytes}
                if res.skipped is not None:
                    errors.append({"source": res.source, "doc_id": res.doc_id, "reason": res.skipped,
                                   "skipped": "document"})
                    doc_entry["skipped"] = res.skipped
                    documents.append(doc_entry)
                    continue
                split = split_of(res.doc_id, cfg.seed, cfg.split_fractions)
                kept = 0
                for t in res.triplets:
                    if dedup.seen(t["formula"], t["context_before"], t["context_after"]):
                        continue
                    o = t["offsets"]
                    tid = f"{hash64(res.doc_id, str(o['char_start']), t['formula']):016x}"
                    row = {"id": tid, "doc_id": res.doc_id, "source": res.source, "collection": res.collection,
                           "source_file": t["source_file"],
                           "env": t["env"], "formula": t["formula"], "context_before": t["context_before"],
                           "context_after": t["context_after"], "split": split, "subset": None, "offsets": o}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    keys.append(subset_rank_key(tid, cfg.seed))
                    kept += 1
                    per_split[split] += 1
                    per_env[t["env"]] += 1
                per_source[res.source] += kept
                per_collection[res.collection] += kept
                for k, v in res.stats.items():
                    if k == "dropped":
                        drops.update(v)
                    else:
                        totals[k] += v
                doc_entry.update({"split": split, "triplets": kept, "displays": res.stats["displays"]})
                documents.append(doc_entry)
        plan = plan_subsets(keys, cfg.subsets)
        del keys
        subset_counts: dict[str, Counter[str]] = {n: Counter() for n in plan.names}
        split_files = {s: tmp / f".split.{s}.jsonl" for s in SPLITS}
        handles = {s: open(p, "w", encoding="utf-8") for s, p in split_files.items()}
        try:
            with open(stage, encoding="utf-8") as src, open(tmp / "triplets.jsonl", "w", encoding="utf-8") as dst:
                for line in src:
                    row = json.loads(line)
                    row["subset"] = plan.subset_of(subset_rank_key(row["id"], cfg.seed))
                    if row["subset"]:
                        subset_counts[row["subset"]][row["split"]] += 1
                    text = json.dumps(row, ensure_ascii=False) + "\n"
                    dst.write(text)
                    handles[row["split"]].write(text)
        finally:
            for h in handles.values():
                h.close()
        stage.unlink()
        n = sum(per_split.values())
        warnings: list[str] = []
        subsets_info: dict[str, Any] = {}
        for name, req, got in zip(plan.names, plan.requested, plan.actual):
            info: dict[str, Any] = {"requested": req, "actual": got, "per_split": dict(subset_counts[name])}
            if got < req:
                info["note"] = f"corpus too small: {got} of {req} requested triplets"
                warnings.append(f"subset {name}: {info['note']}")
            subsets_info[name] = info
        for s in SPLITS:
            if per_split[s] == 0 and n:
                warnings.append(f"split {s!r} is empty (too few documents for the split fractions)")
        if cfg.write_hf:
            _write_hf(tmp, split_files)
        for p in split_files.values():
            p.unlink(missing_ok=True)
        manifest = {
            "formulaforge_version": __version__,
            "created_unix": int(time.time()),
            "build_seconds": round(time.perf_counter() - t0, 2),
            "sources": list(sources) or [DEFAULT_SOURCE],
            "settings": {**asdict(cfg), "subsets": [list(s) for s in cfg.subsets], "context_rule": "paper-sec3",
                         "dedup_key": "formulaforge.datasets.dedup.canonical_formula_key"},
            "counts": {
                "triplets": n,
                "documents": len(specs),
                "documents_with_triplets": sum(1 for d in documents if d.get("triplets")),
                "documents_skipped": sum(1 for d in documents if "skipped" in d),
                "per_split": {s: per_split[s] for s in SPLITS},
                "per_source": dict(per_source),
                "per_collection": dict(sorted(per_collection.items())),
                "per_env": dict(per_env.most_common()),
                "display_formulas_seen": totals["displays"],
                "diagrams_seen": totals["diagrams"],
                "dropped": {**dict(drops.most_common()), "duplicate_exact": dedup.dropped_exact,
                            "duplicate_normalized": dedup.dropped_normalised},
            },
            "subsets": subsets_info,
            "warnings": warnings,
            "errors": errors,
            "documents": documents,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
    return BuildReport(out, manifest, warnings)


def _features() -> Any:
    from datasets import Features, Value

    offsets = {k: Value("int64") for k in ("char_start", "char_end", "line_start", "line_end")}
    cols: dict[str, Any] = {k: Value("string") for k in TRIPLET_FIELDS if k != "offsets"}
    cols["offsets"] = offsets
    return Features(cols)


def _write_hf(tmp: Path, split_files: dict[str, Path]) -> None:
    """Save a ``DatasetDict`` (train/validation/test) under ``tmp/hf`` via a private cache dir."""
    from datasets import Dataset, DatasetDict

    features = _features()
    cache = tmp / ".hf-cache"
    parts = {}
    for split, path in split_files.items():
        if path.stat().st_size == 0:
            parts[split] = Dataset.from_dict({k: [] for k in features}, features=features)
        else:
            parts[split] = Dataset.from_json(str(path), features=features, cache_dir=str(cache))
    DatasetDict(parts).save_to_disk(str(tmp / "hf"))
    shutil.rmtree(cache, ignore_errors=True)
