"""What each datatrove task reads: inputs in one global order, and a task's share of them.

Every paper gets an order key ``(input index, member index)``: bulk tars contribute one
key per member, other sources (folders, archives, docstrings) one per discovered document.
The final dataset is assembled in this order whatever the number of tasks, so --tasks,
--workers and the executor never change the output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.sources.arxiv_bulk import is_bulk_tar, list_bulk_tars


@dataclass(frozen=True)
class Input:
    kind: str  # "bulk" (an arXiv bulk tar URL) | "spec" (one discovered document)
    source: str  # the SOURCE argument it came from
    url: str = ""
    spec: Any = None


@dataclass
class Plan:
    inputs: list[Input]
    errors: list[dict[str, str]] = field(default_factory=list)  # discovery problems, for the manifest
    fingerprint: list[Any] = field(default_factory=list)  # what identifies the input (paths, sizes)

    def share(self, rank: int, world_size: int) -> list[tuple[int, Input, tuple[int, int] | None]]:
        """Task ``rank``'s inputs: ``(input index, input, member slice (k, n) or None for all)``.

        With at least as many inputs as tasks each task takes whole inputs; with fewer (one big
        tar, many cores) every task reads every tar and takes the members ``i % n == k``.
        """
        if len(self.inputs) >= world_size:
            return [(i, x, None) for i, x in enumerate(self.inputs) if i % world_size == rank]
        out: list[tuple[int, Input, tuple[int, int] | None]] = []
        for i, x in enumerate(self.inputs):
            if x.kind == "bulk":
                out.append((i, x, (rank, world_size)))
            elif i % world_size == rank:
                out.append((i, x, None))
        return out


def is_remote(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def needs_engine(sources: list[str], storage_options: dict[str, Any] | None = None) -> bool:
    """True when a source holds arXiv bulk tars or is a remote URL: only the engine reads those."""
    for s in sources:
        if s.startswith("docstrings:"):
            continue
        if is_remote(s) or is_bulk_tar(s):
            return True
        p = Path(s).expanduser()
        if p.is_dir() and any(is_bulk_tar(f) for _, _, files in os.walk(p) for f in files):
            return True
    return False


def make_plan(sources: list[str], storage_options: dict[str, Any] | None = None) -> Plan:
    """List bulk tars (cheap) and discover other documents the way ``data build`` does."""
    from formulaforge.datasets.builder import DEFAULT_SOURCE, discover_sources

    inputs: list[Input] = []
    errors: list[dict[str, str]] = []
    fingerprint: list[Any] = []
    for src in sources or [DEFAULT_SOURCE]:
        bulk = [] if src.startswith("docstrings:") else list_bulk_tars(src, storage_options)
        if bulk or is_remote(src):
            for url in bulk:
                inputs.append(Input("bulk", src, url=url))
                fingerprint.append([url, file_stamp(url, storage_options)])
            continue
        specs, errs = discover_sources([src])
        inputs.extend(Input("spec", src, spec=s) for s in specs)
        errors.extend(errs)
        fingerprint.append([src, [s.doc_id for s in specs]])
    return Plan(inputs, errors, fingerprint)


def file_stamp(url: str, storage_options: dict[str, Any] | None) -> list[Any]:
    """``[size, mtime or ETag]`` of a file: a changed input must not reuse old results."""
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url, **(storage_options or {}))
        info = fs.info(path)
    except (OSError, ValueError):
        return []
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag")
    return [info.get("size"), None if stamp is None else str(stamp)]
