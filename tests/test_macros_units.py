"""``sources/macros.py`` definition by definition: what TeX would typeset, written by hand
(issue 22: the macro table is where a silent slip turns every formula of a paper into junk).

Each case is a preamble, an input and the expansion TeX's meaning gives, with the supported
forms of the module docstring: ``\\newcommand`` family with argument counts and an optional
first argument, ``\\def`` with ``#1#2``, ``\\DeclareMathOperator(*)``, ``\\let``, xparse
``m/o/O{}/s/t{c}``, user definers; unsupported bodies are listed, never expanded.
"""

from __future__ import annotations

import pytest

from formulaforge.sources import macros as mx
from formulaforge.sources.macros import MacroExpansionError, MacroTable


def _table(preamble: str) -> MacroTable:
    table = MacroTable()
    table.add_definitions(preamble)
    return table


EXPANSIONS = [
    (r"\newcommand{\R}{\mathbb{R}}", r"x \in \R", r"x \in \mathbb{R}"),
    (r"\newcommand\R{\mathbb{R}}", r"\R^n", r"\mathbb{R}^n"),
    (r"\newcommand*{\N}{\mathbb{N}}", r"\N", r"\mathbb{N}"),
    (r"\renewcommand{\vec}[1]{\mathbf{#1}}", r"\vec{v} + \vec w", r"\mathbf{v} + \mathbf{w}"),
    (r"\newcommand{\pair}[2]{(#1, #2)}", r"\pair{a}{b} \pair x y", "(a, b) (x, y)"),
    (r"\newcommand{\norm}[2][2]{\|#2\|_{#1}}", r"\norm{x} \norm[\infty]{y}", r"\|x\|_{2} \|y\|_{\infty}"),
    (r"\providecommand{\abs}[1]{|#1|}", r"\abs{-3}", "|-3|"),
    (r"\DeclareRobustCommand{\dd}{\mathrm{d}}", r"\dd x", r"\mathrm{d} x"),
    (r"\def\eps{\varepsilon}", r"\eps>0", r"\varepsilon>0"),
    (r"\def\ip#1#2{\langle #1, #2\rangle}", r"\ip{u}{v}", r"\langle u, v\rangle"),
    (r"\gdef\one{1}", r"\one+\one", "1+1"),
    (r"\DeclareMathOperator{\Tr}{Tr}", r"\Tr A", r"\operatorname{Tr} A"),
    (r"\DeclareMathOperator*{\argmax}{arg\,max}", r"\argmax_x", r"\operatorname*{arg\,max}_x"),
    (r"\newcommand{\R}{\mathbb{R}} \let\reals\R", r"\reals", r"\mathbb{R}"),
    (r"\newcommand{\R}{\mathbb{R}} \let\reals=\R", r"\reals", r"\mathbb{R}"),
    (r"\newcommand{\hash}{##}", r"\hash", "#"),
    (r"\newcommand{\al}{\alpha}", r"\al b", r"\alpha b"),  # a control word never glues onto letters
    (r"\newcommand{\al}{\alpha}", r"\al+b", r"\alpha+b"),
    (r"\newcommand{\R}{\mathbb{R}}", r"\\R and \RR", r"\\R and \RR"),  # escaped, or another name
    (r"\newcommand{\A}{\B} \newcommand{\B}{b}", r"\A", "b"),  # rounds until nothing changes
    (r"\NewDocumentCommand{\st}{m}{[#1]}", r"\st{a}", "[a]"),
    (r"\NewDocumentCommand\op{o m}{\IfNoValueTF{#1}{#2}{#2_{#1}}}", r"\op{x} \op[i]{x}", "x x_{i}"),
    (r"\NewDocumentCommand\op{O{0} m}{#2^{#1}}", r"\op{x} \op[2]{x}", "x^{0} x^{2}"),
    (r"\NewDocumentCommand\sv{s m}{\IfBooleanTF{#1}{|#2|}{#2}}", r"\sv*{a} \sv{b}", "|a| b"),
    (r"\NewDocumentCommand\bang{t! m}{\IfBooleanT{#1}{!}#2}", r"\bang!{a} \bang{b}", "!a b"),
    (r"\NewDocumentCommand\iv{m o}{#1\IfValueT{#2}{^{#2}}}", r"\iv{a}[2] \iv{b}", "a^{2} b"),
    (r"\NewDocumentCommand\nf{o}{\IfNoValueF{#1}{(#1)}}", r"\nf \nf[z]", " (z)"),
    (r"\newcommand{\R}{\ensuremath{\mathbb{R}}}", r"\R", r"\mathbb{R}"),
    (r"\newcommand{\eg}{e.g.\xspace}", r"\eg here", "e.g. here"),
]


@pytest.mark.parametrize(("preamble", "text", "want"), EXPANSIONS)
def test_expansion_by_hand(preamble: str, text: str, want: str) -> None:
    assert _table(preamble).expand(text, "math") == want


def test_ensuremath_in_text_and_in_inline_math() -> None:
    table = _table(r"\newcommand{\R}{\ensuremath{\mathbb{R}}}")
    assert table.expand(r"over \R today", "text") == r"over $\mathbb{R}$ today"
    assert table.expand(r"over $x \in \R$ today", "text") == r"over $x \in \mathbb{R}$ today"
    assert table.expand(r"over \R", "math") == r"over \mathbb{R}"


@pytest.mark.parametrize(("preamble", "name", "why"), [
    (r"\newcommand{\x}{\@ifnextchar[{a}{b}}", "x", "body branches"),
    (r"\def\y#1.{#1}", "y", "delimited \\def parameters are not supported"),
    (r"\newcommand{\z}[x]{a}", "z", "bad argument count [x]"),
    (r"\newcommand{\w}[10]{a}", "w", "bad argument count [10]"),
    (r"\NewDocumentCommand\odd{d()}{no}", "odd", "xparse argument spec 'd()' is not supported"),
    (r"\newcommand{\u}{\ifx a b c\fi}", "u", "body branches"),
    (r"\newcommand{\q}{$x$}", "q", "body branches"),
    (r"\def\v", "v", "\\def without a body"),
])
def test_unsupported_definitions_are_listed_and_left_alone(preamble: str, name: str, why: str) -> None:
    table = _table(preamble)
    assert name in table.unsupported and why in table.unsupported[name]
    assert name not in table.macros
    assert table.expand(f"\\{name}{{1}}", "math") == f"\\{name}{{1}}"


def test_what_is_not_a_definition_to_keep() -> None:
    table = _table(r"\def\lim{\mathop{\rm lim}} \renewcommand{\sin}{S} \newcommand{\R}{\mathbb{R}}"
                   r"\providecommand{\R}{R} \newcommand{\sp}{\ignorespaces}")
    assert set(table.macros) == {"R", "sp"} and table.macros["R"].body == r"\mathbb{R}"  # standard names kept
    assert table.code == {"sp"} and table.expand(r"a\sp b", "math") == "a b"  # code expands to nothing
    assert len(table) == 2


def test_a_later_definition_wins_and_clears_an_earlier_refusal() -> None:
    table = _table(r"\newcommand{\x}{\ifx a b\fi} \renewcommand{\x}{X}")
    assert "x" not in table.unsupported and table.expand(r"\x", "math") == "X"


def test_user_definers_make_definitions() -> None:
    table = _table(r"\newcommand{\DeclareDocumentMacro}[2]{\def#1{#2}} \DeclareDocumentMacro{\K}{\mathcal{K}}"
                   r" \DeclareDocumentMacro\L{\mathcal{L}}")
    assert table.definers == {"DeclareDocumentMacro"}
    assert table.expand(r"\K \L", "math") == r"\mathcal{K} \mathcal{L}"


def test_scoped_definitions_stay_in_their_group() -> None:
    text = r"{\def\a{A}} \begin{proof}\def\b{B} \end{proof} \gdef\c{C} {\global\def\d{D}}"
    table = _table(text)
    assert set(table.macros) == {"c", "d"} and table.scoped == 2
    tracked = MacroTable()
    tracked.add_definitions(text, track_scopes=True)
    inside_b = text.index(r"\b{B}") + 5  # the space before \end{proof}
    assert tracked.at(inside_b).expand(r"\b", "math") == "B"
    assert tracked.at(len(text) - 1).expand(r"\b", "math") == r"\b"
    assert tracked.at(len(text) - 1) is tracked


def test_definitions_inside_environment_definitions_wait() -> None:
    table = _table(r"\newenvironment{foo}{\def\inner{I}}{} \newcommand{\outer}{O}")
    assert set(table.macros) == {"outer"}


def test_runaway_expansion_stops_with_a_reason() -> None:
    with pytest.raises(MacroExpansionError, match="grew past 200000 characters"):
        _table(r"\def\boom{\boom\boom}").expand(r"\boom", "math")
    with pytest.raises(MacroExpansionError, match=f"did not finish after {mx.MAX_ROUNDS} rounds"):
        _table(r"\def\loop{\loop}").expand(r"\loop", "math")


def test_math_wrappers_and_structure_aliases() -> None:
    table = _table(r"\newcommand{\eq}[1]{\begin{equation}#1\end{equation}} \newcommand{\ii}{\item}")
    assert set(table.math_wrappers) == {"eq", "ii"} and "eq" not in table.macros
    out = mx.expand_math_wrappers(r"see \eq{a=b} and \ii x \\eq{c}", table.math_wrappers)
    assert out == r"see \begin{equation}a=b\end{equation} and \item x \\eq{c}"
    assert mx.expand_math_wrappers("x", {}) == "x"


def test_readers() -> None:
    assert mx.read_group("  {a{b}c} d", 0) == ("a{b}c", 9)
    assert mx.read_group(r"\alpha x", 0) == (r"\alpha", 6)
    assert mx.read_group(r"\, x", 0) == (r"\,", 2)
    assert mx.read_group("x", 0) == ("x", 1)
    assert mx.read_group("}", 0) is None and mx.read_group("   ", 0) is None and mx.read_group("{a", 0) is None
    assert mx.read_bracket("[a{]}b] c", 0) == ("a{]}b", 7)
    assert mx.read_bracket("x[a]", 0) is None and mx.read_bracket("[a", 0) is None
    assert mx.skip_ws(" \t\nx", 0) == 3
    assert mx._escaped(r"\\R", 2) is False and mx._escaped(r"\R", 1) is True
    assert mx._substitute("#1-#2-##-#3", ["a", "b"]) == "a-b-#-"


def test_resolve_novalue_by_hand() -> None:
    nv, yes, no = mx.NO_VALUE, mx.BOOL_TRUE, mx.BOOL_FALSE
    assert mx.resolve_novalue(f"\\IfNoValueTF{{{nv}}}{{A}}{{B}}") == "A"
    assert mx.resolve_novalue(r"\IfNoValueTF{x}{A}{B}") == "B"
    assert mx.resolve_novalue(f"\\IfValueT{{{nv}}}{{A}}") == ""
    assert mx.resolve_novalue(r"\IfValueF{x}{A}") == ""
    assert mx.resolve_novalue(f"\\IfBooleanTF{{{yes}}}{{S}}{{N}}") == "S"
    assert mx.resolve_novalue(f"\\IfBooleanF{{{no}}}{{N}}") == "N"
    assert mx.resolve_novalue(r"\IfBooleanTF{x}{S}{N}") == r"\IfBooleanTF{x}{S}{N}"  # not our flag
    assert mx.resolve_novalue(r"\IfNoValueTF{x}{A}") == r"\IfNoValueTF{x}{A}"  # a branch missing
    assert mx.resolve_novalue(f"a{nv}b") == "ab"


def test_xparse_spec_shapes() -> None:
    assert mx._xparse_spec("f", "m m") == (2, None, (), ())
    assert mx._xparse_spec("f", "O{1} m") == (2, "1", (), ())  # the \newcommand shape
    assert mx._xparse_spec("f", "m o") == (2, None, ((1, None),), ())
    assert mx._xparse_spec("f", "s +m") == (2, None, (), ((0, "*"),))
    assert mx._xparse_spec("f", "t{!} O{x} m") == (3, None, ((1, "x"),), ((0, "!"),))
    with pytest.raises(mx._ParseFailure):
        mx._xparse_spec("f", "r()")


def test_scoped_table_boundaries_and_what_it_carries() -> None:
    text = (r"\newcommand{\DeclareDocumentMacro}[2]{\def#1{#2}} \newcommand{\u}{\ifx a b\fi}"
            r" \newcommand{\sp}{\ignorespaces} \begin{proof}\def\b{B}\end{proof}")
    tracked = MacroTable()
    tracked.add_definitions(text, track_scopes=True)
    (start, end, _), = tracked.scoped_defs
    inside = tracked.at(start)  # the span is [start of \def, start of \end{proof})
    assert inside.expand(r"\b", "math") == "B" and tracked.at(end).expand(r"\b", "math") == r"\b"
    assert inside.unsupported is tracked.unsupported and inside.code == {"sp"} and inside.scoped == 1
    assert inside.definers == {"DeclareDocumentMacro"}


def test_expand_round_details() -> None:
    table = _table(r"\newcommand{\pair}[2]{(#1, #2)} \newcommand{\R}{\mathbb{R}} \newcommand{\op}[1]{#1\cdot}")
    assert table.expand(r"{\pair{a}} \R", "math") == r"{\pair{a}} \mathbb{R}"  # a call without its arguments
    assert table.expand(r"\op{a}b", "math") == r"a\cdot b"  # a trailing control word never glues on
    assert table.expand(r"\op{a}1", "math") == r"a\cdot1"
    opt = _table(r"\newcommand{\x}[1][d]{<#1>}")
    assert opt.expand(r"\x \x[e]", "math") == "<d> <e>"


def test_math_wrapper_calls_by_hand() -> None:
    table = _table(r"\newcommand{\eq}[1]{\begin{equation} #1 \end{equation}}")
    w = table.math_wrappers
    assert mx.expand_math_wrappers(r"\eq{a}\eq{b}", w) == (
        r"\begin{equation} a \end{equation}\begin{equation} b \end{equation}")
    assert mx.expand_math_wrappers(r"\eqn{a} \eqX{b}", w) == r"\eqn{a} \eqX{b}"  # other macros
    assert mx.expand_math_wrappers(r"{\eq} \eq{c}", w) == r"{\eq} \begin{equation} c \end{equation}"


def test_novalue_tests_after_one_left_alone() -> None:
    nv, yes = mx.NO_VALUE, mx.BOOL_TRUE
    nested = f"\\IfNoValueTF{{{nv}}}{{\\IfNoValueTF{{x}}{{a}}{{b}}}}{{c}} \\IfNoValueTF{{{nv}}}{{d}}{{e}}"
    assert mx.resolve_novalue(nested) == "b d"
    assert mx.resolve_novalue(f"{{\\IfNoValueTF}} \\IfNoValueTF{{{nv}}}{{d}}{{e}}") == r"{\IfNoValueTF} d"
    assert mx.resolve_novalue(f"{{\\IfNoValueTF{{x}}{{A}}}} \\IfNoValueTF{{{nv}}}{{d}}{{e}}") == (
        r"{\IfNoValueTF{x}{A}} d")
    assert mx.resolve_novalue(f"\\IfBooleanTF{{x}}{{S}}{{N}} \\IfBooleanTF{{{yes}}}{{s}}{{n}}") == (
        r"\IfBooleanTF{x}{S}{N} s")
    assert mx.resolve_novalue(f"a{nv.strip()}b") == "ab"


def test_name_of_by_hand() -> None:
    assert mx._name_of(r"{\R}") == "R" and mx._name_of(r" { \R } ") == "R" and mx._name_of(r"\@x") == "@x"
    for token, name, why in (("{R}", "R", "macro name is not a control sequence"),
                             ("", "?", "macro name is not a control sequence"),
                             (r"\,", ",", "control symbols are not expanded"),
                             ("\\R}", "R}", "control symbols are not expanded")):
        with pytest.raises(mx._ParseFailure) as err:
            mx._name_of(token)
        assert err.value.args == (name, why)


def test_tidy_and_inline_math_parity() -> None:
    assert mx._tidy(r"a \ensuremath} b", "math") == r"a \ensuremath} b"  # no group: left as written
    assert mx._in_inline_math("$x$ ") is False and mx._in_inline_math("$x$ $") is True
    assert mx._in_inline_math("$x$ $y$ $") is True and mx._in_inline_math(r"\$ x") is False
    assert mx.read_bracket("[] x", 0) == ("", 2)


def _parse(text: str, definers: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    m = mx._def_pattern(set(definers)).search(text)
    assert m is not None
    return mx._parse_definition(text, m, definers)


def test_parse_definition_by_hand() -> None:
    M = mx.Macro
    for cmd in ("def", "gdef", "edef", "xdef"):
        assert _parse(f"\\{cmd}\\a{{A}} rest") == (M("a", 0, None, "A"), len(f"\\{cmd}\\a{{A}}"), "def")
    assert _parse(r"\def\ip#1 #2{<#1,#2>}")[0] == M("ip", 2, None, "<#1,#2>")
    assert _parse(r"\let\b\R") == (M("b", 0, None, r"\R"), len(r"\let\b\R"), "let")
    assert _parse(r"\let\b=\R")[2] == "let" and _parse(r"\let\a\a") is None
    assert _parse(r"\DeclareMathOperator{\Tr}{Tr}") == (M("Tr", 0, None, r"\operatorname{Tr}"), 29, "new")
    assert _parse(r"\providecommand{\p}{P}")[2] == "provide" and _parse(r"\newcommand{\p}{P}")[2] == "new"
    assert _parse(r"\ProvideDocumentCommand{\p}{m}{#1}")[2] == "provide"


@pytest.mark.parametrize(("text", "args"), [
    (r"\def\a", ("a", "\\def without a body")),
    (r"\def\a#1.{x}", ("a", "delimited \\def parameters are not supported")),
    (r"\def\a{A", ("a", "unbalanced braces in definition")),
    (r"\DeclareMathOperator{\Tr}{Tr", ("Tr", "unbalanced braces in definition")),
    (r"\NewDocumentCommand{\f}{m", ("f", "unbalanced braces in definition")),
    (r"\NewDocumentCommand{\f}{m}{x", ("f", "unbalanced braces in definition")),
    (r"\newcommand{\f}{x", ("f", "unbalanced braces in definition")),
    (r"\newcommand{R}{x}", ("R", "macro name is not a control sequence")),
])
def test_parse_definition_failures_name_the_macro(text: str, args: tuple[str, str]) -> None:
    with pytest.raises(mx._ParseFailure) as err:
        _parse(text)
    assert err.value.args == args


def test_escapes_and_unsupported_conditionals() -> None:
    assert mx._escaped(r"a\$", 2) is True and mx._escaped(r"a\\$", 3) is False
    assert mx._escaped("\\\\\\$", 3) is True  # three backslashes: the last one escapes the dollar
    table = _table(r"\newcommand{\f}[1]{\IfNoValueTF{#1}{a}{b}}")  # not an xparse optional: unsupported
    assert "f" in table.unsupported and "f" not in table.macros


def test_expand_limits_and_empty_tables() -> None:
    assert MacroTable().expand(r"a \ensuremath{x}\xspace b", "text") == "a $x$ b"  # no macros: still tidied
    assert _table(r"\newcommand{\z}[0]{a}").expand(r"\z", "math") == "a"  # 0 and 9 arguments are allowed
    assert _table(r"\newcommand{\n}[9]{#9#1}").expand(r"\n123456789", "math") == "91"
    big = _table(r"\newcommand{\b}{" + "x" * 90 + "}")
    assert len(big.expand(r"\b" * 2500, "math")) == 225_000  # 45x a 5000-character input: under 50x
    assert mx.skip_ws("Xa", 0) == 0
    assert mx.read_bracket(r"[a\]b] c", 0) == (r"a\]b", 6)  # an escaped bracket does not close


def test_glue_space_after_an_uppercase_control_word_and_escaped_wrappers() -> None:
    assert _table(r"\newcommand{\op}[1]{#1\Delta}").expand(r"\op{a}b", "math") == r"a\Delta b"
    table = _table(r"\newcommand{\eq}[1]{$$#1$$}")  # "$" makes it unsupported, a math wrapper
    assert mx.expand_math_wrappers(r"\\eq{a} \eq{b}", table.math_wrappers) == r"\\eq{a} $$b$$"
