"""The last, single-task stage: all tasks' triplets in corpus order -> near-dup and formula dedup -> dataset.

Rows and paper summaries are merged from the per-task files by their order key, so the
result does not depend on how many tasks produced them. MinHash clusters come from
datatrove's cluster block; of each cluster the first triplet in corpus order is kept (the
library's own filter keeps the cluster's root, which depends on task numbering), and triplets of
that same paper stay: neighbouring formulas of one paragraph share context by design. The rest is
``data build``'s own code: the same streaming dedup, split fallback, subsets, HF DatasetDict.
"""

from __future__ import annotations

import heapq
import json
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from formulaforge import __version__
from formulaforge.datasets.builder import DATASET_KIND, BuildConfig, _check_out, _settings, _Stage, finish_build
from formulaforge.datasets.scale.blocks import MINHASH, MetadataFilter, stage_filename, stage_reader
from formulaforge.utils.atomic import atomic_dir, write_json_atomic


class AssembleDataset(PipelineStep):
    type = "FormulaForge"
    name = "ContextFormulas assembly"

    def __init__(self, work: str, out: str, cfg: BuildConfig, info: dict[str, Any]) -> None:
        super().__init__()
        self.work = work
        self.out = out
        self.cfg = cfg
        self.info = info  # tasks, stage format, near-dup mode, sources, discovery errors, engine settings

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time("dataset"):
            manifest = assemble(Path(self.work), Path(self.out), self.cfg, self.info)
        self.stat_update("triplets", value=manifest["counts"]["triplets"], unit="dataset")
        return iter(())


def load_clusters(folder: Path) -> dict[tuple[int, int], int]:
    """``(task, row index) -> cluster id`` from datatrove's ``*.clusters`` files (pairs of uint32)."""
    out: dict[tuple[int, int], int] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.clusters")):
        rank = int(f.name.split(".")[0])
        for doc, cid in struct.iter_unpack("<2I", f.read_bytes()):
            out[(rank, doc)] = cid
    return out


def _summaries(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _rows(work: Path, rank: int, fmt: str) -> Iterator[tuple[list[int], int, int, dict[str, Any]]]:
    name = stage_filename(rank, fmt)
    if not (work / "stage" / name).exists():  # a task whose papers gave no triplets writes no file
        return
    reader = stage_reader(str(work / "stage"), fmt)
    for idx, doc in enumerate(reader.read_file(name)):
        row = doc.metadata
        row.pop("file_path", None)
        order = row.pop("order")
        yield list(order), rank, idx, row


def assemble(work: Path, out: Path, cfg: BuildConfig, info: dict[str, Any]) -> dict[str, Any]:
    """Write the dataset to ``out`` (atomically, like ``data build``) and return its manifest."""
    t0 = time.perf_counter()
    _check_out(out, bool(info.get("force")))
    tasks, fmt, near_dup = info["tasks"], info["stage_format"], info["near_dup"]
    clusters = load_clusters(work / "minhash" / "clusters") if near_dup == "minhash" else {}
    papers = heapq.merge(*(_summaries(work / "docs" / f"{r:05d}.jsonl") for r in range(tasks)), key=_order)
    rows = heapq.merge(*(_rows(work, r, fmt) for r in range(tasks)), key=lambda x: x[0])
    errors: list[dict[str, Any]] = list(info.get("errors", []))
    documents: list[dict[str, Any]] = []
    drops: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    licenses: Counter[str] = Counter()
    cluster_owner: dict[int, str] = {}  # cluster -> the paper whose triplet came first
    file_errors: set[tuple[str, str]] = set()
    extracted = near = 0
    with atomic_dir(out, DATASET_KIND, force=True) as tmp:  # OUT was checked on entry (_check_out)
        stage = _Stage(tmp, cfg)
        try:
            for rec in papers:
                if "file_error" in rec:
                    key = (rec["file"], rec["file_error"])
                    if key not in file_errors:  # every task reading that tar saw the same error
                        file_errors.add(key)
                        errors.append(
                            {"source": rec["source"], "file": key[0], "reason": key[1], "skipped": "file"}
                        )
                    continue
                errors.extend(
                    {"source": rec["source"], "doc_id": rec["doc_id"], **e} for e in rec.get("errors", [])
                )
                entry = {k: rec.get(k, "") for k in ("doc_id", "source", "collection", "sha256")}
                entry["bytes"] = rec.get("bytes", 0)
                if "license" in rec:
                    entry.update(license=rec["license"], categories=rec["categories"])
                    known = rec["categories"] is not None  # None: the paper is not in the snapshot
                    licenses[rec["license"] or ("none" if known else "not_in_metadata")] += 1
                documents.append(entry)
                if "skipped" in rec:
                    errors.append(
                        {
                            "source": rec["source"],
                            "doc_id": rec["doc_id"],
                            "reason": rec["skipped"],
                            "skipped": "document",
                        }
                    )
                    entry["skipped"] = rec["skipped"]
                    continue
                kept = 0
                for _ in range(rec["rows"]):
                    nxt = next(rows, None)
                    if nxt is None:
                        raise RuntimeError(
                            f"stage files end before {rec['doc_id']}: rerun with a fresh work dir"
                        )
                    order, rank, idx, row = nxt
                    if order[:2] != rec["order"] or row["doc_id"] != rec["doc_id"]:
                        raise RuntimeError(
                            f"stage files out of step at {rec['doc_id']}: rerun with a fresh work dir"
                        )
                    extracted += 1
                    cid = clusters.get((rank, idx))
                    if cid is not None:
                        owner = cluster_owner.setdefault(cid, row["doc_id"])
                        if owner != row["doc_id"]:  # same text already kept from another paper
                            near += 1
                            continue
                    kept += stage.add(row)
                drops.update(rec["stats"].get("dropped", {}))
                totals.update({k: v for k, v in rec["stats"].items() if k != "dropped"})
                entry.update({"split": rec["split"], "triplets": kept, "displays": rec["stats"]["displays"]})
        finally:
            stage.close()
        counts, subsets, warnings = finish_build(tmp, stage, cfg, documents, drops, totals, len(documents))
        counts["dropped"]["near_duplicate_context"] = near
        near_info: dict[str, Any] = {"method": near_dup}
        if near_dup == "minhash":
            near_info.update(
                config={
                    "n_grams": MINHASH.n_grams,
                    "num_buckets": MINHASH.num_buckets,
                    "hashes_per_bucket": MINHASH.hashes_per_bucket,
                    "hash": f"{MINHASH.hash_config.hash_fc}-{MINHASH.hash_config.precision}",
                    "text": "context_before + context_after, lower-cased, punctuation and digits normalised",
                },
                pair_probability="1 - (1 - s**8)**14 for word-5-gram Jaccard similarity s (0.5 at s~0.68, 0.92 at s=0.8)",
                triplets_in=extracted,
                removed=near,
                share_removed=round(near / extracted, 6) if extracted else 0.0,
            )
        engine_stats = _engine_stats(work)
        filtered = _filtered(engine_stats)
        if filtered:
            counts["papers_filtered"] = filtered
        if licenses:
            counts["per_license"] = dict(licenses.most_common())
        manifest = {
            "formulaforge_version": __version__,
            "created_unix": int(time.time()),
            "build_seconds": round(time.perf_counter() - t0, 2),
            "sources": info["sources"],
            "settings": {**_settings(cfg), **info["settings"]},
            "counts": counts,
            "subsets": subsets,
            "near_duplicates": near_info,
            "engine": {**info["engine"], "stats": engine_stats},
            "warnings": warnings,
            "errors": errors,
            "documents": documents,
        }
        write_json_atomic(tmp / "manifest.json", manifest)
    return manifest


def _order(rec: dict[str, Any]) -> list[int]:
    return rec["order"]


def _filtered(engine_stats: dict[str, Any]) -> dict[str, int]:
    """Papers the metadata filter dropped, by reason (from the filter block's datatrove stats)."""
    for block in engine_stats.get("extract", {}).get("blocks", []):
        if block["name"].endswith(MetadataFilter.name):
            stats = block["stats"]
            return {k[len("dropped_") :]: _total(v) for k, v in stats.items() if k.startswith("dropped_")}
    return {}


def _total(value: Any) -> int:
    return int(value["total"] if isinstance(value, dict) else value)


def _engine_stats(work: Path) -> dict[str, Any]:
    """datatrove's per-block statistics, summed over the tasks of each stage (tasks done so far)."""
    from datatrove.utils.stats import PipelineStats

    out: dict[str, Any] = {}
    logs = work / "logs"
    for stage in ("extract", "buckets", "cluster"):
        files = sorted((logs / stage / "stats").glob("*.json")) if (logs / stage).is_dir() else []
        if not files:
            continue
        total = PipelineStats()
        for f in files:
            total += PipelineStats.from_json(json.loads(f.read_text(encoding="utf-8")))
        out[stage] = {"tasks": len(files), "blocks": json.loads(total.to_json())}
    return out
