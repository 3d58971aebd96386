"""The pure-Python render engine: matplotlib's mathtext, fed research LaTeX it can read.

mathtext lays out a LaTeX subset and reports every glyph it places (character and
position) without rasterizing: exactly the "characters with positions" CDM needs, and no
TeX installation. As written, research formulas mostly fail in it (55 % of the references
of the ``ra`` corpus: ``\\bigl``, ``\\coloneqq``, ``\\lvert``, ``\\frac12``, environments,
paper-specific macros). So the normalized formula (:mod:`.prepare`) is rewritten first:

* every argument is braced (``\\frac12`` -> ``\\frac{1}{2}``, ``\\sqrt 2``, ``x^\\frac12``);
* commands mathtext lacks are mapped to a near drawing (``\\stackrel`` -> ``\\overset``,
  ``\\overbrace`` -> ``\\overline``, ``\\nicefrac{a}{b}`` -> ``{}^{a}/{}_{b}``,
  ``\\textbf`` -> ``\\mathbf``); any other unknown command is drawn as its upright name
  (``\\R`` -> ``\\mathrm{R}``), as TeX would show an undefined macro's author intent best;
* environments (matrices, ``cases``, ``array``) become their delimiters around a
  ``\\substack`` of rows, cells separated by ``\\quad``;
* top-level rows (``align`` bodies) are laid out one by one and stacked 1.5 em apart;
  alignment ``&`` vanishes;
* double scripts (``x_a_b``) get an empty base between them, as TeX's error recovery does.

Which commands mathtext knows is asked of mathtext itself (one cached trial parse per
command name), so the table follows the installed matplotlib.
"""

from __future__ import annotations

import functools
import re

from formulaforge.evaluation.metrics.rendering.prepare import (
    Env,
    Group,
    Node,
    Unbalanced,
    formula_nodes,
    split_rows,
)
from formulaforge.evaluation.metrics.rendering.symbols import Symbol

ROW_SPACING = 1.5  # em between the baselines of stacked top-level rows

ARG_COUNTS = {
    "\\frac": 2, "\\binom": 2, "\\overset": 2, "\\underset": 2, "\\stackrel": 2, "\\nicefrac": 2,
    "\\sqrt": 1, "\\overline": 1, "\\underline": 1, "\\operatorname": 1, "\\boxed": 1, "\\phantom": 1,
    "\\hphantom": 1, "\\vphantom": 1, "\\overbrace": 1, "\\underbrace": 1, "\\substack": 1, "\\not": 1,
    "\\hat": 1, "\\bar": 1, "\\tilde": 1, "\\vec": 1, "\\dot": 1, "\\ddot": 1, "\\dddot": 1, "\\widehat": 1,
    "\\widetilde": 1, "\\widebar": 1, "\\check": 1, "\\breve": 1, "\\acute": 1, "\\grave": 1, "\\mathring": 1,
    "\\overrightarrow": 1, "\\overleftarrow": 1, "\\mathbf": 1, "\\mathrm": 1, "\\mathit": 1, "\\mathcal": 1,
    "\\mathbb": 1, "\\mathfrak": 1, "\\mathsf": 1, "\\mathtt": 1, "\\mathscr": 1, "\\boldsymbol": 1,
    "\\pmb": 1, "\\mathbbm": 1, "\\mathnormal": 1, "\\bm": 1,
}
"""Commands whose arguments are braced before mathtext sees them (``\\frac12``)."""
REWRITES = {
    "\\stackrel": "\\overset", "\\overbrace": "\\overline", "\\underbrace": "\\underline", "\\pmb": "\\mathbf",
    "\\bm": "\\boldsymbol", "\\mathbbm": "\\mathbb", "\\mathnormal": "\\mathit", "\\widebar": "\\overline",
    "\\dddot": "\\ddot", "\\boxed": "", "\\lvert": "|", "\\rvert": "|", "\\lVert": "\\|", "\\rVert": "\\|",
    "\\middle": "", "\\operatorname*": "\\operatorname", "\\vcentcolon": ":", "\\dotsc": "\\ldots", "\\dotsb": "\\cdots", "\\tfrac": "\\frac",
}
TEXT_COMMANDS = {
    "\\text": "\\text", "\\mbox": "\\text", "\\hbox": "\\text", "\\textrm": "\\text", "\\textup": "\\text",
    "\\textnormal": "\\text", "\\emph": "\\mathit", "\\textit": "\\mathit", "\\textbf": "\\mathbf",
    "\\textsf": "\\mathsf", "\\texttt": "\\mathtt", "\\operatorname": "\\operatorname",
}
ENV_DELIMITERS = {
    "pmatrix": ("(", ")"), "bmatrix": ("[", "]"), "Bmatrix": ("\\{", "\\}"), "vmatrix": ("|", "|"),
    "Vmatrix": ("\\|", "\\|"), "cases": ("\\{", "."), "dcases": ("\\{", "."), "rcases": (".", "\\}"),
}
ENV_ARGUMENTS = {"array": 1, "alignat": 1, "alignedat": 1, "tabular": 1, "subarray": 1}
_TEXT_TOKEN = re.compile(r"^(\\[A-Za-z]+)\{(.*)\}$", re.DOTALL)
_TEXT_UNSAFE = re.compile(r"[\\$^_{}%&#~]")


def _parse(text: str):
    return _parser().parse(f"${text}$", dpi=72)


@functools.lru_cache(maxsize=1)
def _parser():
    from matplotlib.mathtext import MathTextParser

    return MathTextParser("path")


@functools.lru_cache(maxsize=4096)
def mathtext_knows(command: str) -> bool:
    """Does mathtext read ``command`` (alone or with one or two arguments)?"""
    for trial in (command, command + "{x}", command + "{x}{y}"):
        try:
            _parse(trial)
            return True
        except Exception:  # noqa: BLE001, S112 - mathtext raises several kinds; unknown either way
            continue
    return False


def _leaves(node: Node) -> list[str]:
    if isinstance(node, str):
        return [node.lstrip("\\")]
    return [leaf for child in node.children for leaf in _leaves(child)]


class _Emitter:
    """Write a node list as mathtext source (one row)."""

    def __init__(self) -> None:
        self.env_depth = 0  # alignment & vanishes at the top level, separates cells inside environments

    def emit(self, nodes: list[Node]) -> str:
        out: list[str] = []
        i = 0
        scripts: set[str] = set()  # scripts already attached to the current base
        while i < len(nodes):
            node = nodes[i]
            if node in ("^", "_"):
                if node in scripts:
                    out.append("{}")
                    scripts = set()
                scripts.add(node)
                arg, i = self.atom(nodes, i + 1)
                out.append(f"{node}{{{arg}}}")
                continue
            piece, i = self.atom(nodes, i)
            if node != "'":
                scripts = set()
            out.append(piece)
        return " ".join(p for p in out if p)

    def atom(self, nodes: list[Node], i: int) -> tuple[str, int]:
        """One argument-sized piece at ``i`` (a group, a token, a command with its arguments)."""
        if i >= len(nodes):
            return "{}", i
        node = nodes[i]
        if isinstance(node, Group):
            return "{" + self.emit(node.children) + "}", i + 1
        if isinstance(node, Env):
            return self.environment(node), i + 1
        return self.token(nodes, i)

    def token(self, nodes: list[Node], i: int) -> tuple[str, int]:
        tok = nodes[i]
        assert isinstance(tok, str)
        if tok in ("&", "\\\\"):
            return ("\\quad" if self.env_depth else ""), i + 1
        if tok in ("#", "%", "$"):
            return "\\" + tok, i + 1
        if not tok.startswith("\\") or len(tok) == 2 and not tok[1].isalpha():
            return tok, i + 1
        text = _TEXT_TOKEN.match(tok)
        if text:
            inner = " ".join(_TEXT_UNSAFE.sub(" ", text.group(2)).split())
            command = TEXT_COMMANDS.get(text.group(1), "\\text")
            return (f"{command}{{{inner}}}" if inner else ""), i + 1
        name = REWRITES.get(tok, tok)
        count = ARG_COUNTS.get(name, 0)
        i += 1
        if name in TEXT_COMMANDS and i < len(nodes) and isinstance(nodes[i], Group):
            sep = "" if name == "\\operatorname" else " "  # \operatorname{Tr}: letter tokens of one word
            inner = " ".join(_TEXT_UNSAFE.sub(" ", sep.join(_leaves(nodes[i]))).split())
            return (f"{TEXT_COMMANDS[name]}{{{inner}}}" if inner else ""), i + 1
        if tok == "\\sqrt" and i < len(nodes) and nodes[i] == "[":
            end = i + 1
            while end < len(nodes) and nodes[end] != "]":
                end += 1
            index = self.emit(nodes[i + 1 : end])
            arg, i = self.atom(nodes, end + 1)
            return f"\\sqrt[{index}]{{{arg or '{}'}}}", i
        args = []
        for _ in range(count):
            arg, i = self.atom(nodes, i)
            args.append(arg.removeprefix("{").removesuffix("}") if arg.startswith("{") else arg)
        if tok == "\\nicefrac":
            return f"{{}}^{{{args[0]}}}/{{}}_{{{args[1]}}}", i
        if name == "":
            return " ".join(f"{{{a}}}" for a in args), i
        if name.startswith("\\") and name[1:].isalpha() and not mathtext_knows(name):
            return f"\\mathrm{{{name[1:]}}}" + "".join(f"{{{a}}}" for a in args), i
        return name + "".join(f"{{{a or '{}'}}}" for a in args), i

    def environment(self, env: Env) -> str:
        name = env.name.rstrip("*")
        children = env.children[ENV_ARGUMENTS.get(name, 0) :]
        self.env_depth += 1
        rows = [self.emit(row) for row in split_rows(children)] or ["{}"]
        self.env_depth -= 1
        body = rows[0] if len(rows) == 1 else "\\substack{" + " \\\\ ".join(rows) + "}"
        left, right = ENV_DELIMITERS.get(name, ("", ""))
        if left:
            return f"\\left{left} {body} \\right{right}"
        return "{" + body + "}"


def mathtext_source(latex: str) -> list[str]:
    """The mathtext text of each top-level row of ``latex``; raises ``Unbalanced`` for broken environments."""
    return [_Emitter().emit(row) for row in split_rows(formula_nodes(latex))]


@functools.lru_cache(maxsize=65536)
def mathtext_symbols(latex: str) -> tuple[Symbol, ...] | None:
    """The symbols mathtext draws for ``latex`` (rows stacked); ``None`` when it cannot lay it out."""
    try:
        rows = mathtext_source(latex)
    except Unbalanced:
        return None
    if not rows:
        return None
    symbols: list[Symbol] = []
    for row, text in enumerate(rows):
        try:
            _width, _height, _depth, glyphs, rects = _parse(text)
        except Exception:  # noqa: BLE001 - any layout failure is a render failure
            return None
        em = max((float(g[1]) for g in glyphs), default=10.0)
        raw = [(chr(g[2]), float(g[4]), float(g[5])) for g in glyphs]
        raw += [("rule", float(x), float(y) + float(h) / 2) for x, y, _w, h in rects]
        if not raw:
            continue
        x0 = min(r[1] for r in raw)
        symbols += [Symbol(c, round((x - x0) / em, 4), round(y / em - ROW_SPACING * row, 4)) for c, x, y in raw]
    return tuple(symbols) if symbols else None
