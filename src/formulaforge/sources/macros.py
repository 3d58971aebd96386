"""User macros: read ``\\newcommand``-style definitions and expand them, with hard limits.

Authors write ``\\R``, ``\\Spec``, ``\\norm{x}``; a model that never sees the preamble
should learn the standard LaTeX those stand for. Expansion is textual (like TeX's, minus
catcodes), runs in rounds until nothing changes, and stops with
:class:`MacroExpansionError` past a round limit or a size limit, so a recursive
``\\def\\a{\\a\\a}`` costs microseconds, not memory.

Supported: ``\\newcommand``, ``\\renewcommand``, ``\\providecommand``,
``\\DeclareRobustCommand`` (with ``*``, argument counts and an optional first argument
default), ``\\def``/``\\gdef``/``\\edef`` with undelimited ``#1#2`` parameters,
``\\DeclareMathOperator(*)``, ``\\let`` to another user macro, and xparse
``\\NewDocumentCommand`` with ``m``/``o``/``O{..}`` argument specs (``\\IfNoValueTF`` and
friends on an ``o`` argument are decided per call, as xparse does), and user "definers"
(``\\newcommand{\\DeclareDocumentMacro}[2]{\\def#1{#2}}``: their calls are definitions).
Definitions whose bodies branch on the input (``\\@ifnextchar``, ``\\ifx`` ...) or use delimited
parameters are listed as unsupported and left unexpanded: guessing would corrupt formulas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

MAX_ROUNDS = 32
MAX_GROWTH = 50  # expanded text may be at most this many times the input (plus a floor)
MIN_SIZE_FLOOR = 200_000
MAX_SCOPED = 256  # scoped definitions tracked per document (each display checks them all)

_CS = re.compile(r"\\([A-Za-z@]+)")
_DEF = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|DeclareMathOperator|"
    r"def|gdef|edef|xdef|let|NewDocumentCommand|RenewDocumentCommand|DeclareDocumentCommand|"
    r"ProvideDocumentCommand)(\*?)(?![A-Za-z@])"
)
_PARAM = re.compile(r"#(#|[1-9])")
_UNSUPPORTED_BODY = re.compile(
    r"\\(@ifnextchar|@ifstar|futurelet|afterassignment|csname|expandafter|IfNoValue[TF]*|IfValue[TF]*|"
    r"IfBooleanT?F?|ifx|if@|ifmmode|@ifundefined|ifdefined|ifcsname|newcommand|renewcommand|def|gdef|let|"
    r"mathchoice|raisebox|hbox|vbox|kern|tikz|begin)(?![A-Za-z])|(?<!\\)\$"
)
# Bodies that are programming, not text: expl3 names (\clist_map_inline:nn), \@-internals, spacing
# hacks (\ignorespaces, \vphantom{\ref..}, \par\addvspace). Such a macro expands to nothing.
_CODE_BODY = re.compile(
    r"\\[A-Za-z]+_[A-Za-z_]+:[A-Za-z]*|\\(?:ignorespaces|addvspace|ExplSyntaxOn|ExplSyntaxOff)(?![A-Za-z])"
    r"|\\vphantom\s*\{\s*\\(?:ref|cref|Cref|eqref)|\\[pz]@(?![A-Za-z])|\\@(?:plus|minus)(?![A-Za-z])"
)
# Standard operator/symbol names that packages restyle (e.g. Stacks' \def\lim{\mathop{..}}):
# expanding them would replace clean standard LaTeX with presentation tweaks.
STANDARD_NAMES = frozenset(
    [
        "lim",
        "liminf",
        "limsup",
        "sup",
        "inf",
        "max",
        "min",
        "det",
        "dim",
        "ker",
        "hom",
        "deg",
        "arg",
        "exp",
        "log",
        "ln",
        "lg",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "sinh",
        "cosh",
        "tanh",
        "coth",
        "arcsin",
        "arccos",
        "arctan",
        "gcd",
        "Pr",
        "Re",
        "Im",
        "mod",
        "bmod",
        "pmod",
        "int",
        "sum",
        "prod",
        "oint",
        "partial",
        "nabla",
        "infty",
        "emptyset",
        "varnothing",
        "epsilon",
        "phi",
        "setminus",
        "subset",
        "supset",
        "cup",
        "cap",
        "le",
        "ge",
        "leq",
        "geq",
        "neq",
        "to",
        "mapsto",
        "frac",
        "sqrt",
        "left",
        "right",
        "mathbb",
        "mathcal",
        "mathfrak",
        "mathrm",
        "mathbf",
        "mathit",
        "mathsf",
        "text",
        "operatorname",
        "section",
        "subsection",
        "chapter",
        "label",
        "ref",
        "cite",
        "emph",
        "textbf",
        "textit",
        "item",
        "begin",
        "end",
    ]
)


class MacroExpansionError(ValueError):
    """Expansion ran away (recursion or explosive growth)."""


@dataclass(frozen=True)
class Macro:
    name: str
    nargs: int
    default: str | None  # not None: the first argument is optional with this default
    body: str
    # xparse optional arguments anywhere: (0-based position, default or None for -NoValue-)
    opts: tuple[tuple[int, str | None], ...] = ()
    # xparse boolean arguments (``s`` = ``*``, ``t{c}`` = ``c``): (0-based position, the token)
    flags: tuple[tuple[int, str], ...] = ()


@dataclass
class MacroTable:
    macros: dict[str, Macro] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    code: set[str] = field(default_factory=set)  # macros whose body is code: they expand to nothing
    scoped: int = 0  # definitions made inside a group or environment (not applied outside it)
    scoped_defs: list[tuple[int, int, Macro]] = field(default_factory=list)
    # one-argument macros that only put their argument in math mode ($#1$, \begin{equation}#1\end{equation})
    math_wrappers: dict[str, Macro] = field(default_factory=dict)
    # user definers: \newcommand{\DeclareDocumentMacro}[2]{\def#1{#2}} makes each call a definition
    definers: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.macros)

    def add_definitions(self, text: str, track_scopes: bool = False) -> None:
        """Parse every definition in ``text`` (comment-stripped), later ones winning.

        Definitions made inside a group or environment body do not leak out; with
        ``track_scopes`` (``text`` is the flattened document) they are kept with their span
        and :meth:`at` applies them there.
        """
        if "\\" not in text:
            return
        self._find_definers(text)
        def_re = _def_pattern(self.definers)
        pos = 0
        depth = 0  # group depth (\begingroup, \begin{env}) at scan_from
        scan_from = 0
        deferred = _deferred_spans(text) if "environment" in text or "pagestyle" in text else []
        d_idx = 0
        plain = text  # deferred bodies blanked: their \\begin..\\end do not open groups now
        if deferred:
            parts, last = [], 0
            for a, b in deferred:
                parts += [text[last:a], " " * (b - a)]
                last = b
            plain = "".join(parts) + text[last:]
        while True:
            m = def_re.search(text, pos)
            if not m:
                return
            depth = _depth_after(plain, scan_from, m.start(), depth)
            scan_from = pos = m.end()
            while d_idx < len(deferred) and deferred[d_idx][1] <= m.start():
                d_idx += 1
            in_deferred = d_idx < len(deferred) and deferred[d_idx][0] <= m.start()
            bare = _in_bare_group(text, m.start())
            if (in_deferred or depth > 0 or bare) and not _is_global(text, m):
                # Scoped: made inside a group or an environment body (e.g. a \let inside a class
                # file's environment definition): it must not leak into the whole document.
                self.scoped += 1
                if track_scopes and not in_deferred and len(self.scoped_defs) < MAX_SCOPED:
                    self._add_scoped(text, plain, m, depth, bare)
                continue
            try:
                parsed = _parse_definition(text, m, self.definers)
            except _ParseFailure as exc:
                name = str(exc.args[0]) if exc.args else "?"
                self.unsupported.setdefault(
                    name, exc.args[1] if len(exc.args) > 1 else "unparseable definition"
                )
                continue
            if parsed is None:
                continue
            macro, end, kind = parsed
            pos = scan_from = max(pos, end)
            if macro.name in STANDARD_NAMES:
                continue
            if kind == "provide" and macro.name in self.macros:
                continue
            if kind == "let":
                target = self.macros.get(macro.body[1:])
                if target is None:
                    continue
                macro = replace(target, name=macro.name)
            if macro.name in self.definers:
                continue
            unsupported = _unsupported_body(macro)
            if not unsupported and _CODE_BODY.search(macro.body):
                macro = replace(macro, body="", opts=(), flags=())
                self.code.add(macro.name)
            elif unsupported:
                if macro.nargs == 1 and macro.default is None and _MATH_WRAPPER.fullmatch(macro.body.strip()):
                    self.math_wrappers[macro.name] = macro  # \eq{..} -> \begin{equation*}..\end{equation*}
                    self.macros.pop(macro.name, None)
                    continue
                self.unsupported[macro.name] = (
                    "body branches on its input, defines macros, draws boxes or switches math mode"
                )
                self.macros.pop(macro.name, None)
                continue
            self.unsupported.pop(macro.name, None)
            self.macros[macro.name] = macro
            if macro.nargs == 0 and _STRUCTURE_ALIAS.fullmatch(macro.body.strip()):
                self.math_wrappers[macro.name] = macro  # \ii -> \item: the scanner must see the structure

    def _find_definers(self, text: str) -> None:
        """Record user definers (a two-argument macro whose body is ``\\def#1{#2}`` or alike)."""
        if "#1" not in text:
            return
        for m in _DEFINER.finditer(text):
            name = m.group(1) or m.group(2)
            self.definers.add(name)
            self.unsupported.pop(name, None)

    def _add_scoped(self, text: str, plain: str, m: re.Match[str], depth: int, bare: bool) -> None:
        try:
            parsed = _parse_definition(text, m, self.definers)
        except _ParseFailure:
            return
        if parsed is None or parsed[2] == "let" or _unsupported_body(parsed[0]):
            return
        if bare:
            brace = text.rfind("{", 0, m.start())
            g = read_group(text, brace)
            end = g[1] if g else len(text)
        else:
            end, d = len(text), depth
            for g in _GROUPING.finditer(plain, parsed[1]):
                d += 1 if g.group(0).startswith(("\\begingroup", "\\begin")) else -1
                if d < depth:
                    end = g.start()
                    break
        self.scoped_defs.append((m.start(), end, parsed[0]))

    def at(self, offset: int) -> MacroTable:
        """The table in force at ``offset`` of the flattened document (scoped definitions added)."""
        hits = [mac for a, b, mac in self.scoped_defs if a <= offset < b]
        if not hits:
            return self
        table = MacroTable(
            dict(self.macros), self.unsupported, self.code, self.scoped, definers=self.definers
        )
        for mac in hits:
            table.macros[mac.name] = mac
        return table

    def expand(self, text: str, mode: str = "math") -> str:
        """Expand user macros in ``text``; ``mode`` ("math" or "text") decides ``\\ensuremath``."""
        if "\\" not in text:
            return text
        # no user macro in the text (or none in the document): only \ensuremath and \xspace to read
        if not self.macros or not any(n in self.macros for n in _CS.findall(text)):
            return _tidy(text, mode)
        limit = max(MIN_SIZE_FLOOR, MAX_GROWTH * len(text))
        for _ in range(MAX_ROUNDS):
            text, count = self._expand_round(text)
            if count == 0:
                return _tidy(text, mode)
            if len(text) > limit:
                raise MacroExpansionError(f"macro expansion grew past {limit} characters (runaway macro?)")
        raise MacroExpansionError(
            f"macro expansion did not finish after {MAX_ROUNDS} rounds (recursive macro?)"
        )

    def _expand_round(self, text: str) -> tuple[str, int]:
        count = 0
        out: list[str] = []
        pos = 0
        search_from = 0
        while True:
            m = _CS.search(text, search_from)
            if not m:
                break
            macro = self.macros.get(m.group(1))
            search_from = m.end()
            if macro is None or _escaped(text, m.start()):
                continue
            args, end = _read_args(text, m.end(), macro)
            if args is None:
                continue
            out.append(text[pos : m.start()])
            body = macro.body
            if "#" in body:
                body = _substitute(body, args)
            if macro.opts or macro.flags:
                body = resolve_novalue(body)
            # Keep a control word from gluing onto following letters: \R x -> \mathbb{R}x is fine,
            # but \foo -> \alpha followed by "b" would read as \alphab.
            if end < len(text) and text[end].isalpha() and re.search(r"\\[A-Za-z@]+$", body):
                body += " "
            out.append(body)
            count += 1
            pos = search_from = end
        out.append(text[pos:])
        return "".join(out), count


_DISPLAY_ENV = r"(?:equation|align|gather|multline|displaymath|eqnarray|flalign)\*?"
_MATH_WRAPPER = re.compile(
    r"\$\s*#1\s*\$|\$\$\s*#1\s*\$\$|\\\(\s*#1\s*\\\)|\\\[\s*#1\s*\\\]"
    r"|\\begin\{(" + _DISPLAY_ENV + r")\}\s*#1\s*\\end\{\1\}"
)


_STRUCTURE_ALIAS = re.compile(r"\\(?:item|part|chapter|section|subsection|subsubsection|paragraph)\*?")


def expand_math_wrappers(text: str, wrappers: dict[str, Macro]) -> str:
    """Replace ``\\eq{X}`` by the math it stands for, before displays are looked for.

    Without this, papers that write displays through such macros lose those formulas and
    carry them as raw LaTeX inside contexts. The wrapper bodies hold no newline after
    flattening's comment removal, so the text keeps its line structure (the source map
    stays valid line by line).
    """
    if not wrappers:
        return text
    pat = re.compile(r"\\(" + "|".join(re.escape(n) for n in sorted(wrappers)) + r")(?![A-Za-z@])")
    out: list[str] = []
    pos = 0
    for m in pat.finditer(text):
        if m.start() < pos or _escaped(text, m.start()):
            continue
        macro = wrappers[m.group(1)]
        if macro.nargs == 0:  # a structure alias (\ii for \item)
            out.append(text[pos : m.start()])
            out.append(macro.body.strip())
            pos = m.end()
            continue
        g = read_group(text, m.end())
        if g is None:
            continue
        body = " ".join(wrappers[m.group(1)].body.split())
        out.append(text[pos : m.start()])
        out.append(_substitute(body, [g[0]]))
        pos = g[1]
    out.append(text[pos:])
    return "".join(out)


_GROUPING = re.compile(r"\\(?:begingroup|endgroup)(?![A-Za-z@])|\\(?:begin|end)\s*\{(?!document\})[^{}]*\}")
# Commands whose arguments are run later, not now (environment definitions, page styles).
_DEFERRED = re.compile(
    r"\\(?:(?:re)?newenvironment|(?:New|Renew|Declare|Provide)DocumentEnvironment|fancypagestyle)\*?(?![A-Za-z@])"
)


def _depth_after(text: str, start: int, end: int, depth: int) -> int:
    """Group depth (``\\begingroup``, environment bodies) after ``text[start:end]`` (never below 0)."""
    for g in _GROUPING.finditer(text, start, end):
        opening = g.group(0).startswith(("\\begingroup", "\\begin"))
        depth = depth + 1 if opening else max(0, depth - 1)
    return depth


def _deferred_spans(text: str) -> list[tuple[int, int]]:
    """Spans of environment/page-style definitions: definitions inside them are not made now."""
    spans = []
    for m in _DEFERRED.finditer(text):
        word = m.group(0)
        groups = 2 if "pagestyle" in word else 4 if "Document" in word else 3
        pos = m.end()
        while groups:
            p = skip_ws(text, pos)
            br = read_bracket(text, p)
            if br is not None:
                pos = br[1]
                continue
            if p >= len(text) or text[p] != "{":
                break
            g = read_group(text, p)
            if g is None:
                break
            pos, groups = g[1], groups - 1
        spans.append((m.start(), pos))
    return spans


def _in_bare_group(text: str, start: int) -> bool:
    """``{\\def\\x{..} ...}``: the definition opens a brace group that is no command's argument."""
    k = start - 1
    while k >= 0 and text[k] in " \t\n":
        k -= 1
    if k < 0 or text[k] != "{":
        return False
    before = text[max(0, k - 40) : k]
    return not _ARG_BEFORE.search(before)


_ARG_BEFORE = re.compile(r"(?:\\[A-Za-z@]+\*?|[}\]])\s*$")


def _is_global(text: str, m: re.Match[str]) -> bool:
    """``\\gdef``/``\\xdef`` or a ``\\global`` prefix: the definition escapes its group."""
    return m.group(1) in ("gdef", "xdef") or text[max(0, m.start() - 8) : m.start()].rstrip().endswith(
        "\\global"
    )


def _arg(args: list[str], i: int) -> str:
    return args[i - 1] if 0 < i <= len(args) else ""


def _substitute(body: str, args: list[str]) -> str:
    """Replace ``#1``..``#9`` by the arguments and ``##`` by ``#``."""
    return _PARAM.sub(lambda p: "#" if p.group(1) == "#" else _arg(args, int(p.group(1))), body)


def _escaped(text: str, start: int) -> bool:
    k = start - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (start - 1 - k) % 2 == 1


class _ParseFailure(Exception):
    pass


def skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\n":
        pos += 1
    return pos


def read_group(text: str, pos: int) -> tuple[str, int] | None:
    """One TeX argument at ``pos``: a balanced ``{...}`` (content returned), a control word, or a char."""
    pos = skip_ws(text, pos)
    if pos >= len(text):
        return None
    c = text[pos]
    if c == "{":
        end = _close_at_depth0(text, pos + 1, "}")
        return None if end is None else (text[pos + 1 : end], end + 1)
    if c == "\\":
        m = _CS.match(text, pos)
        if m:
            return m.group(0), m.end()
        return text[pos : pos + 2], pos + 2
    if c == "}":
        return None
    return c, pos + 1


def _close_at_depth0(text: str, i: int, closer: str) -> int | None:
    """Index of the first ``closer`` from ``i`` outside nested braces (escapes skipped), or None."""
    depth = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0 and closer == "}":
                return i
            depth -= 1
        elif ch == closer and depth == 0:
            return i
        i += 1
    return None


def read_bracket(text: str, pos: int) -> tuple[str, int] | None:
    """A balanced ``[...]`` at ``pos`` (brackets inside braces do not count)."""
    if pos >= len(text) or text[pos] != "[":
        return None
    end = _close_at_depth0(text, pos + 1, "]")
    return None if end is None else (text[pos + 1 : end], end + 1)


def _read_args(text: str, pos: int, macro: Macro) -> tuple[list[str] | None, int]:
    """The call's arguments: ``[..]`` optionals (a missing ``o`` is -NoValue-), ``s``/``t`` flags, groups."""
    optional = dict(macro.opts)
    if macro.default is not None and macro.nargs > 0:
        optional[0] = macro.default  # \newcommand's optional first argument
    flags = dict(macro.flags)
    args: list[str] = []
    for i in range(macro.nargs):
        if i in flags:
            p = skip_ws(text, pos)
            present = text.startswith(flags[i], p)
            args.append(BOOL_TRUE if present else BOOL_FALSE)
            pos = p + len(flags[i]) if present else pos
            continue
        if i in optional:
            br = read_bracket(text, skip_ws(text, pos))
            if br is not None:
                args.append(br[0])
                pos = br[1]
            else:
                default = optional[i]
                args.append(NO_VALUE if default is None else default)
            continue
        g = read_group(text, pos)
        if g is None:
            return None, pos
        args.append(g[0])
        pos = g[1]
    return args, pos


NO_VALUE = "\\FFNoValue "  # stands for xparse's -NoValue- until the conditionals are decided
BOOL_TRUE, BOOL_FALSE = "\\FFBoolTrue ", "\\FFBoolFalse "  # an ``s``/``t`` argument, until decided
_NOVALUE_TEST = re.compile(r"\\(IfNoValue|IfValue|IfBoolean)(TF|T|F)(?![A-Za-z@])")


def resolve_novalue(body: str) -> str:
    """Decide ``\\IfNoValueTF{X}{yes}{no}`` (and ``T``/``F``/``IfValue..``) once arguments are in.

    Tests whose argument is not a substituted optional argument are left alone; a -NoValue-
    marker used outside a test reads as nothing (xparse would typeset "-NoValue-").
    """
    out: list[str] = []
    pos = 0
    for m in _NOVALUE_TEST.finditer(body):
        if m.start() < pos:
            continue
        test = read_group(body, m.end())
        if test is None:
            continue
        branches: list[str] = []
        end = test[1]
        for _ in range(len(m.group(2))):
            g = read_group(body, end)
            if g is None:
                break
            branches.append(g[0])
            end = g[1]
        if len(branches) != len(m.group(2)):
            continue
        value = test[0].strip()
        if m.group(1) == "IfBoolean":
            if value not in (BOOL_TRUE.strip(), BOOL_FALSE.strip()):
                continue  # not one of this command's boolean arguments: leave it
            take_first = value == BOOL_TRUE.strip()
        else:
            missing = value == NO_VALUE.strip()
            take_first = missing if m.group(1) == "IfNoValue" else not missing
        if m.group(2) == "TF":
            chosen = branches[0] if take_first else branches[1]
        elif m.group(2) == "T":
            chosen = branches[0] if take_first else ""
        else:
            chosen = "" if take_first else branches[0]
        out.append(body[pos : m.start()])
        out.append(resolve_novalue(chosen))
        pos = end
    out.append(body[pos:])
    text = "".join(out)
    for marker in (NO_VALUE, BOOL_TRUE, BOOL_FALSE):
        text = text.replace(marker, "").replace(marker.strip(), "")
    return text


def _unsupported_body(macro: Macro) -> bool:
    """True when the body cannot be expanded textually (xparse's -NoValue- tests on ``o`` are fine)."""
    body = macro.body
    if (macro.opts or macro.flags) and _NOVALUE_TEST.search(body):
        body = _NOVALUE_TEST.sub("", body)
    return _UNSUPPORTED_BODY.search(body) is not None


# \newcommand{\Alias}[2]{\def#1{#2}} or \def\Alias#1#2{\def#1{#2}}: each \Alias call is a definition
_DEFINER_BODY = (
    r"\s*\{\s*\\(?:g?def|(?:re)?newcommand\*?|providecommand\*?|DeclareRobustCommand\*?)"
    r"\s*\{?\s*#1\s*\}?\s*\{\s*#2\s*\}\s*\}"
)
_DEFINER = re.compile(
    r"\\(?:newcommand|renewcommand|providecommand|DeclareRobustCommand)\*?\s*\{?\s*\\([A-Za-z@]+)\s*\}?\s*\[\s*2\s*\]"
    + _DEFINER_BODY
    + r"|\\g?def\s*\\([A-Za-z@]+)\s*#1\s*#2"
    + _DEFINER_BODY
)


def _def_pattern(definers: set[str]) -> re.Pattern[str]:
    """The definition finder: the standard definers plus the document's own."""
    if not definers:
        return _DEF
    extra = "|".join(re.escape(n) for n in sorted(definers, key=len, reverse=True))
    return re.compile(
        _DEF.pattern.replace("ProvideDocumentCommand)", "ProvideDocumentCommand|" + extra + ")")
    )


def _name_of(token: str) -> str:
    token = token.strip()
    if token.startswith("{") and token.endswith("}"):
        token = token[1:-1].strip()
    if not token.startswith("\\"):
        raise _ParseFailure(token or "?", "macro name is not a control sequence")
    name = token[1:]
    if not re.fullmatch(r"[A-Za-z@]+", name):
        raise _ParseFailure(name, "control symbols are not expanded")
    return name


def _parse_definition(
    text: str, m: re.Match[str], definers: set[str] | frozenset[str] = frozenset()
) -> tuple[Macro, int, str] | None:
    cmd, star = m.group(1), m.group(2)
    if cmd in definers:
        cmd = "renewcommand"  # \Alias\name{body} or \Alias{\name}{body}: define (or redefine) \name
    pos = m.end()
    if cmd in ("def", "gdef", "edef", "xdef"):
        nm = _CS.match(text, skip_ws(text, pos))
        if not nm:
            return None
        name = nm.group(1)
        pos = nm.end()
        brace = text.find("{", pos)
        if brace < 0:
            raise _ParseFailure(name, "\\def without a body")
        params = text[pos:brace]
        if params.strip() and not re.fullmatch(r"(?:#[1-9])+", params.replace(" ", "")):
            raise _ParseFailure(name, "delimited \\def parameters are not supported")
        nargs = params.count("#")
        g = read_group(text, brace)
        if g is None:
            raise _ParseFailure(name, "unbalanced braces in definition")
        return Macro(name, nargs, None, g[0]), g[1], "def"
    if cmd == "let":
        nm = _CS.match(text, skip_ws(text, pos))
        if not nm:
            return None
        p = skip_ws(text, nm.end())
        if p < len(text) and text[p] == "=":
            p = skip_ws(text, p + 1)
        tm = _CS.match(text, p)
        if not tm or tm.group(1) == nm.group(1):
            return None
        return Macro(nm.group(1), 0, None, tm.group(0)), tm.end(), "let"
    g = read_group(text, pos)
    if g is None:
        return None
    name = _name_of(g[0] if g[0].startswith("\\") else "{" + g[0] + "}")
    pos = g[1]
    if cmd == "DeclareMathOperator":
        body = read_group(text, pos)
        if body is None:
            raise _ParseFailure(name, "unbalanced braces in definition")
        op = "\\operatorname*" if star else "\\operatorname"
        return Macro(name, 0, None, f"{op}{{{body[0]}}}"), body[1], "new"
    if cmd.endswith("DocumentCommand"):
        spec = read_group(text, pos)
        if spec is None:
            raise _ParseFailure(name, "unbalanced braces in definition")
        nargs, default, opts, flags = _xparse_spec(name, spec[0])
        body = read_group(text, spec[1])
        if body is None:
            raise _ParseFailure(name, "unbalanced braces in definition")
        return (
            Macro(name, nargs, default, body[0], opts, flags),
            body[1],
            "provide" if cmd.startswith("Provide") else "new",
        )
    nargs = 0
    default = None
    p = skip_ws(text, pos)
    br = read_bracket(text, p)
    if br is not None:
        try:
            nargs = int(br[0].strip())
        except ValueError:
            raise _ParseFailure(name, f"bad argument count [{br[0]}]") from None
        if not 0 <= nargs <= 9:
            raise _ParseFailure(name, f"bad argument count [{br[0]}]")
        pos = br[1]
        p = skip_ws(text, pos)
        br2 = read_bracket(text, p)
        if br2 is not None:
            default = br2[0]
            pos = br2[1]
    body = read_group(text, pos)
    if body is None:
        raise _ParseFailure(name, "unbalanced braces in definition")
    kind = "provide" if cmd == "providecommand" else "new"
    return Macro(name, nargs, default, body[0]), body[1], kind


_XPARSE_TOKEN = re.compile(r"O\{[^{}]*\}|t\s*(?:\{\s*(\\?[^\s{}])\s*\}|(\\?[^\s{}]))|[a-zA-Z]")


def _xparse_spec(
    name: str, spec: str
) -> tuple[int, str | None, tuple[tuple[int, str | None], ...], tuple[tuple[int, str], ...]]:
    """Argument count, a leading ``O{..}`` default, optional arguments elsewhere (``o``, ``O``)
    and boolean ones (``s``, ``t{c}``).

    ``+`` (long arguments) changes nothing here; other argument types (``d``, ``r``, ``v``,
    ``e`` ...) are not supported.
    """
    tokens, flags = [], []
    for m in _XPARSE_TOKEN.finditer(spec.replace("+", "")):
        if m.group(0).startswith("t"):
            flags.append((len(tokens), m.group(1) or m.group(2)))
        elif m.group(0) == "s":
            flags.append((len(tokens), "*"))
        tokens.append(m.group(0))
    opts = []
    for i, t in enumerate(tokens):
        if t == "s" or t.startswith("t"):
            continue
        if t.startswith("O"):
            opts.append((i, t[2:-1]))
        elif t == "o":
            opts.append((i, None))
        elif t != "m":
            raise _ParseFailure(name, f"xparse argument spec {spec!r} is not supported")
    if [i for i, _ in opts] == [0] and opts[0][1] is not None and not flags:
        return len(tokens), opts[0][1], (), ()  # the \newcommand shape: one optional first argument
    return len(tokens), None, tuple(opts), tuple(flags)


_ENSUREMATH = re.compile(r"\\ensuremath(?![A-Za-z@])")
_XSPACE = re.compile(r"\\xspace(?![A-Za-z@])\s?")


def _tidy(text: str, mode: str) -> str:
    """Resolve ``\\ensuremath`` (math: its content; text: ``$content$``) and drop ``\\xspace``."""
    if "\\xspace" in text:
        text = _XSPACE.sub(lambda m: " " if m.group(0).endswith(" ") else "", text)
    if "\\ensuremath" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        m = _ENSUREMATH.search(text, pos)
        if not m:
            break
        g = read_group(text, m.end())
        if g is None:
            break
        out.append(text[pos : m.start()])
        inside = mode == "math" or _in_inline_math("".join(out))
        out.append(g[0] if inside else f"${g[0]}$")
        pos = g[1]
    out.append(text[pos:])
    return "".join(out)


def _in_inline_math(prefix: str) -> bool:
    count = 0
    for i, ch in enumerate(prefix):
        if ch == "$" and not _escaped(prefix, i):
            count += 1
    return count % 2 == 1
