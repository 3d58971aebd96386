"""Turn documents into (context before, formula, context after) triplets, following the paper.

Context rule (ContextFormulas, Sec. 3): when a formula's paragraph holds no other display
formula, the whole paragraph is its context; otherwise the context runs only to the
neighbouring formula on each side, so neighbouring contexts may overlap. One choice the
paper leaves open: a display set off by blank lines would otherwise sit in a paragraph of
its own; we then take the adjacent paragraph on that side (that is what the author's
blank line separates it from), never crossing another display.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from formulaforge.datasets.prose import DEFAULT_RULES, ProseRules, clean_prose
from formulaforge.datasets.tokens import TokenCounter
from formulaforge.datasets.validate import context_problems, formula_problems
from formulaforge.sources.docstrings import Docstring
from formulaforge.sources.latex_docs import LatexDocument
from formulaforge.sources.latex_scan import _DIAGRAM_IN_MATH, Display, scan
from formulaforge.sources.macros import MacroExpansionError, MacroTable, read_group

_LABEL_CMDS = re.compile(
    r"\\(?:label|tag\*?|index|hypertarget|phantomsection)\s*(?=\{)|\\(?:nonumber|notag|noindent|phantomsection)(?![A-Za-z@])"
)
_WS = re.compile(r"\s+")
_PAREN_MATH = re.compile(r"\\\((.*?)\\\)", re.DOTALL)
_ALIGNAT_ARG = re.compile(r"^\s*\{[^{}]*\}")
_ENV_WRAP = re.compile(
    r"\\(?:begin|end)\s*\{(?:lemma|theorem|proposition|corollary|definition|remark|example|"
    r"proof|exercise|claim|conjecture|situation|slogan|reference|history|quote|center|"
    r"itemize|enumerate|description|multicols)\*?\}(?:\[[^\]]*\])?"
)


@dataclass
class Settings:
    min_context_tokens: int = 32
    keep_diagrams: bool = False
    max_formula_chars: int = 4000
    prose: ProseRules = field(default_factory=ProseRules)


@dataclass
class DocStats:
    displays: int = 0
    diagrams: int = 0
    kept: int = 0
    contexts_trimmed: int = 0  # context sides cut short at a macro that could not be expanded
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, why: str) -> None:
        self.dropped[why] = self.dropped.get(why, 0) + 1


def remove_commands(text: str, with_arg: re.Pattern[str] = _LABEL_CMDS) -> str:
    """Delete ``\\label{..}``, ``\\tag{..}``, ``\\nonumber``, ``\\notag`` (and index/anchor marks)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in with_arg.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos : m.start()])
        pos = m.end()
        if pos < len(text) and text[pos] == "{":  # the pattern stops before the brace
            g = read_group(text, pos)
            if g is not None:
                pos = g[1]
    out.append(text[pos:])
    return "".join(out)


_TEXT_CMD = re.compile(r"\\(text|textrm|textnormal|textup|textsf|textit|textbf|mbox|hbox)\s*(?=\{)")
_DOLLAR_SPLIT = re.compile(r"(?<!\\)\$")


def _balanced(s: str) -> bool:
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(s[i], 0)
        if depth < 0:
            return False
        i += 1
    return depth == 0


def lift_text_math(formula: str) -> str:
    """``\\text{if $x>0$}`` -> ``\\text{if }x>0``: the same rendering without a math delimiter.

    Inline math inside text boxes is the main reason a display formula still holds a ``$``;
    splitting the box around it keeps those formulas (and their meaning) in the dataset.
    """
    if "$" not in formula or "\\" not in formula:
        return formula
    out: list[str] = []
    pos = 0
    for m in _TEXT_CMD.finditer(formula):
        if m.start() < pos:
            continue
        g = read_group(formula, m.end())
        if g is None:
            continue
        content, end = g
        parts = _DOLLAR_SPLIT.split(content)
        if len(parts) < 3 or len(parts) % 2 == 0 or not all(_balanced(p) for p in parts):
            continue
        cmd = m.group(0).rstrip()
        pieces = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                if part:
                    pieces.append(f"{cmd}{{{part}}}")
            else:
                pieces.append(f"{{{part}}}")
        out.append(formula[pos : m.start()])
        out.append("".join(pieces))
        pos = end
    out.append(formula[pos:])
    return "".join(out)


def clean_formula(body: str, env: str, macros: MacroTable) -> str:
    if env.startswith("alignat"):
        body = _ALIGNAT_ARG.sub("", body, count=1)
    body = macros.expand(body, "math")
    body = remove_commands(body)
    return lift_text_math(body).strip()


def clean_context(text: str, macros: MacroTable, rules: ProseRules = DEFAULT_RULES) -> str:
    """Expanded, markup-free prose with inline math as ``$..$`` (rules: :mod:`formulaforge.datasets.prose`)."""
    text = macros.expand(text, "text")
    text = remove_commands(text)
    text = clean_prose(text, rules)
    text = _ENV_WRAP.sub(" ", text)
    if "\\(" in text:
        text = _PAREN_MATH.sub(lambda m: "$" + m.group(1) + "$", text)
    return _WS.sub(" ", text).strip()


_NON_SPACE = re.compile(r"\S")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_DOLLAR = re.compile(r"(?<!\\)\$")


def unrendered_pattern(macros: MacroTable) -> re.Pattern[str] | None:
    """Control words of user macros the table refused to expand (listed in the manifest)."""
    names = sorted((n for n in macros.unsupported if re.fullmatch(r"[A-Za-z@]+", n)), key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"\\(?:" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z@])")


def trim_unrendered(text: str, pattern: re.Pattern[str] | None, keep: str) -> tuple[str, bool]:
    """Cut a context at the sentences that still hold an unexpandable user macro in prose.

    Such a macro (``\\iftag{..}{..}{..}``, a definition built on ``\\ifx``) would teach the
    model raw markup that the author never meant to be read. ``keep="tail"`` (context
    before) keeps the sentences after the last one holding such a macro; ``keep="head"``
    (context after) keeps those before the first. Inline math is not looked into: a macro
    there is part of a formula, as in the formula itself. Returns the text and whether it
    was cut.
    """
    if keep not in ("head", "tail"):
        raise ValueError(f"keep must be 'head' or 'tail', got {keep!r}")
    if pattern is None or "\\" not in text:
        return text, False
    dollars = [m.start() for m in _DOLLAR.finditer(text)]
    hits = [m for m in pattern.finditer(text) if bisect.bisect_left(dollars, m.start()) % 2 == 0]
    if not hits:
        return text, False
    if keep == "tail":
        m = _SENTENCE_END.search(text, hits[-1].end())
        while m is not None and bisect.bisect_left(dollars, m.start()) % 2 == 1:
            m = _SENTENCE_END.search(text, m.end())
        return (text[m.end() :].strip() if m else ""), True
    cut = 0
    for m in _SENTENCE_END.finditer(text, 0, hits[0].start()):
        if bisect.bisect_left(dollars, m.start()) % 2 == 0:
            cut = m.end()
    return text[:cut].strip(), True


def _has_text(text: str, start: int, end: int) -> bool:
    return start < end and _NON_SPACE.search(text, start, end) is not None


def _context_bounds(
    text: str,
    d: Display,
    prev_end: int,
    next_start: int,
    break_starts: Sequence[int],
    breaks: Sequence[tuple[int, int]],
) -> tuple[int, int]:
    """Start of the context before ``d`` and end of the context after it (see module doc).

    Linear overall: "is there text between the break and the display" is a search that
    stops at the first non-space character, never a copy of the span (a paragraph with a
    million displays used to copy it once per display).
    """
    i = bisect.bisect_right(break_starts, d.start) - 1
    start = prev_end
    while i >= 0:
        b_start, b_end = breaks[i]
        if b_end > d.start:
            i -= 1
            continue
        if _has_text(text, max(b_end, prev_end), d.start):
            start = max(prev_end, b_end)
            break
        if b_end <= prev_end:  # the previous display is nearer than any text: stop there
            break
        if b_start == b_end:  # a sectioning command or \item: never crossed
            start = b_end
            break
        i -= 1  # blank line right before the display: take the paragraph before it
    else:
        start = prev_end
    j = bisect.bisect_left(break_starts, d.end)
    end = next_start
    while j < len(breaks):
        b_start, b_end = breaks[j]
        if _has_text(text, d.end, min(b_start, next_start)) or b_start == b_end:
            end = min(next_start, b_start)  # a sectioning command or \item (zero-width) is never crossed
            break
        if b_start >= next_start:
            break
        j += 1
    return start, end


def latex_triplets(
    doc: LatexDocument,
    settings: Settings,
    count_tokens: TokenCounter,
    stats: DocStats,
    problems: list[tuple[str, str]],
    deadline: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield triplet dicts (without id/split) for one flattened LaTeX document.

    ``deadline`` (a ``time.process_time()`` value): past it, :class:`TimeoutError` is raised
    (checked every 256 displays; the builder also arms a CPU timer where it can).
    """
    text = doc.flat.text
    res = scan(text, doc.body_start, doc.body_end)
    for off, why in res.problems:
        f, line = doc.flat.locate(off)
        problems.append((f"{f}:{line}", why))
    displays = res.displays
    break_starts = res.breaks.starts
    unrendered = unrendered_pattern(doc.macros)
    for k, d in enumerate(displays):
        if deadline is not None and k % 256 == 0 and time.process_time() > deadline:
            raise TimeoutError("per-document CPU budget exhausted")
        if d.broken:
            continue
        stats.displays += 1
        if d.diagram:
            stats.diagrams += 1
            if not settings.keep_diagrams:
                continue
        prev_end = displays.end[k - 1] if k > 0 else doc.body_start
        next_start = displays.start[k + 1] if k + 1 < len(displays) else doc.body_end
        c_start, c_end = _context_bounds(text, d, prev_end, next_start, break_starts, res.breaks)
        raw = text[d.body_start : d.body_end]
        macros = doc.macros.at(d.start)
        try:
            formula = clean_formula(raw, d.env, macros)
            before = clean_context(text[c_start : d.start], macros, settings.prose)
            after = clean_context(text[d.end : c_end], macros, settings.prose)
            before, cut_before = trim_unrendered(before, unrendered, "tail")
            after, cut_after = trim_unrendered(after, unrendered, "head")
            stats.contexts_trimmed += cut_before + cut_after
        except MacroExpansionError as exc:
            f, line = doc.flat.locate(d.start)
            problems.append((f"{f}:{line}", f"formula dropped: {exc}"))
            stats.drop("runaway macro expansion")
            continue
        if not d.diagram and _DIAGRAM_IN_MATH.search(formula):  # a macro expanded to \xymatrix
            stats.diagrams += 1
            if not settings.keep_diagrams:
                continue
        why = _reject(formula, before, after, settings, count_tokens)
        if why:
            stats.drop(why)
            continue
        file_start, line_start = doc.flat.locate(d.start)
        _, line_end = doc.flat.locate(max(d.start, d.end - 1))
        stats.kept += 1
        yield {
            "doc_id": doc.doc_id,
            "source_file": file_start,
            "env": d.env,
            "formula": formula,
            "context_before": before,
            "context_after": after,
            "offsets": {
                "char_start": d.start,
                "char_end": d.end,
                "line_start": line_start,
                "line_end": line_end,
            },
        }


def _reject(
    formula: str, before: str, after: str, settings: Settings, count_tokens: TokenCounter
) -> str | None:
    fp = formula_problems(formula)
    if fp:
        return fp[0]
    if len(formula) > settings.max_formula_chars:
        return "formula too long"
    cp = context_problems(before) + context_problems(after)
    if cp:
        return cp[0]
    if count_tokens(before) + count_tokens(after) < settings.min_context_tokens:
        return "context too short"
    return None


def docstring_triplets(
    doc_id: str,
    source_file: str,
    docstrings: list[Docstring],
    settings: Settings,
    count_tokens: TokenCounter,
    stats: DocStats,
) -> Iterator[dict[str, Any]]:
    """Triplets from parsed docstrings, by the paper's "up to the neighbouring formula" rule.

    reStructuredText forces a blank line around every ``.. math::`` directive, so a math
    block never shares a paragraph with its prose; we therefore treat the docstring as
    the paragraph and take all prose up to the neighbouring math block on each side.
    """
    empty = MacroTable()
    for ds in docstrings:
        blocks = ds.blocks
        for k, b in enumerate(blocks):
            if b.kind != "math":
                continue
            stats.displays += 1
            before_parts: list[str] = []
            j = k - 1
            while j >= 0 and blocks[j].kind == "prose":
                before_parts.insert(0, blocks[j].text)
                j -= 1
            after_parts: list[str] = []
            j = k + 1
            while j < len(blocks) and blocks[j].kind == "prose":
                after_parts.append(blocks[j].text)
                j += 1
            formula = clean_formula(b.text, "math", empty)
            before = clean_context(" ".join(before_parts), empty)
            after = clean_context(" ".join(after_parts), empty)
            why = _reject(formula, before, after, settings, count_tokens)
            if why:
                stats.drop(why)
                continue
            stats.kept += 1
            yield {
                "doc_id": doc_id,
                "source_file": source_file,
                "env": "math",
                "formula": formula,
                "context_before": before,
                "context_after": after,
                "offsets": {
                    "char_start": b.offset,
                    "char_end": b.offset + len(b.text),
                    "line_start": b.line,
                    "line_end": b.line + b.text.count("\n"),
                },
            }
