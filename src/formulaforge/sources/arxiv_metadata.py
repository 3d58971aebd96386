"""The arXiv metadata snapshot (JSON lines: id, categories, license, ...) as a paper -> (categories, licence) map.

Only the two fields the filters and the manifest need are kept, and identical
(categories, licence) pairs share one object: abstracts, authors and version histories,
most of the file, are never held in memory.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

_VERSION = re.compile(r"v\d+$")
NO_LICENSE = "none"  # the snapshot's null licence: arXiv's default non-exclusive distribution licence


@dataclass(frozen=True)
class PaperMeta:
    categories: tuple[str, ...]
    license: str | None


def load_metadata(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, PaperMeta]:
    """Read a snapshot (plain or compressed, local or fsspec URL). Raises ``ValueError`` on a bad line."""
    import fsspec

    shared: dict[tuple[tuple[str, ...], str | None], PaperMeta] = {}
    out: dict[str, PaperMeta] = {}
    with fsspec.open(url, "rt", compression="infer", encoding="utf-8", **(storage_options or {})) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                pid = _VERSION.sub("", str(rec["id"]).strip())
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{url}: line {n} is not a metadata record with an 'id'") from None
            cats = tuple(str(rec.get("categories") or "").split())
            lic = rec.get("license") or None
            key = (cats, lic)
            meta = shared.get(key)
            if meta is None:
                meta = shared[key] = PaperMeta(cats, lic)
            out[pid] = meta
    return out


@dataclass(frozen=True)
class PaperFilter:
    """Keep papers with any category matching a pattern (``math.*``) and a licence matching one.

    Patterns are shell-style (fnmatch) on arXiv category codes and licence URLs; ``none``
    matches papers without an explicit licence. Empty pattern lists keep everything.
    """

    categories: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.categories or self.licenses)

    def reason(self, meta: PaperMeta | None) -> str | None:
        """``None`` to keep the paper, else the drop reason (a short stats label)."""
        if not self.active:
            return None
        if meta is None:
            return "not_in_metadata"
        if self.categories and not any(
            fnmatch.fnmatchcase(c, p) for c in meta.categories for p in self.categories
        ):
            return "category"
        if self.licenses:
            lic = meta.license or NO_LICENSE
            if not any(fnmatch.fnmatchcase(lic, p) for p in self.licenses):
                return "license"
        return None
