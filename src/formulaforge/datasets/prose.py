"""LaTeX prose -> the text a reader sees: markup that is not mathematics leaves the context.

A context is prose with inline math. After macro expansion it may still hold layout
(``\\medskip``, ``\\vspace{..}``), cross-reference machinery (``\\cref{..}``), side notes,
headings, list labels, environment wrappers and blueprint annotations; none of it is
something a model should learn to write around a formula. One linear pass with a
tokenising regex tracks math mode (``$..$``, ``\\(..\\)``) and rewrites only text-mode
commands by a small table; inline math is left exactly as written. pylatexenc's
``latex2text`` would also flatten the math, which we must keep, so this is our own.

Defaults (``ProseRules``): citations are removed, references become ``(ref)``;
sectioning commands become their title followed by a period (a heading is the prefix of
its paragraph); ``\\item`` and its label disappear; ``\\begin``/``\\end`` wrappers disappear,
and the content of floats (figure, table) and pictures is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from formulaforge.sources.macros import read_group, skip_ws

CITE_CMDS = frozenset(
    [
        "cite",
        "citep",
        "citet",
        "citealp",
        "citealt",
        "citeauthor",
        "citeyear",
        "citeyearpar",
        "parencite",
        "textcite",
        "autocite",
        "footcite",
        "nocite",
        "Cite",
        "Citep",
        "Citet",
        "citenum",
        "fullcite",
    ]
)
REF_CMDS = frozenset(
    [
        "ref",
        "eqref",
        "autoref",
        "Autoref",
        "cref",
        "Cref",
        "vref",
        "Vref",
        "pageref",
        "nameref",
        "labelcref",
        "crefrange",
        "Crefrange",
        "cpageref",
        "Cpageref",
        "subref",
        "olref",
    ]
)
SECTION_CMDS = frozenset(
    [
        "part",
        "chapter",
        "section",
        "subsection",
        "subsubsection",
        "paragraph",
        "subparagraph",
        "addsec",
        "addchap",
    ]
)
# Commands whose arguments are dropped with them: notes, labels, layout, graphics, blueprint annotations.
_DROP_ARGS: dict[str, int] = {
    "footnote": 1,
    "footnotetext": 1,
    "marginpar": 1,
    "marginnote": 1,
    "todo": 1,
    "label": 1,
    "index": 1,
    "glossary": 1,
    "hypertarget": 1,
    "vspace": 1,
    "hspace": 1,
    "vskip": 0,
    "addvspace": 1,
    "vphantom": 1,
    "hphantom": 1,
    "phantom": 1,
    "color": 1,
    "pagecolor": 1,
    "includegraphics": 1,
    "caption": 1,
    "captionof": 2,
    "lean": 1,
    "uses": 1,
    "proves": 1,
    "discussion": 1,
    "setcounter": 2,
    "addtocounter": 2,
    "stepcounter": 1,
    "refstepcounter": 1,
    "setlength": 2,
    "addtolength": 2,
    "pagestyle": 1,
    "thispagestyle": 1,
    "addcontentsline": 3,
    "bibliography": 1,
    "bibliographystyle": 1,
    "enlargethispage": 1,
    "newpage": 0,
    "rule": 2,
    "raisebox": 1,
    "fontsize": 2,
    "selectfont": 0,
    "symlabel": 1,
    "indexdef": 1,
    "indexsee": 2,
    "mathlibok": 0,
    "leanok": 0,
    "notready": 0,
    "glsadd": 1,
    "subimport": 2,
    "import": 2,
    "pause": 0,
}
# Commands that vanish (switches, spacing, layout), taking no argument.
_DROP = frozenset(
    [
        "medskip",
        "smallskip",
        "bigskip",
        "par",
        "noindent",
        "indent",
        "newline",
        "linebreak",
        "pagebreak",
        "nopagebreak",
        "clearpage",
        "cleardoublepage",
        "centering",
        "raggedright",
        "raggedleft",
        "vfill",
        "hfill",
        "fill",
        "qed",
        "qedhere",
        "ignorespaces",
        "hline",
        "maketitle",
        "tableofcontents",
        "footnotesize",
        "small",
        "large",
        "Large",
        "LARGE",
        "huge",
        "Huge",
        "normalsize",
        "tiny",
        "scriptsize",
        "itshape",
        "bfseries",
        "rmfamily",
        "sffamily",
        "ttfamily",
        "scshape",
        "em",
        "bf",
        "it",
        "rm",
        "sl",
        "sc",
        "upshape",
        "mdseries",
        "normalfont",
        "protect",
        "relax",
        "nobreak",
        "allowbreak",
        "break",
        "null",
        "unskip",
        "strut",
        "appendix",
        "mainmatter",
        "frontmatter",
        "backmatter",
        "leavevmode",
        "nolinebreak",
        "displaystyle",
        "textstyle",
        "hfil",
        "vfil",
        "quad",
        "qquad",
        "listhack",
        "sloppy",
        "fussy",
        "printbibliography",
        "makeatletter",
        "makeatother",
        "bigbreak",
        "medbreak",
        "smallbreak",
    ]
)
# Commands replaced by one of their arguments (0-based index among the mandatory arguments).
_KEEP_ARG: dict[str, tuple[int, int]] = {
    "textcolor": (2, 1),
    "colorbox": (2, 1),
    "url": (1, 0),
    "nolinkurl": (1, 0),
    "href": (2, 1),
    "hyperref": (1, 0),
    "mbox": (1, 0),
    "hbox": (1, 0),
    "makebox": (1, 0),
    "fbox": (1, 0),
    "text": (1, 0),
    "texorpdfstring": (2, 0),
    "define": (1, 0),
    "term": (1, 0),
    "lstinline": (1, 0),
    "ensuremath": (1, 0),
    "hyperlink": (2, 1),
    "iftag": (3, 2),
}
# Environments whose whole content is dropped from prose (floats and pictures are not prose).
DROP_ENVS = frozenset(
    [
        "figure",
        "figure*",
        "table",
        "table*",
        "wrapfigure",
        "tikzpicture",
        "picture",
        "asy",
        "tabular",
        "tabular*",
        "longtable",
        "thebibliography",
    ]
)

_TOKEN = re.compile(r"\\([A-Za-z@]+)(\*?)|\\[()]|\\.|(?<!\\)\$|~|\{|\}")


@dataclass(frozen=True)
class ProseRules:
    """How references and citations read in a context (``--ref-token``, ``--cite-token``)."""

    ref_token: str = "(ref)"
    cite_token: str = ""


DEFAULT_RULES = ProseRules()


def _skip_opt(text: str, pos: int) -> int:
    """Skip any number of ``[..]`` optional arguments (and a ``*``) at ``pos``."""
    while True:
        p = skip_ws(text, pos)
        if p < len(text) and text[p] == "*":
            pos = p + 1
            continue
        if p >= len(text) or text[p] != "[":
            return pos
        end = _bracket_end(text, p)
        if end is None:
            return pos
        pos = end


def _bracket_end(text: str, pos: int) -> int | None:
    """End of the ``[..]`` at ``pos``, counting nested brackets and braces (``[$\\sqrt[3]{2}$]``)."""
    depth = 0
    i, n = pos, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i + 1 if c == "]" else None
            if depth < 0:
                return None
        i += 1
    return None


def _args(text: str, pos: int, n: int) -> tuple[list[str], int] | None:
    out = []
    for _ in range(n):
        p = skip_ws(text, pos)
        if p >= len(text) or text[p] != "{":
            return None
        g = read_group(text, p)
        if g is None:
            return None
        out.append(g[0])
        pos = g[1]
    return out, pos


def _end_of_env(text: str, pos: int, env: str) -> int:
    """Offset after the ``\\end{env}`` closing an environment opened before ``pos`` (nesting counted)."""
    pat = re.compile(r"\\(begin|end)\s*\{" + re.escape(env) + r"\}")
    depth = 1
    for m in pat.finditer(text, pos):
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.end()
    return len(text)


def clean_prose(text: str, rules: ProseRules = DEFAULT_RULES) -> str:
    """Rewrite text-mode LaTeX markup (see module doc); inline math is copied unchanged."""
    if "\\" not in text and "~" not in text:
        return text
    out: list[str] = []
    pos = 0
    math: str | None = None  # None: text mode; "$" or "\\(" while inside inline math
    n = len(text)
    for m in _TOKEN.finditer(text):
        if m.start() < pos:
            continue
        tok = m.group(0)
        if math is not None:
            if (math == "$" and tok == "$") or (math == "\\(" and tok == "\\)"):
                math = None
            continue
        if tok == "$" or tok == "\\(":
            math = "$" if tok == "$" else "\\("
            continue
        name = m.group(1)
        if tok == "~":
            out.append(text[pos : m.start()] + " ")
            pos = m.end()
            continue
        if tok == "{" and text.startswith("}", m.end()):  # \MP{}: an empty group typesets nothing
            out.append(text[pos : m.start()])
            pos = m.end() + 1
            continue
        if name is None:
            if tok in ("\\\\", "\\,", "\\ ", "\\;", "\\:", "\\!", "\\/", "\\@", "\\-"):
                out.append(text[pos : m.start()] + ("" if tok in ("\\/", "\\@", "\\-") else " "))
                pos = m.end()
            continue
        repl, end = _rewrite(text, m, name, rules)
        if end is None:
            continue
        out.append(text[pos : m.start()])
        out.append(repl)
        pos = end
    out.append(text[pos:n])
    return "".join(out)


def _rewrite(text: str, m: re.Match[str], name: str, rules: ProseRules) -> tuple[str, int | None]:
    """Replacement and end offset for the control word at ``m`` (end None: leave it)."""
    end = m.end()
    if name == "@":  # \@ (spacing hint after a capital): nothing
        return "", end
    if name in ("begin", "end"):
        g = read_group(text, end)
        if g is None:
            return "", None
        env, end = g[0].strip(), g[1]
        if name == "begin" and env in DROP_ENVS:
            return " ", _end_of_env(text, end, env)
        if name == "begin":
            end = _skip_opt(text, end)
        return " ", end
    if name in CITE_CMDS:
        a = _args(text, _skip_opt(text, end), 1)
        return (rules.cite_token, a[1]) if a else ("", None)
    if name in REF_CMDS:
        k = 2 if name in ("crefrange", "Crefrange") else 1
        a = _args(text, _skip_opt(text, end), k)
        return (rules.ref_token, a[1]) if a else ("", None)
    if name in SECTION_CMDS:
        a = _args(text, _skip_opt(text, end), 1)
        if a is None:
            return " ", end
        title = clean_prose(a[0][0], rules).strip()
        return (f" {title}. " if title and not title.endswith((".", "?", "!", ":")) else f" {title} "), a[1]
    if name == "item":
        return " ", _skip_opt(text, end)
    if name in _DROP_ARGS:
        k = _DROP_ARGS[name]
        a = _args(text, _skip_opt(text, end), k)
        return (" ", a[1]) if a else (" ", _skip_opt(text, end))
    if name in _DROP:
        p = end
        if p < len(text) and text[p] == " ":
            p += 1
        return " ", p
    if name in _KEEP_ARG:
        k, keep = _KEEP_ARG[name]
        a = _args(text, _skip_opt(text, end), k)
        if a is None:
            return "", None
        return clean_prose(a[0][keep], rules), a[1]
    return "", None
