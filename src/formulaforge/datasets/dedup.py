r"""Duplicate keys for triplets: exact text and a normalised formula key.

``canonical_formula_key`` is :func:`formulaforge.formula.normalize` (layout, spacing,
synonyms, script braces) with all whitespace removed, so ``\dfrac{a}{b}\,.`` and
``\frac{a}{b}`` collide. Arguments are not braced for it: ``\frac a b`` keys as ``\fracab``,
apart from ``\frac{a}{b}`` (a missed duplicate, never a false one: no real command is spelt
like a control word run into its arguments). The builder only calls this function.
"""

from __future__ import annotations

import hashlib
import re

from formulaforge.formula import normalize

_WS = re.compile(r"\s+")


def canonical_formula_key(formula: str) -> str:
    """Normalized, whitespace-free key: spelling variants of one formula collide."""
    return _WS.sub("", normalize(formula))


def hash64(*parts: str) -> int:
    """A stable 64-bit hash (memory-light keys for dedup sets and ranking)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big")


class Deduplicator:
    """Streaming dedup. ``mode="formula"`` drops a triplet whose normalised formula was seen
    (the default: no formula twice, so no formula leaks across splits); ``mode="triplet"``
    drops only repeats of the same normalised formula *in the same context*."""

    def __init__(self, mode: str = "formula") -> None:
        if mode not in ("formula", "triplet"):
            raise ValueError(f"dedup mode must be 'formula' or 'triplet', not {mode!r}")
        self.mode = mode
        self.exact: set[int] = set()
        self.normalised: set[int] = set()
        self.dropped_exact = 0
        self.dropped_normalised = 0

    def seen(self, formula: str, before: str, after: str) -> bool:
        exact = hash64(formula, before, after)
        if exact in self.exact:
            self.dropped_exact += 1
            return True
        key = canonical_formula_key(formula)
        norm = (
            hash64(key)
            if self.mode == "formula"
            else hash64(key, _WS.sub(" ", before).strip(), _WS.sub(" ", after).strip())
        )
        if norm in self.normalised:
            self.dropped_normalised += 1
            self.exact.add(exact)
            return True
        self.exact.add(exact)
        self.normalised.add(norm)
        return False
