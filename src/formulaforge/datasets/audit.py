"""Audit contexts: flag the junk a researcher would reject, and sample triplets for review by eye.

The checks are deliberately independent of the cleaning code (they re-read the emitted text
with their own patterns), so a cleaner bug shows up as a flagged share instead of hiding.
Kinds counted as defects (``DEFECT_KINDS``):

* ``control_sequence``: a LaTeX control word outside ``$...$`` that is not on the short
  whitelist (``WHITELIST``: text styling such as ``\\emph``, dots, accents, ``\\S``);
* ``rest_markup``: reStructuredText left in prose (roles, backticks, ``.. directive``,
  ``[Name74]_`` citations, `` `text <url>`_ `` links);
* ``signature``: a call signature line such as ``gelu(input, approximate='none') -> Tensor``;
* ``heading``: sectioning commands, ``\\item``, ``\\begin``/``\\end`` wrappers, docstring
  section labels (``Args:``, ``Returns:``) and numpydoc parameter lists (``alpha : float``);
* ``long_context``: one side longer than ``LONG_CONTEXT_WORDS`` words (a missed boundary).

``empty_side`` is reported too but is not a defect: a paragraph that starts (or ends) with
its display has nothing on that side, and padding it with a neighbour's text is worse.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFECT_KINDS = ("control_sequence", "rest_markup", "signature", "heading", "long_context")
INFO_KINDS = ("empty_side",)
LONG_CONTEXT_WORDS = 400

# Control words that read naturally in prose (styling, dots, accents and special letters).
WHITELIST = frozenset(
    [
        "emph",
        "textbf",
        "textit",
        "texttt",
        "textsc",
        "textsl",
        "textup",
        "textrm",
        "textsf",
        "textnormal",
        "underline",
        "ldots",
        "dots",
        "S",
        "P",
        "TeX",
        "LaTeX",
        "i",
        "j",
        "o",
        "O",
        "l",
        "L",
        "c",
        "v",
        "H",
        "u",
        "b",
        "d",
        "t",
        "k",
        "r",
        "aa",
        "AA",
        "ae",
        "AE",
        "oe",
        "OE",
        "ss",
    ]
)

_INLINE_MATH = re.compile(r"(?<!\\)\$(?:[^$\\]|\\.)*(?<!\\)\$|\\\((?:.|\n)*?\\\)")
_CONTROL_WORD = re.compile(r"\\([A-Za-z@]+)")
_REST = re.compile(
    r":[a-z][a-z0-9_-]*:`"  # :role:`x`
    r"|`[^`\n]+`_{1,2}(?!\w)"  # `link <url>`_ / `word`_
    r"|``(?:(?!'')[^`\n])+``"  # ``literal`` (LaTeX quotes ``like this'' are not)
    r"|(?<![\\$\w`])`[^`'$\n]+`(?![\w'])"  # `interpreted text` (not LaTeX `quotes')
    r"|(?:^|\s)\.\.\s+[A-Za-z_-]+::"  # .. directive::
    r"|(?:^|\s)\.\.\s+(?:\[|_|TODO)"  # .. [1] / .. _target / .. TODO
    r"|\[[A-Za-z][\w.-]*\]_"  # [Edmonds74]_
)
_SIGNATURE = re.compile(
    r"(?:^|\s)[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*\)\s*->\s*[\w(\[]"
    r"|^[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*=(?:[^()]|\([^()]*\))*\)"
)
_HEADING = re.compile(
    r"\\(?:part|chapter|section|subsection|subsubsection|paragraph|subparagraph|item)\*?(?![A-Za-z@])"
    r"|\\(?:begin|end)\s*\{"
    r"|(?:^|[\s.])(?:Args|Arguments|Returns|Yields|Raises|Parameters|Attributes|Examples?|References|"
    r"See [Aa]lso|Keyword [Aa]rg(?:ument)?s|Other Parameters|Shape|Methods)\s*:(?:\s|$)"
    r"|(?:^|[.;:]\s+)[A-Za-z_]\w* : (?:[A-Za-z_]|\{)"  # numpydoc parameter line "alpha : float"
)


def strip_inline_math(text: str) -> str:
    """Prose with ``$...$`` and ``\\(..\\)`` spans removed (what the prose checks look at)."""
    return _INLINE_MATH.sub(" ", text) if ("$" in text or "\\(" in text) else text


def context_kinds(context: str) -> set[str]:
    """Defect kinds found in one context (an empty context has none)."""
    kinds: set[str] = set()
    if not context:
        return kinds
    prose = strip_inline_math(context)
    if "\\" in prose:
        if any(w not in WHITELIST for w in _CONTROL_WORD.findall(prose)):
            kinds.add("control_sequence")
        if _HEADING.search(prose):
            kinds.add("heading")
    elif _HEADING.search(prose):
        kinds.add("heading")
    if _REST.search(prose):
        kinds.add("rest_markup")
    if _SIGNATURE.search(prose):
        kinds.add("signature")
    if len(context.split()) > LONG_CONTEXT_WORDS:
        kinds.add("long_context")
    return kinds


def triplet_kinds(row: dict[str, Any]) -> set[str]:
    """Defect and info kinds of one triplet (both contexts)."""
    before, after = row.get("context_before") or "", row.get("context_after") or ""
    kinds = context_kinds(before) | context_kinds(after)
    if not before.strip() or not after.strip():
        kinds.add("empty_side")
    return kinds


@dataclass
class AuditCounts:
    """Running counts, cheap enough to keep inside a build."""

    triplets: int = 0
    flagged: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, row: dict[str, Any]) -> set[str]:
        kinds = triplet_kinds(row)
        self.triplets += 1
        self.by_kind.update(kinds)
        if kinds.intersection(DEFECT_KINDS):
            self.flagged += 1
        return kinds

    def share(self, n: int) -> float:
        return round(100.0 * n / self.triplets, 2) if self.triplets else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "triplets": self.triplets,
            "flagged": self.flagged,
            "flagged_percent": self.share(self.flagged),
            "by_kind": {k: self.by_kind.get(k, 0) for k in DEFECT_KINDS + INFO_KINDS},
            "rules": "formulaforge.datasets.audit (docs/datasets.md, 'Acceptance rubric')",
        }

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {self.share(self.by_kind[k])}%" for k in DEFECT_KINDS if self.by_kind.get(k))
        return (
            f"audit: {self.share(self.flagged)}% of {self.triplets} triplets flagged"
            + (f" ({kinds})" if kinds else "")
            + f"; empty side {self.share(self.by_kind.get('empty_side', 0))}% (allowed)"
        )


@dataclass
class AuditReport:
    counts: AuditCounts
    samples: list[tuple[dict[str, Any], set[str]]]


def iter_triplets(data_dir: Path) -> Iterable[dict[str, Any]]:
    path = Path(data_dir) / "triplets.jsonl"
    if not path.is_file():
        raise ValueError(
            f"{data_dir} has no triplets.jsonl (not a dataset built by `formulaforge data build`)"
        )
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{n}: not a JSON line") from None


def audit_dataset(data_dir: Path, sample: int = 30, seed: int = 0) -> AuditReport:
    """Count defect kinds over every triplet and draw ``sample`` rows uniformly (reservoir, seeded)."""
    counts = AuditCounts()
    rng = random.Random(seed)
    reservoir: list[tuple[dict[str, Any], set[str]]] = []
    for i, row in enumerate(iter_triplets(data_dir)):
        kinds = counts.add(row)
        if len(reservoir) < sample:
            reservoir.append((row, kinds))
        else:
            j = rng.randrange(i + 1)
            if j < sample:
                reservoir[j] = (row, kinds)
    return AuditReport(counts, reservoir)


def review_page(report: AuditReport, title: str) -> str:
    """A Markdown page with each sampled triplet, its location and flags, and a verdict line to fill in."""
    c = report.counts
    lines = [
        f"# Context review: {title}",
        "",
        c.summary(),
        "",
        "Score each sample against the rubric in docs/datasets.md ('Acceptance rubric'):",
        "write `ok` or `reject: reason` on its verdict line.",
        "",
    ]
    for n, (row, kinds) in enumerate(report.samples, 1):
        off = row.get("offsets") or {}
        where = f"{row.get('source_file', '?')}:{off.get('line_start', '?')}"
        flags = ", ".join(sorted(kinds)) or "none"
        lines += [
            f"## {n}. `{row.get('id', '?')}` ({row.get('doc_id', '?')})",
            "",
            f"- location: `{where}`, env `{row.get('env', '?')}`, flags: {flags}",
            f"- **before:** {row.get('context_before') or '*(empty)*'}",
            "",
            "```latex",
            row.get("formula", ""),
            "```",
            "",
            f"- **after:** {row.get('context_after') or '*(empty)*'}",
            "- verdict: ",
            "",
        ]
    return "\n".join(lines)
