"""``datasets/extract.py`` helper by helper, with expectations worked out by hand (issue 22: the
mutation run of the module found these rules unpinned by the end-to-end tests).

Rules written down here:
* ``_balanced``: braces balance, a backslash escapes the next character, a ``}`` before its
  ``{`` is unbalanced even if the counts match.
* ``trim_unrendered``: a macro inside inline math is not a hit; ``tail`` keeps what follows
  the first sentence end (outside math) after the last hit; ``head`` keeps up to the last
  sentence end (outside math) before the first hit.
* ``_context_bounds``: a context never crosses a zero-width break (a sectioning command or
  ``\\item``); a blank line right before a display reaches back one paragraph.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from formulaforge.datasets import extract
from formulaforge.datasets.extract import (
    DocStats,
    Settings,
    _balanced,
    _context_bounds,
    _has_text,
    docstring_triplets,
    latex_triplets,
    trim_unrendered,
    unrendered_pattern,
)
from formulaforge.datasets.tokens import whitespace_tokens
from formulaforge.sources.docstrings import Block, Docstring
from formulaforge.sources.latex_docs import LatexDocSpec, load_document
from formulaforge.sources.macros import MacroTable


def test_balanced_braces_by_hand() -> None:
    cases = {"": True, "{a}": True, "{}": True, "{{}}": True, "a\\}b": True,
             "{x": False, "}{": False, "{}}": False, "\\{}": False, "\\a{": False, "\\\\{": False}
    assert {s: _balanced(s) for s in cases} == cases


def test_drop_counts_each_reason() -> None:
    stats = DocStats()
    for why in ("too short", "too long", "too short"):
        stats.drop(why)
    assert stats.dropped == {"too short": 2, "too long": 1}


def _pattern(*names: str) -> re.Pattern[str]:
    table = MacroTable()
    for n in names:
        table.unsupported[n] = "test"
    pat = unrendered_pattern(table)
    assert pat is not None
    return pat


def test_unrendered_pattern_matches_whole_control_words_of_any_case() -> None:
    assert unrendered_pattern(MacroTable()) is None
    pat = _pattern("foo", "Bar", "iftag", "not a word")
    found = [m.group(0) for m in pat.finditer(r"\foo, \Bar{1} \iftag{a} \fooX \foobar \Barb \foo@x \not")]
    assert found == [r"\foo", r"\Bar", r"\iftag"]


def test_trim_keeps_text_without_a_hit_outside_math() -> None:
    pat = _pattern("foo")
    for text in ("Plain words. More.", r"A \emph{b}. C.", r"Math $\foo x$ only. Done."):
        assert trim_unrendered(text, pat, "tail") == (text, False)
        assert trim_unrendered(text, pat, "head") == (text, False)
    assert trim_unrendered(r"A \foo b.", None, "tail") == (r"A \foo b.", False)


def test_trim_tail_skips_sentence_ends_inside_math() -> None:
    pat = _pattern("foo")
    assert trim_unrendered(r"A \foo b $x. y$ c. D e.", pat, "tail") == ("D e.", True)
    assert trim_unrendered(r"See $x$ and \foo here. Then more.", pat, "tail") == ("Then more.", True)
    assert trim_unrendered(r"A \foo b", pat, "tail") == ("", True)  # no sentence end after the hit
    # the first sentence end after the hit is inside the second inline math (4th dollar): skipped
    assert trim_unrendered(r"A \foo b $x$ c $y. z$ d. E.", pat, "tail") == ("E.", True)
    with pytest.raises(ValueError, match="keep must be 'head' or 'tail'"):
        trim_unrendered("x", pat, "both")


def test_trim_head_keeps_up_to_the_last_sentence_end_before_the_first_hit() -> None:
    pat = _pattern("foo")
    assert trim_unrendered(r"A $x. y$ b. C \foo. D.", pat, "head") == ("A $x. y$ b.", True)
    assert trim_unrendered(r"\foo a. B.", pat, "head") == ("", True)
    assert trim_unrendered(". \\foo x", pat, "head") == (".", True)  # a sentence end at offset 0 counts


def test_has_text_looks_only_inside_the_span() -> None:
    assert _has_text("a   b", 1, 4) is False
    assert _has_text("a   b", 1, 5) is True
    assert _has_text("a   b", 3, 3) is False


def _bounds(text: str, display: str, breaks: list[tuple[int, int]], prev_end: int = 0,
            next_start: int | None = None) -> str:
    start = text.index(display)
    d = SimpleNamespace(start=start, end=start + len(display))
    nxt = len(text) if next_start is None else next_start
    lo, hi = _context_bounds(text, d, prev_end, nxt, [b[0] for b in breaks], breaks)
    return text[lo : d.start] + "|" + text[d.end : hi]


def test_context_bounds_by_hand() -> None:
    text = "Para one.\n\nPara two. [D] tail"
    assert _bounds(text, "[D]", [(9, 11)]) == "Para two. | tail"
    # a blank line right before the display: the paragraph before it is the context
    text = "Para one.\n\n[D] tail"
    assert _bounds(text, "[D]", [(9, 11)]) == "Para one.\n\n| tail"
    # a sectioning command (zero-width break) right before the display is never crossed
    text = "Para one. [D] tail"
    assert _bounds(text, "[D]", [(10, 10)]) == "| tail"
    # nothing but a blank line between the previous display and this one: no context before
    text = "[P]\n\n[D] tail"
    assert _bounds(text, "[D]", [(3, 5)], prev_end=3) == "\n\n| tail"
    # a blank line before the previous display, only a space after it: the context starts there
    text = "A\n\n[P] [D] t"
    assert _bounds(text, "[D]", [(1, 3)], prev_end=6) == " | t"
    # a break that starts at the display and ends inside it is skipped, the one before it used
    text = "Intro.\n\nWords [D] tail"
    assert _bounds(text, "[D]", [(6, 8), (14, 16)]) == "Words | tail"
    # after: up to the next display when no break comes first
    text = "A [D] tail [N] more"
    assert _bounds(text, "[D]", [], next_start=text.index("[N]")) == "A | tail "
    # after: a blank line right after the display is skipped, the next paragraph ends the context
    text = "A [D]\n\nPara A.\n\nPara B."
    assert _bounds(text, "[D]", [(5, 7), (14, 16)]) == "A |\n\nPara A."


# ---- latex_triplets: the body's end, the CPU deadline -------------------------------------------


def _doc(tmp_path: Path, body: str, after: str = ""):
    root = tmp_path / "doc"
    root.mkdir()
    (root / "main.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\n{textwrap.dedent(body)}\n\\end{{document}}\n{after}"
    )
    return load_document(LatexDocSpec("d/main.tex", "s", "tree", str(root), "main.tex"))


def _triplets(doc, deadline=None) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, DocStats(), [], deadline))


def test_nothing_after_end_document_is_read(tmp_path: Path) -> None:
    doc = _doc(tmp_path, r"Inside the body \[ a = b \] and more.", after=r"Trailing \[ c = d \] junk.")
    assert [t["formula"] for t in _triplets(doc)] == ["a = b"]


def test_cpu_deadline_is_checked_every_256_displays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "\n\n".join(f"Words {i} \\[ x_{{{i}}} = {i} \\] more." for i in range(257))
    doc = _doc(tmp_path, body)
    clock = iter([0.0, 10.0])
    monkeypatch.setattr(extract.time, "process_time", lambda: next(clock))
    with pytest.raises(TimeoutError) as err:
        _triplets(doc, deadline=5.0)  # checked at display 0 (t = 0) and display 256 (t = 10)
    assert str(err.value) == "per-document CPU budget exhausted"
    calls: list[int] = []
    monkeypatch.setattr(extract.time, "process_time", lambda: calls.append(1) or 5.0)
    assert len(_triplets(doc, deadline=5.0)) == 257  # at the deadline is not past it
    assert len(calls) == 2  # displays 0 and 256 only


def test_neighbouring_displays_bound_each_other_and_diagrams_are_counted(tmp_path: Path) -> None:
    doc = _doc(tmp_path, r"A \[ a = 1 \] b \[ c = 2 \] d \[ \xymatrix{A} \] e \[ \xymatrix{B} \] f")
    stats = DocStats()
    rows = list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, stats, []))
    assert [(r["context_before"], r["formula"], r["context_after"]) for r in rows] == [
        ("A", "a = 1", "b"), ("b", "c = 2", "d")]
    assert (stats.displays, stats.diagrams, stats.kept) == (4, 2, 2)


# ---- docstring_triplets: the whole record ---------------------------------------------------------


def test_docstring_triplets_exact_records_and_stats() -> None:
    blocks = [
        Block("prose", "The norm is", 10, 0),
        Block("prose", "defined below.", 11, 12),
        Block("math", "\\|x\\| = \\sqrt{x^T x}\n\\label{n}", 13, 27),
        Block("prose", "It is convex", 15, 60),
        Block("prose", "and positive.", 16, 73),
        Block("break", "", 17, 87),
        Block("math", "y", 18, 90),  # too short a context: dropped, the next one still read
        Block("prose", "Finally", 19, 92),
        Block("math", "e^{i\\pi} + 1 = 0", 20, 100),
        Block("prose", "is Euler's identity.", 21, 117),
    ]
    stats = DocStats()
    rows = list(docstring_triplets("pkg/mod.py::f", "pkg/mod.py", [Docstring("f", 9, blocks)],
                                   Settings(min_context_tokens=3), whitespace_tokens, stats))
    text = "\\|x\\| = \\sqrt{x^T x}\n\\label{n}"
    assert rows == [
        {"doc_id": "pkg/mod.py::f", "source_file": "pkg/mod.py", "env": "math", "formula": "\\|x\\| = \\sqrt{x^T x}",
         "context_before": "The norm is defined below.", "context_after": "It is convex and positive.",
         "offsets": {"char_start": 27, "char_end": 27 + len(text), "line_start": 13, "line_end": 14}},
        {"doc_id": "pkg/mod.py::f", "source_file": "pkg/mod.py", "env": "math", "formula": "e^{i\\pi} + 1 = 0",
         "context_before": "Finally", "context_after": "is Euler's identity.",
         "offsets": {"char_start": 100, "char_end": 116, "line_start": 20, "line_end": 20}},
    ]
    assert (stats.displays, stats.kept, stats.dropped) == (3, 2, {"context too short": 1})


# ---- latex_triplets: one document, every record and count ----------------------------------------

PREAMBLE = r"""\newcommand{\R}{\ensuremath{\mathbb{R}}}
\newcommand{\pickone}[3]{\def\x{#3}\x}
\def\boom{\boom\boom}
\newcommand{\diag}{\xymatrix{A \ar[r] & B}}
"""
BODY = r"""Let $f$ map \R to \R, see \cite{k} and Section~\ref{s}.
\[ f(x) = x^2, x \in \R \label{eq:f} \]
Then it grows by \ref{s}. \pickone{a}{b}{c} Never read.

Broken $$ a

\section{Two}
\begin{alignat}{2} g &= 1 &\quad h &= 2 \\
 k &= 3 \end{alignat}
holds. Fine words \pickone{a}{b}{c} cut.

\[ \xymatrix{A \ar[r] & B} \]

Text around a macro diagram
\[ \diag \]
and \[ y = \boom \] runaway and
$$ z = 3 $$
the end.
"""


def _record(src: str, opening: str, closing: str, env: str, formula: str, before: str, after: str) -> dict:
    start = src.index(opening)
    end = src.index(closing, start) + len(closing)
    line = src.count("\n", 0, start) + 1
    return {"doc_id": "d/main.tex", "source_file": "main.tex", "env": env, "formula": formula,
            "context_before": before, "context_after": after,
            "offsets": {"char_start": start, "char_end": end, "line_start": line,
                        "line_end": line + src.count("\n", start, end)}}


@pytest.mark.parametrize("keep_diagrams", [False, True])
def test_latex_triplets_whole_document_by_hand(tmp_path: Path, keep_diagrams: bool) -> None:
    """Expectations by the module's rules: user macros expanded (``\\ensuremath`` as ``$..$`` in
    prose), references and citations as the prose rules say, labels dropped, alignat's column
    count dropped, a sentence holding an unexpandable macro cut off its side, an unbalanced
    ``$$`` skipped and reported, diagrams (also through a macro) counted and kept only when
    asked, a runaway macro dropping its formula only; offsets and lines from the source."""
    from formulaforge.datasets.prose import ProseRules

    root = tmp_path / "doc"
    root.mkdir()
    src = f"\\documentclass{{article}}\n{PREAMBLE}\\begin{{document}}\n{BODY}\\end{{document}}\n"
    (root / "main.tex").write_text(src)
    doc = load_document(LatexDocSpec("d/main.tex", "s", "tree", str(root), "main.tex"))
    assert src.startswith(doc.flat.text)  # offsets below are into the file itself
    stats, problems = DocStats(), []
    settings = Settings(min_context_tokens=0, keep_diagrams=keep_diagrams,
                        prose=ProseRules(ref_token="[R]", cite_token="[C]"))
    rows = list(latex_triplets(doc, settings, whitespace_tokens, stats, problems))
    first = _record(src, r"\[ f(x)", r"\]", "\\[", "f(x) = x^2, x \\in \\mathbb{R}",
                    "Let $f$ map $\\mathbb{R}$ to $\\mathbb{R}$, see [C] and Section [R].", "Then it grows by [R].")
    aligned = _record(src, r"\begin{alignat}", r"\end{alignat}", "alignat", "g &= 1 &\\quad h &= 2 \\\\\n k &= 3",
                      "Two.", "holds.")
    diagram = _record(src, r"\[ \xymatrix", r"\]", "\\[", "\\xymatrix{A \\ar[r] & B}", "",
                      "Text around a macro diagram")
    via_macro = _record(src, r"\[ \diag", r"\]", "\\[", "\\xymatrix{A \\ar[r] & B}",
                        "Text around a macro diagram", "and")
    last = _record(src, "$$ z", "3 $$", "$$", "z = 3", "runaway and", "the end.")
    assert aligned["offsets"]["line_end"] == aligned["offsets"]["line_start"] + 1
    want = [first, aligned, diagram, via_macro, last] if keep_diagrams else [first, aligned, last]
    assert rows == want
    assert (stats.displays, stats.diagrams, stats.kept) == (6, 2, len(want))
    assert stats.contexts_trimmed == (3 if keep_diagrams else 2)
    assert stats.dropped == {"runaway macro expansion": 1}
    broken_line = src[: src.index("Broken $$")].count("\n") + 1
    boom_line = src[: src.index(r"\boom \]")].count("\n") + 1
    assert problems == [(f"main.tex:{broken_line}", "unbalanced $$: no matching close (skipped)"),
                        (f"main.tex:{boom_line}",
                         "formula dropped: macro expansion grew past 200000 characters (runaway macro?)")]


def test_reject_reasons_and_bounds() -> None:
    s = Settings(min_context_tokens=4, max_formula_chars=5)
    assert extract._reject("a+b=c", "one two", "three four", s, whitespace_tokens) is None  # 5 chars, 4 tokens
    assert extract._reject("a+b==c", "one two", "three four", s, whitespace_tokens) == "formula too long"
    assert extract._reject("a", "one two", "three", s, whitespace_tokens) == "context too short"
    assert extract._reject("a", "one \\[ x", "three four", s, whitespace_tokens) == "display formula inside context"
    assert extract._reject("", "one two", "three four", s, whitespace_tokens) == "empty formula"


def test_remove_commands_by_hand() -> None:
    assert extract.remove_commands(r"a \label{x\label{y}} b \tag{1} c") == "a  b  c"
    assert extract.remove_commands(r"a = b \nonumber x") == "a = b  x"  # no argument to swallow
    assert extract.remove_commands("a \\notag") == "a "
    assert extract.remove_commands("no commands") == "no commands"


@pytest.mark.parametrize(("formula", "want"), [
    (r"f(x) = \text{if $x>0$}", r"f(x) = \text{if }{x>0}"),
    (r"\text{$x$}", "{x}"),
    (r"\text {if $x$}", r"\text{if }{x}"),
    (r"\text{a $x$ b $y$ c}", r"\text{a }{x}\text{ b }{y}\text{ c}"),
    (r"\text{a $x$}\text{b $y$}", r"\text{a }{x}\text{b }{y}"),
    (r"\text{if $x$ \textbf{z}} + \text{or $y$}", r"\text{if }{x}\text{ \textbf{z}} + \text{or }{y}"),
    (r"\text{a $x$ b $y}", r"\text{a $x$ b $y}"),  # an odd number of dollars: left alone
    (r"\text{a $x}", r"\text{a $x}"),
    (r"\text{a $x{$ b$}$} + \text{c $y$}", r"\text{a $x{$ b$}$} + \text{c }{y}"),  # unbalanced piece
    (r"\text{a $x$ \mbox{b $y$}", r"\text{a $x$ \mbox{b }{y}"),  # an unclosed box, the next one read
    ("x + y", "x + y"),
])
def test_lift_text_math_by_hand(formula: str, want: str) -> None:
    assert extract.lift_text_math(formula) == want


def test_clean_context_rules() -> None:
    empty = MacroTable()
    assert extract.clean_context(r"where \(x^2\) holds", empty) == "where $x^2$ holds"
    assert extract.clean_context(r"Hence \begin{theorem}Let $x$ be real.\end{theorem} Done", empty) == (
        "Hence Let $x$ be real. Done")
    assert extract.clean_context("a\n\n  b\tc", empty) == "a b c"
