"""Build a ContextFormulas dataset: sources -> triplets -> dedup -> splits/subsets -> outputs.

Streaming end to end: documents are processed one at a time (in ``workers`` processes,
results consumed in document order so the output is deterministic), triplets go straight
to a JSONL file, and only fixed-size hashes per triplet stay in memory (for dedup and the
subset ranking). Everything is built in a temporary sibling directory and renamed onto
``out`` at the end, so an interrupted run leaves either the previous dataset or none.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import shutil
import signal
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formulaforge import __version__
from formulaforge.datasets.audit import AuditCounts
from formulaforge.datasets.dedup import Deduplicator, hash64
from formulaforge.datasets.extract import DocStats, Settings, docstring_triplets, latex_triplets
from formulaforge.datasets.prose import ProseRules
from formulaforge.datasets.splits import (
    DEFAULT_FRACTIONS,
    DEFAULT_SUBSETS,
    SPLITS,
    fill_empty_splits,
    plan_subsets,
    split_of,
    subset_rank_key,
)
from formulaforge.datasets.tokens import token_counter
from formulaforge.sources import docstrings as ds_source
from formulaforge.sources import latex_docs
from formulaforge.utils.atomic import atomic_dir, check_output, write_json_atomic

DOCSTRING_PREFIX = "docstrings:"
# No single document may stall a build: the largest Stacks chapter needs about 1 s of CPU.
DOC_CPU_SECONDS = 120.0
DEFAULT_SOURCE = DOCSTRING_PREFIX + ",".join(ds_source.DEFAULT_PACKAGES)
TRIPLET_FIELDS = (
    "id",
    "doc_id",
    "source",
    "source_file",
    "env",
    "formula",
    "context_before",
    "context_after",
    "collection",
    "split",
    "subset",
    "offsets",
)


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
    doc_cpu_seconds: float = DOC_CPU_SECONDS  # per-document CPU budget (0: none); over it, skipped
    ref_token: str = "(ref)"  # what \ref/\eqref/\cref... become in contexts
    cite_token: str = ""  # what \cite/\citep/\citet... become in contexts (removed by default)


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
    encodings: dict[str, str] = field(default_factory=dict)
    content_key: str = ""


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


class DocumentBudgetExceeded(Exception):
    """A document used up its CPU budget."""


@contextlib.contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise :class:`DocumentBudgetExceeded` in this block after ``seconds`` of process CPU time.

    Uses ``ITIMER_PROF`` (CPU time, not wall time: a busy shared machine does not cut a
    document short) where signals are available, i.e. in the main thread of a worker or of
    a serial build; elsewhere the extraction loop checks the clock itself (see ``deadline``).
    """
    usable = (
        seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_timer(signum: int, frame: Any) -> None:
        raise DocumentBudgetExceeded

    old = signal.signal(signal.SIGPROF, on_timer)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def process_document(
    spec: Any, settings: Settings, tokenizer: str | None, cpu_seconds: float = DOC_CPU_SECONDS
) -> DocResult:
    """Extract one document's triplets (runs in a worker). Never raises: failures are reported.

    A document over its CPU budget (``cpu_seconds``) or out of memory is skipped with the reason.
    """
    t0 = time.process_time()
    try:
        with cpu_budget(cpu_seconds):
            return _process_document(spec, settings, tokenizer, t0 + cpu_seconds if cpu_seconds > 0 else None)
    except (DocumentBudgetExceeded, TimeoutError):
        why = f"over the per-document CPU budget ({cpu_seconds:g} s): skipped"
    except MemoryError:
        why = "out of memory while extracting (document too large for one worker): skipped"
    return DocResult(
        spec.doc_id, spec.source, [], [], asdict(DocStats()), skipped=why, collection=spec.collection
    )


def _process_document(
    spec: Any, settings: Settings, tokenizer: str | None, deadline: float | None
) -> DocResult:
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
            encodings, key = {}, ""
        else:
            doc = latex_docs.load_document(spec)
            triplets = list(latex_triplets(doc, settings, count, stats, problems, deadline=deadline))
            sha, n_bytes, file_errors = doc.sha256, doc.n_bytes, list(doc.errors)
            encodings, key = doc.encodings, doc.content_key
            if doc.macros.unsupported:
                items = sorted(doc.macros.unsupported.items())
                listed = "; ".join(f"\\{name}: {why}" for name, why in items[:8])
                more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
                file_errors.append(
                    ("macros", f"{len(items)} macro definitions left unexpanded: {listed}{more}")
                )
    except (DocumentBudgetExceeded, TimeoutError, MemoryError):
        raise
    except (latex_docs.DocumentError, ValueError, OSError, RecursionError) as exc:
        return DocResult(
            spec.doc_id, spec.source, [], [], asdict(stats), skipped=str(exc), collection=spec.collection
        )
    except MemoryError:  # the allocation that failed is released on the way out: report it and go on
        return DocResult(
            spec.doc_id, spec.source, [], [], asdict(stats),
            skipped="out of memory while extracting this document (skipped; the build went on)",
            collection=spec.collection,
        )
    except Exception as exc:  # noqa: BLE001 - one strange document must not stop a corpus build
        return DocResult(
            spec.doc_id,
            spec.source,
            [],
            [],
            asdict(stats),
            skipped=f"internal error ({type(exc).__name__}: {exc}); please report",
            collection=spec.collection,
        )
    errors = [
        {"file": f, "reason": r, "skipped": "file" if r.startswith("skipped file") else "part"}
        for f, r in file_errors
    ]
    errors += [{"file": where, "reason": why, "skipped": "formula"} for where, why in problems]
    return DocResult(
        spec.doc_id,
        spec.source,
        triplets,
        errors,
        asdict(stats),
        sha,
        n_bytes,
        collection=spec.collection,
        encodings=dict(encodings),
        content_key=key,
    )


def triplet_rows(res: DocResult, split: str) -> Iterator[dict[str, Any]]:
    """A document's triplets as dataset rows (``subset`` is decided at the end, over the whole corpus).

    Contexts are clipped to MAX_CONTEXT_CHARS; ``_clipped`` counts the clipped sides (pop it before writing)."""
    for t in res.triplets:
        o = t["offsets"]
        yield {
            "id": f"{hash64(res.doc_id, str(o['char_start']), t['formula']):016x}",
            "doc_id": res.doc_id,
            "source": res.source,
            "collection": res.collection,
            "source_file": t["source_file"],
            "env": t["env"],
            "formula": t["formula"],
            "context_before": clip_context(t["context_before"], keep_end=True),
            "context_after": clip_context(t["context_after"], keep_end=False),
            "split": split,
            "subset": None,
            "offsets": o,
            "_clipped": (len(t["context_before"]) > MAX_CONTEXT_CHARS) + (len(t["context_after"]) > MAX_CONTEXT_CHARS),
        }


def _worker(args: tuple[Any, Settings, str | None, float]) -> DocResult:
    return process_document(*args)


def _results(specs: list[Any], settings: Settings, cfg: BuildConfig) -> Iterator[DocResult]:
    jobs = ((s, settings, cfg.tokenizer, cfg.doc_cpu_seconds) for s in specs)
    if cfg.workers <= 1 or len(specs) <= 1:
        for job in jobs:
            yield process_document(*job)
        return
    # forkserver, not fork: the CLI runs a rich progress thread, and forking a threaded process can deadlock.
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(cfg.workers) as pool:
        yield from pool.imap(_worker, jobs, chunksize=1)


class _Stage:
    """Phase 1 sink: dedup, count, append rows to a staging JSONL, remember subset hash keys."""

    def __init__(self, tmp: Path, cfg: BuildConfig) -> None:
        self.cfg = cfg
        self.path = tmp / ".stage.jsonl"
        self.fh = open(self.path, "w", encoding="utf-8")
        self.dedup = Deduplicator(cfg.dedup)
        self.keys = array("Q")
        self.per_split: Counter[str] = Counter()
        self.per_source: Counter[str] = Counter()
        self.per_collection: Counter[str] = Counter()
        self.per_env: Counter[str] = Counter()
        self.audit = AuditCounts()

    def add(self, row: dict[str, Any]) -> bool:
        if self.dedup.seen(row["formula"], row["context_before"], row["context_after"]):
            return False
        self.audit.add(row)
        self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.keys.append(subset_rank_key(row["id"], self.cfg.seed))
        self.per_split[row["split"]] += 1
        self.per_env[row["env"]] += 1
        self.per_source[row["source"]] += 1
        self.per_collection[row.get("collection") or ""] += 1
        return True

    def close(self) -> None:
        self.fh.close()


def _finish(
    tmp: Path, stage: _Stage, cfg: BuildConfig, moves: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Phase 2: final splits and subsets, write triplets.jsonl (+ hf/); return counts and warnings."""
    stage.close()
    moves = moves or {}
    stage.per_split = Counter()
    plan = plan_subsets(stage.keys, cfg.subsets)
    stage.keys = array("Q")
    subset_counts: dict[str, Counter[str]] = {n: Counter() for n in plan.names}
    split_files = {s: tmp / f".split.{s}.jsonl" for s in SPLITS}
    handles = {s: open(p, "w", encoding="utf-8") for s, p in split_files.items()}
    try:
        with (
            open(stage.path, encoding="utf-8") as src,
            open(tmp / "triplets.jsonl", "w", encoding="utf-8") as dst,
        ):
            for line in src:
                row = json.loads(line)
                row["split"] = moves.get(row["doc_id"], row["split"])
                stage.per_split[row["split"]] += 1
                row["subset"] = plan.subset_of(subset_rank_key(row["id"], cfg.seed))
                if row["subset"]:
                    subset_counts[row["subset"]][row["split"]] += 1
                text = json.dumps(row, ensure_ascii=False) + "\n"
                dst.write(text)
                handles[row["split"]].write(text)
    finally:
        for h in handles.values():
            h.close()
    stage.path.unlink()
    n = sum(stage.per_split.values())
    warnings: list[str] = []
    subsets_info: dict[str, Any] = {}
    for name, req, got in zip(plan.names, plan.requested, plan.actual):
        info: dict[str, Any] = {"requested": req, "actual": got, "per_split": dict(subset_counts[name])}
        if got < req:
            info["note"] = f"corpus too small: {got} of {req} requested triplets"
            warnings.append(f"subset {name}: {info['note']}")
        subsets_info[name] = info
    for s in SPLITS:
        if stage.per_split[s] == 0 and n:
            warnings.append(f"split {s!r} is empty (too few documents for the split fractions)")
    if cfg.write_hf:
        _write_hf(tmp, split_files)
    for p in split_files.values():
        p.unlink(missing_ok=True)
    counts = {
        "triplets": n,
        "per_split": {s: stage.per_split[s] for s in SPLITS},
        "per_source": dict(stage.per_source),
        "per_collection": dict(sorted(stage.per_collection.items())),
        "per_env": dict(stage.per_env.most_common()),
        "audit": stage.audit.as_dict(),
    }
    return {"counts": counts, "subsets": subsets_info}, warnings


DATASET_KIND = "dataset"  # the marker kind of a `data build` / `data merge` output (utils.atomic)
# Bounds on what one hostile corpus can make the manifest and the rows hold: problems past the
# first MAX_MANIFEST_ERRORS are counted, not listed; a context longer than MAX_CONTEXT_CHARS keeps
# the characters nearest its formula (cut at a space) and is counted as clipped.
MAX_MANIFEST_ERRORS = 10_000
MAX_CONTEXT_CHARS = 16_384


def clip_context(text: str, keep_end: bool) -> str:
    """At most MAX_CONTEXT_CHARS of ``text``: its end (before a formula) or its start (after one)."""
    if len(text) <= MAX_CONTEXT_CHARS:
        return text
    part = text[-MAX_CONTEXT_CHARS:] if keep_end else text[:MAX_CONTEXT_CHARS]
    cut = part.find(" ") if keep_end else part.rfind(" ")
    if 0 <= cut and (cut < 200 if keep_end else len(part) - cut < 200):
        part = part[cut + 1 :] if keep_end else part[:cut]
    return part


def finish_build(
    tmp: Path,
    stage: _Stage,
    cfg: BuildConfig,
    documents: list[dict[str, Any]],
    drops: Counter[str],
    totals: Counter[str],
    n_documents: int,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """After the last document: small-corpus split fallback, subsets, outputs; counts for the manifest."""
    moves = fill_empty_splits(
        [(d["doc_id"], d["split"]) for d in documents if d.get("triplets")], cfg.seed
    )
    for d in documents:
        if d["doc_id"] in moves:
            d["split"] = moves[d["doc_id"]]
            d["split_note"] = "moved from train: small-corpus fallback for an empty split"
    parts, warnings = _finish(tmp, stage, cfg, moves)
    counts = parts["counts"]
    counts.update(
        {
            "documents": n_documents,
            "documents_with_triplets": sum(1 for d in documents if d.get("triplets")),
            "documents_skipped": sum(1 for d in documents if "skipped" in d),
            "display_formulas_seen": totals["displays"],
            "diagrams_seen": totals["diagrams"],
            "contexts_trimmed": totals["contexts_trimmed"],
            "dropped": {
                **dict(drops.most_common()),
                "duplicate_exact": stage.dedup.dropped_exact,
                "duplicate_normalized": stage.dedup.dropped_normalised,
            },
        }
    )
    return counts, parts["subsets"], warnings


def _check_out(out: Path, force: bool = False) -> None:
    """Refuse an OUT that holds anything but a dataset (the engine's entry check; see utils.atomic)."""
    check_output(out, DATASET_KIND, force=force, replaces=True)


def _settings(cfg: BuildConfig) -> dict[str, Any]:
    return {
        **asdict(cfg),
        "subsets": [list(s) for s in cfg.subsets],
        "context_rule": "paper-sec3",
        "dedup_key": "formulaforge.datasets.dedup.canonical_formula_key",
        "max_context_chars": MAX_CONTEXT_CHARS,
    }


def build_dataset(
    sources: list[str],
    out: str | Path,
    cfg: BuildConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    force: bool = False,
) -> BuildReport:
    """Build the dataset into ``out`` (replaced atomically). See the module docstring.

    ``out`` must be absent, empty or an earlier dataset; anything else needs ``force``.
    """
    cfg = cfg or BuildConfig()
    out = Path(out)
    check_output(out, DATASET_KIND, force=force, replaces=True)
    token_counter(cfg.tokenizer)  # fail fast on a bad tokenizer name
    t0 = time.perf_counter()
    specs, errors = discover_sources(list(sources))
    if not specs:
        where = ", ".join(sources or [DEFAULT_SOURCE])
        if errors:
            shown = "; ".join(f"{e['file']}: {e['reason']}" for e in errors[:3])
            more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
            raise ValueError(f"no documents found in {where}: {len(errors)} file(s) unusable ({shown}{more})")
        raise ValueError(f"no documents found in {where} (no LaTeX main file, archive or package docstrings)")
    settings = Settings(
        min_context_tokens=cfg.min_context_tokens,
        keep_diagrams=cfg.keep_diagrams,
        prose=ProseRules(ref_token=cfg.ref_token, cite_token=cfg.cite_token),
    )
    drops: Counter[str] = Counter()
    documents: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    first_with_content: dict[str, str] = {}
    unlisted = clipped = 0
    with atomic_dir(out, DATASET_KIND, force=force) as tmp:
        stage = _Stage(tmp, cfg)
        try:
            for i, res in enumerate(_results(specs, settings, cfg), 1):
                if progress:
                    progress(i, len(specs), res.doc_id)
                errors.extend({"source": res.source, "doc_id": res.doc_id, **e} for e in res.errors)
                if len(errors) > MAX_MANIFEST_ERRORS:
                    unlisted += len(errors) - MAX_MANIFEST_ERRORS
                    del errors[MAX_MANIFEST_ERRORS:]
                doc_entry: dict[str, Any] = {
                    "doc_id": res.doc_id,
                    "source": res.source,
                    "collection": res.collection,
                    "sha256": res.sha256,
                    "bytes": res.n_bytes,
                }
                documents.append(doc_entry)
                if res.encodings:
                    doc_entry["encodings"] = res.encodings
                if res.skipped is None and res.content_key:
                    first = first_with_content.setdefault(res.content_key, res.doc_id)
                    if first != res.doc_id:
                        res.skipped = f"same content as {first} (another driver of one document)"
                        doc_entry["duplicate_of"] = first
                if res.skipped is not None:
                    errors.append(
                        {
                            "source": res.source,
                            "doc_id": res.doc_id,
                            "reason": res.skipped,
                            "skipped": "document",
                        }
                    )
                    doc_entry["skipped"] = res.skipped
                    continue
                split = split_of(res.doc_id, cfg.seed, cfg.split_fractions)
                kept = 0
                for row in triplet_rows(res, split):
                    clipped += row.pop("_clipped")
                    kept += stage.add(row)
                drops.update(res.stats.get("dropped", {}))
                totals.update({k: v for k, v in res.stats.items() if k != "dropped"})
                doc_entry.update({"split": split, "triplets": kept, "displays": res.stats["displays"]})
        finally:
            stage.close()
        counts, subsets, warnings = finish_build(tmp, stage, cfg, documents, drops, totals, len(specs))
        counts["documents_duplicate"] = sum(1 for d in documents if "duplicate_of" in d)
        counts["documents_not_utf8"] = sum(1 for d in documents if d.get("encodings"))
        counts["contexts_clipped"] = clipped
        counts["problems"] = {"listed": len(errors), "not_listed": unlisted}
        manifest = {
            "formulaforge_version": __version__,
            "created_unix": int(time.time()),
            "build_seconds": round(time.perf_counter() - t0, 2),
            "sources": list(sources) or [DEFAULT_SOURCE],
            "settings": _settings(cfg),
            "counts": counts,
            "subsets": subsets,
            "warnings": warnings,
            "errors": errors,
            "documents": documents,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
    return BuildReport(out, manifest, warnings)


def merge_datasets(
    shards: list[str | Path], out: str | Path, cfg: BuildConfig | None = None, *, force: bool = False
) -> BuildReport:
    """Merge shard datasets (built separately, e.g. per arXiv bulk tar) into one.

    Rows are streamed in the order given; duplicates across shards are dropped with the
    same rule as within a build; splits are kept (they depend only on seed and document,
    so shards built with the same seed agree); subsets are recomputed over the union.
    """
    cfg = cfg or BuildConfig()
    out = Path(out)
    check_output(out, DATASET_KIND, force=force, replaces=True)
    t0 = time.perf_counter()
    manifests = []
    for shard in shards:
        path = Path(shard)
        if not (path / "triplets.jsonl").exists() or not (path / "manifest.json").exists():
            raise ValueError(f"{path} is not a dataset built by `formulaforge data build`")
        m = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if m["settings"].get("seed") != cfg.seed:
            raise ValueError(
                f"{path} was built with seed {m['settings'].get('seed')}, not {cfg.seed}: "
                "its document splits would not agree"
            )
        manifests.append((path, m))
    with atomic_dir(out, DATASET_KIND, force=force) as tmp:
        stage = _Stage(tmp, cfg)
        try:
            for path, _ in manifests:
                with open(path / "triplets.jsonl", encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            stage.add(json.loads(line))
        finally:
            stage.close()
        parts, warnings = _finish(tmp, stage, cfg)
        counts = parts["counts"]
        counts["dropped"] = {
            "duplicate_exact": stage.dedup.dropped_exact,
            "duplicate_normalized": stage.dedup.dropped_normalised,
        }
        counts["documents"] = sum(m["counts"].get("documents", 0) for _, m in manifests)
        manifest = {
            "formulaforge_version": __version__,
            "created_unix": int(time.time()),
            "build_seconds": round(time.perf_counter() - t0, 2),
            "merged_from": [str(p) for p, _ in manifests],
            "sources": [s for _, m in manifests for s in m.get("sources", [])],
            "settings": _settings(cfg),
            "counts": counts,
            "subsets": parts["subsets"],
            "warnings": warnings,
            "errors": [e for _, m in manifests for e in m.get("errors", [])],
            "documents": [d for _, m in manifests for d in m.get("documents", [])],
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
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # our own progress bar already covers the build
    try:
        _save_hf(tmp, split_files)
    finally:
        if bars:
            datasets.enable_progress_bars()


def _save_hf(tmp: Path, split_files: dict[str, Path]) -> None:
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
