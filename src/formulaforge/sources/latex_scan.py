"""Find display formulas and paragraph boundaries in flattened LaTeX, in one linear pass.

A single tokenising regex feeds a small state machine (text / inline math / display
math / verbatim). ``\\\\`` is consumed as a token first, so ``\\\\[2pt]`` is never
mistaken for ``\\[``; ``\\$`` is a dollar sign. Unbalanced constructs are reported with
their offset and skipped, and scanning resynchronises at the next paragraph or display.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

_MATH_ENV_NAMES = (
    "equation",
    "align",
    "gather",
    "multline",
    "eqnarray",
    "flalign",
    "alignat",
    "displaymath",
    "dmath",
)
DISPLAY_ENVS = frozenset(n for base in _MATH_ENV_NAMES for n in (base, base + "*"))
# Display-level diagrams: they end a context like a formula but are pictures, not formulas.
DIAGRAM_ENVS = frozenset({"tikzcd", "CD", "xy", "tikzpicture", "prooftree"})
VERBATIM_ENVS = frozenset({"verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "comment", "alltt"})
# Environments that sit inside a line of text; every other \begin/\end in text mode starts a new
# paragraph in LaTeX (theorem-likes, proofs, lists, center, quote, floats, boxes), so it bounds contexts.
INLINE_ENVS = frozenset(
    [
        "math",
        "tabular",
        "tabular*",
        "tabularx",
        "minipage",
        "array",
        "cases",
        "split",
        "aligned",
        "gathered",
        "alignedat",
        "matrix",
        "pmatrix",
        "bmatrix",
        "Bmatrix",
        "vmatrix",
        "Vmatrix",
        "smallmatrix",
        "document",
    ]
)
_DIAGRAM_IN_MATH = re.compile(r"\\(xymatrix|xygraph|begin\s*\{(?:tikzcd|CD|xy|tikzpicture|picture)\})")
MAX_DISPLAY_CHARS = 20_000

_TOKEN = re.compile(
    r"\\\\"
    r"|\\\$"
    r"|\$\$"
    r"|\$"
    r"|\\\[|\\\]|\\\(|\\\)"
    r"|\\begin\s*\{([^{}]*)\}"
    r"|\\end\s*\{([^{}]*)\}"
    r"|\\verb\*?([^A-Za-z\s*])"
    r"|\n[ \t]*\n(?:[ \t]*\n)*"
    r"|\\(?:part|chapter|section|subsection|subsubsection|paragraph|item)\*?(?![A-Za-z@])"
)

TEXT, INLINE_DOLLAR, INLINE_PAREN, DISPLAY = range(4)


@dataclass(frozen=True)
class Display:
    """One display block: ``env`` is the environment name, ``$$`` or ``\\[``."""

    env: str
    start: int
    end: int
    body_start: int
    body_end: int
    diagram: bool = False
    broken: bool = False  # unbalanced: not a formula, but it still bounds the contexts around it


class DisplayList(Sequence[Display]):
    """Displays stored column-wise in arrays (about 35 bytes each instead of ~250 for objects):
    a line of a million ``$$`` must not cost a million Python objects (issue 17, item 4b)."""

    def __init__(self) -> None:
        self._envs: list[str] = []
        self._env_ids: dict[str, int] = {}
        self.env_id = array("H")
        self.start = array("q")
        self.end = array("q")
        self.body_start = array("q")
        self.body_end = array("q")
        self.flags = array("B")  # 1: diagram, 2: broken

    def append(self, d: Display) -> None:
        k = self._env_ids.setdefault(d.env, len(self._envs))
        if k == len(self._envs):
            self._envs.append(d.env)
        self.env_id.append(k)
        self.start.append(d.start)
        self.end.append(d.end)
        self.body_start.append(d.body_start)
        self.body_end.append(d.body_end)
        self.flags.append(int(d.diagram) | 2 * int(d.broken))

    def __len__(self) -> int:
        return len(self.start)

    @overload
    def __getitem__(self, i: int) -> Display: ...
    @overload
    def __getitem__(self, i: slice) -> list[Display]: ...
    def __getitem__(self, i: int | slice) -> Display | list[Display]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        f = self.flags[i]
        return Display(
            self._envs[self.env_id[i]],
            self.start[i],
            self.end[i],
            self.body_start[i],
            self.body_end[i],
            bool(f & 1),
            bool(f & 2),
        )

    def __iter__(self) -> Iterator[Display]:
        return (self[k] for k in range(len(self)))


class BreakList(Sequence[tuple[int, int]]):
    """Paragraph boundaries ``(start, end)`` in two arrays; ``starts`` is sorted (for bisect)."""

    def __init__(self) -> None:
        self.starts = array("q")
        self.ends = array("q")

    def append(self, b: tuple[int, int]) -> None:
        self.starts.append(b[0])
        self.ends.append(b[1])

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, i: int) -> tuple[int, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return (self.starts[i], self.ends[i])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts, self.ends)


@dataclass
class ScanResult:
    displays: DisplayList = field(default_factory=DisplayList)
    # Paragraph boundaries in text mode as (start, end) spans; sectioning commands and \item are zero-width.
    breaks: BreakList = field(default_factory=BreakList)
    problems: list[tuple[int, str]] = field(default_factory=list)


def scan(text: str, start: int = 0, end: int | None = None) -> ScanResult:
    """Scan ``text[start:end]``; all offsets in the result index ``text``."""
    end = len(text) if end is None else end
    res = ScanResult()
    state = TEXT
    open_pos = 0
    open_body = 0
    open_env = ""
    nest = 0  # \begin..\end depth inside the open display (blank lines are legal in a nested tikzpicture)
    pos = start
    tokens = _TOKEN.finditer(text, start, end)
    for m in tokens:
        if m.start() < pos:
            continue
        tok = m.group(0)
        c0 = tok[0]
        if state == TEXT:
            if tok == "$$":
                state, open_env, open_pos, open_body = DISPLAY, "$$", m.start(), m.end()
            elif tok == "$":
                state, open_pos = INLINE_DOLLAR, m.start()
            elif tok == "\\(":
                state, open_pos = INLINE_PAREN, m.start()
            elif tok == "\\[":
                state, open_env, open_pos, open_body = DISPLAY, "\\[", m.start(), m.end()
            elif m.group(1) is not None:
                env = m.group(1).strip()
                if env in DISPLAY_ENVS or env in DIAGRAM_ENVS:
                    state, open_env, open_pos, open_body = DISPLAY, env, m.start(), m.end()
                elif env in VERBATIM_ENVS:
                    close = re.compile(r"\\end\s*\{" + re.escape(env) + r"\}").search(text, m.end(), end)
                    if close is None:
                        res.problems.append((m.start(), f"unterminated {env} environment"))
                        pos = end
                    else:
                        pos = close.end()
                elif env not in INLINE_ENVS:
                    res.breaks.append((m.start(), m.start()))
            elif m.group(2) is not None:
                if m.group(2).strip() not in INLINE_ENVS:
                    res.breaks.append((m.start(), m.start()))
            elif m.group(3) is not None:
                close_at = text.find(m.group(3), m.end(), end)
                nl = text.find("\n", m.end(), end)
                if close_at < 0 or (0 <= nl < close_at):
                    res.problems.append((m.start(), "unterminated \\verb"))
                else:
                    pos = close_at + 1
            elif c0 == "\n":
                res.breaks.append((m.start(), m.end()))
            elif tok.startswith("\\") and tok[1:2].isalpha() and not tok.startswith(("\\begin", "\\end")):
                res.breaks.append((m.start(), m.start()))
        elif state == INLINE_DOLLAR:
            if tok == "$":
                state = TEXT
            elif tok == "$$":  # "$a$$b$": one inline formula closes, the next opens
                state, open_pos = INLINE_DOLLAR, m.start() + 1
            elif c0 == "\n":
                res.problems.append((open_pos, "unbalanced $: paragraph ended inside inline math"))
                res.breaks.append((m.start(), m.end()))
                state = TEXT
        elif state == INLINE_PAREN:
            if tok == "\\)":
                state = TEXT
            elif c0 == "\n":
                res.problems.append((open_pos, "unbalanced \\(: paragraph ended inside inline math"))
                res.breaks.append((m.start(), m.end()))
                state = TEXT
        else:  # DISPLAY
            closed = False
            if open_env == "$$":
                closed = tok == "$$"
            elif open_env == "\\[":
                closed = tok == "\\]"
            elif m.group(2) is not None and m.group(2).strip() == open_env:
                closed = True
            if m.group(1) is not None and m.group(1).strip() not in DISPLAY_ENVS:
                nest += 1
                continue
            if m.group(2) is not None and not closed:
                nest = max(0, nest - 1)
                continue
            if closed:
                nest = 0
                if m.start() - open_body > MAX_DISPLAY_CHARS:
                    res.problems.append(
                        (open_pos, f"{_label(open_env)} longer than {MAX_DISPLAY_CHARS} characters (skipped)")
                    )
                    res.displays.append(
                        Display(open_env, open_pos, m.end(), open_body, m.start(), broken=True)
                    )
                else:
                    body = text[open_body : m.start()]
                    diagram = open_env in DIAGRAM_ENVS or bool(_DIAGRAM_IN_MATH.search(body))
                    res.displays.append(Display(open_env, open_pos, m.end(), open_body, m.start(), diagram))
                state = TEXT
                continue
            reopen = (
                (m.group(1) is not None and m.group(1).strip() in DISPLAY_ENVS)
                or (open_env in ("$$", "\\[") and c0 == "\n" and nest == 0)
                or (open_env != "$$" and tok == "$$")
                or (open_env != "\\[" and tok == "\\[")
            )
            if reopen:
                nest = 0
                res.problems.append((open_pos, f"unbalanced {_label(open_env)}: no matching close (skipped)"))
                res.displays.append(Display(open_env, open_pos, m.start(), open_body, m.start(), broken=True))
                state = TEXT
                if c0 == "\n":
                    res.breaks.append((m.start(), m.end()))
                elif tok == "$$":
                    state, open_env, open_pos, open_body = DISPLAY, "$$", m.start(), m.end()
                elif tok == "\\[":
                    state, open_env, open_pos, open_body = DISPLAY, "\\[", m.start(), m.end()
                else:
                    env = m.group(1).strip()
                    state, open_env, open_pos, open_body = DISPLAY, env, m.start(), m.end()
    if state == DISPLAY:
        res.problems.append((open_pos, f"unbalanced {_label(open_env)}: document ended inside it (skipped)"))
        res.displays.append(Display(open_env, open_pos, end, open_body, end, broken=True))
    elif state in (INLINE_DOLLAR, INLINE_PAREN):
        res.problems.append((open_pos, "unbalanced inline math at end of document"))
    return res


def _label(env: str) -> str:
    return env if env in ("$$", "\\[") else f"\\begin{{{env}}}"
