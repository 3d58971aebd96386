"""The TeX render engine: ``latex`` typesets each formula, ``matplotlib.dviread`` reads where
every glyph and rule landed in the DVI file.

Why this way: the CDM paper typesets with a real TeX engine and recovers characters and
positions from colour-coded images; a DVI file already lists every glyph with its font and
position, so reading it gives the same "characters with positions" exactly, with no
rasterizing, colours or pdf. A real engine renders research LaTeX as its authors saw it
(amsmath, amssymb, bm, mathrsfs; mathtools' few commands research formulas use are defined
in the preamble, because loading mathtools breaks ``\\sin`` inside ``aligned`` in a box). Commands no loaded package defines (a paper's own ``\\R``,
``\\norm``) are drawn as their upright name, like the mathtext engine does; a formula TeX
reports an error for is unrendered (``None``), never guessed.

Formulas are typeset many to a run, one DVI page each, so a batch costs one TeX start
(about 0.3 s) instead of one per formula; a page is attributed to its formula by markers in
the log. The input is untrusted model output, so a formula is refused before TeX sees it
when it holds a command that reads or writes files, defines macros or changes TeX's state
(:data:`FORBIDDEN`), a ``^^`` escape (which could spell those), ``%``, ``#`` or an odd ``$``; TeX
runs without shell escape, with kpathsea's paranoid file access, in a temporary directory,
under a time limit. A batch that fails as a whole (a formula with over 100 TeX errors ends
the run) is rerun without the formula the log says TeX stopped in, or split in halves.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from formulaforge.evaluation.metrics.rendering.prepare import Unbalanced, formula_nodes, split_rows
from formulaforge.evaluation.metrics.rendering.symbols import Symbol
from formulaforge.formula.tokenize import join_tokens

BATCH = 200
TIMEOUT_BASE, TIMEOUT_PER_FORMULA = 20.0, 0.2  # seconds of wall clock for one latex run
FONT_SIZE_PT = 10.0  # the article class's size: positions are divided by it to get ems
_CACHE_MAX = 65536

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FORBIDDEN = _words(
    r"""
    \def \edef \gdef \xdef \let \futurelet \global \long \outer \input \include \InputIfFileExists
    \openin \openout \read \readline \write \immediate \closein \closeout \special \catcode \lccode
    \uccode \mathcode \delcode \sfcode \csname \endcsname \expandafter \noexpand \afterassignment
    \aftergroup \everymath \everydisplay \everyhbox \everyvbox \everypar \everyjob \everyeof \output
    \shipout \jobname \newcommand \renewcommand \providecommand \newenvironment \renewenvironment
    \DeclareMathOperator \DeclareRobustCommand \usepackage \RequirePackage \documentclass \makeatletter
    \makeatother \endinput \dump \batchmode \errorstopmode \nonstopmode \scrollmode \scantokens
    \detokenize \string \uppercase \lowercase \loop \repeat \directlua \pdfprimitive \primitive
    \errmessage \message \typeout \count \dimen \skip \toks \countdef \dimendef \skipdef \toksdef
    \chardef \mathchardef \setbox \box \copy \unhbox \unvbox \halign \valign \vfill \newpage
    \clearpage \pagebreak \tracingall \tracingonline \showlists \show \showbox \showthe \char
    \mathchar \endgraf \obeylines \ifx \if \fi
    \else \ifdefined \ifcsname \ifnum \ifdim \or \unless \the \number \romannumeral \pdfshellescape
    """
)
MARKER = r"\vrule width 1pt height 1pt depth 0pt\kern-1pt "
"""Drawn first in every formula's box: its rule gives the box's left edge, baseline and the size of a point."""
_COMMAND = re.compile(r"\\(?:[A-Za-z@]+|.)")
PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\IfFileExists{bm.sty}{\usepackage{bm}}{}
\IfFileExists{mathrsfs.sty}{\usepackage{mathrsfs}}{}
\providecommand\nicefrac[2]{{}^{#1}\!/{}_{#2}}
\providecommand\mathbbm[1]{\mathbb{#1}}
\providecommand\coloneqq{\mathrel{:}=}\providecommand\coloneq{\mathrel{:}-}\providecommand\eqqcolon{=\mathrel{:}}
\providecommand\vcentcolon{\mathrel{:}}\providecommand\mathclap[1]{#1}\providecommand\mathllap[1]{#1}
\providecommand\mathrlap[1]{#1}\providecommand\prescript[3]{{}^{#1}_{#2}#3}
\makeatletter
\newcommand\ffprovide[2]{\ifdefined#1\else\def#1{\mathrm{#2}}\fi}
\makeatother
\hoffset=-1in \voffset=-1in \pagestyle{empty}
\begin{document}
"""


@functools.lru_cache(maxsize=1)
def tex_available() -> bool:
    """Is a ``latex`` with amsmath installed? (Checked by typesetting one formula.)"""
    if shutil.which("latex") is None or shutil.which("kpsewhich") is None:
        return False
    return _render_batch(["x"])[0][0][0] is not None


ENV_IN_MATH = {
    "split": "aligned", "align": "aligned", "align*": "aligned", "flalign": "aligned", "flalign*": "aligned",
    "eqnarray": "aligned", "eqnarray*": "aligned", "alignat": "alignedat", "alignat*": "alignedat",
    "gather": "gathered", "gather*": "gathered", "multline": "gathered", "multline*": "gathered",
}
"""Display environments a formula body may still hold, as the inner-math environment that draws the same."""
_TEXT_TOKEN = re.compile(r"^\\[A-Za-z]+\{.*\}$", re.DOTALL)
_UNSAFE_CHARS = re.compile(r"(?<!\\)[%#]")


def _safe(tokens: list[str]) -> bool:
    """No command of :data:`FORBIDDEN` anywhere (text tokens included), no ``^^``, bare ``%`` or ``#``,
    and ``$`` only in pairs (``\\text{if $x>0$}``, proof trees)."""
    if sum(tok.count("$") - tok.count("\\$") for tok in tokens) % 2:
        return False  # an odd $ in text would leave math mode for the rest of the box
    for tok in tokens:
        if any(cmd in FORBIDDEN for cmd in _COMMAND.findall(tok)) or "^^" in tok or _UNSAFE_CHARS.search(tok):
            return False
        if tok == "\\end" or tok.startswith(("\\begin{document", "\\end{document")):
            return False
    return True


def tex_body(latex: str) -> str | None:
    """The math-mode text TeX is given for ``latex`` (normalized; rows in ``aligned``), or None when refused."""
    from formulaforge.formula import normalize_tokens

    try:
        nodes = formula_nodes(latex)
    except Unbalanced:
        return None
    # A bare $ inside a formula is macro syntax (bussproofs' \\UnaryInf$...$), not a switch to text
    # the author wanted: dropped, so the rest stays math instead of a cascade of TeX errors.
    tokens = [tok for tok in normalize_tokens(latex) if tok != "$"]
    if not nodes or "^^" in latex or not _safe(tokens):
        return None
    for i, tok in enumerate(tokens):
        for edge in ("\\begin{", "\\end{"):
            if tok.startswith(edge) and tok[len(edge) : -1] in ENV_IN_MATH:
                tokens[i] = f"{edge}{ENV_IN_MATH[tok[len(edge) : -1]]}}}"
    body = join_tokens(tokens)
    if len(split_rows(nodes)) > 1 or "&" in nodes:
        body = "\\begin{aligned}[t]" + body + "\\end{aligned}"  # [t]: the first row is the baseline, so
        # positions do not move when a row is added or dropped (centred rows would all shift)
    return body


TEXT_ONLY = _words(r"\a \b \c \d \H \t \u \v \r \k \l \o \i \j \L \O \ae \AE \oe \OE \aa \AA \ss")
"""Text accents and letters, errors in math mode: papers reuse these names for their own math macros
(``\\a`` for a vector), so inside a formula they are drawn as their name like other unknown macros."""


def _provides(body: str) -> str:
    """Local definitions drawing each command no package defines (and :data:`TEXT_ONLY` ones) as its name."""
    names = sorted({m for m in _COMMAND.findall(body) if m[1:].isalpha() and not m.startswith(("\\begin", "\\end"))})
    return "".join(
        f"\\def{n}{{\\mathrm{{{n[1:]}}}}}" if n in TEXT_ONLY else f"\\ffprovide{n}{{{n[1:]}}}" for n in names
    )


def _document(bodies: list[str]) -> str:
    parts = [PREAMBLE]
    for i, body in enumerate(bodies):
        parts.append(f"\\typeout{{FFBEGIN {i}}}\n\\setbox0\\hbox{{{MARKER}{_provides(body)}$\\displaystyle {body}$}}"
                     f"\\shipout\\box0\\setbox0\\vbox{{\\indent\\par}}\n\\typeout{{FFEND {i}}}\n")
        # (an ended paragraph resets TeX's error count, which stops a run at 100)
    parts.append("\\end{document}\n")
    return "".join(parts)


def _failed_formulas(log: str) -> tuple[set[int], int | None]:
    """Indexes of formulas whose stretch of the log holds a TeX error (``! ...``), and the formula
    TeX was in when it stopped (begun, never ended; None when the run finished)."""
    failed: set[int] = set()
    current = None
    for line in log.splitlines():
        if line.startswith("FFBEGIN "):
            current = int(line.split()[1])
        elif line.startswith("FFEND "):
            current = None
        elif line.startswith("!") and current is not None:
            failed.add(current)
    return failed, current


def _page_symbols(page) -> tuple[Symbol, ...] | None:  # page: a matplotlib.dviread.Page
    """Glyphs (``font:code``) and rules of one page, in ems from the :data:`MARKER` (left edge, baseline)."""
    if not page.boxes:
        return None
    marker, rules = page.boxes[0], page.boxes[1:]
    x0, y0, em = marker.x, marker.y, FONT_SIZE_PT * marker.width  # the marker is 1pt wide
    if em <= 0:
        return None
    symbols = [Symbol(f"{t.font.texname.decode('ascii', 'replace')}:{t.glyph}", t.x, t.y) for t in page.text]
    symbols += [Symbol("rule", b.x, b.y - b.height / 2) for b in rules]
    if not symbols:
        return None
    # DVI's y grows downwards; ours upwards from the baseline.
    return tuple(Symbol(s.char, round((s.x - x0) / em, 4), round((y0 - s.y) / em, 4)) for s in symbols)


Rendered = tuple[tuple[Symbol, ...] | None, bool]
"""A formula's symbols (None: no page) and whether TeX reported an error on the way (recovered)."""


def _render_batch(bodies: list[str]) -> tuple[list[Rendered], int | None]:
    """Typeset ``bodies`` (already checked by :func:`tex_body`) in one run.

    When the run fails as a whole every result is ``(None, True)``, with the index of the
    formula TeX stopped in when the log says (e.g. its 100th error), else None.
    """
    from matplotlib import dviread

    failed_run: list[Rendered] = [(None, True)] * len(bodies)
    env = {**os.environ, "openin_any": "p", "openout_any": "p", "shell_escape": "f"}
    with tempfile.TemporaryDirectory(prefix="formulaforge-tex-") as tmp:
        src = Path(tmp) / "f.tex"
        src.write_text(_document(bodies), encoding="utf-8")
        try:
            subprocess.run(
                ["latex", "-no-shell-escape", "-interaction=batchmode", "f.tex"],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=TIMEOUT_BASE + TIMEOUT_PER_FORMULA * len(bodies), check=False,
            )
        except subprocess.TimeoutExpired:
            return failed_run, None
        log_path, dvi_path = Path(tmp) / "f.log", Path(tmp) / "f.dvi"
        if not log_path.exists():
            return failed_run, None
        failed, stopped_in = _failed_formulas(log_path.read_text(encoding="latin-1"))
        if stopped_in is not None or not dvi_path.exists():
            return failed_run, stopped_in
        try:
            with dviread.Dvi(str(dvi_path), None) as dvi:
                pages = [_page_symbols(page) for page in dvi]
        except Exception:  # noqa: BLE001 - a DVI matplotlib cannot read: treat the batch as failed
            return failed_run, None
    if len(pages) != len(bodies):
        return failed_run, None
    return [(page, i in failed) for i, page in enumerate(pages)], None


def _render_robust(bodies: list[str]) -> list[Rendered]:
    """:func:`_render_batch`; a batch that failed as a whole is rerun without the formula TeX stopped
    in (when the log names it), otherwise split in halves, until single formulas fail alone."""
    out, stopped_in = _render_batch(bodies)
    if len(bodies) == 1 or not all(page is None for page, _ in out):
        return out
    if stopped_in is not None and 0 <= stopped_in < len(bodies):
        head = _render_robust(bodies[:stopped_in]) if stopped_in else []
        tail = _render_robust(bodies[stopped_in + 1 :]) if stopped_in + 1 < len(bodies) else []
        return [*head, (None, True), *tail]
    mid = len(bodies) // 2
    return _render_robust(bodies[:mid]) + _render_robust(bodies[mid:])


_CACHE: dict[str, Rendered] = {}


def tex_render_many(formulas: list[str]) -> list[Rendered]:
    """(symbols, TeX reported an error) per formula; symbols are None when refused or nothing was shipped.

    A formula TeX recovered from (an error in the log, a page shipped) keeps the page TeX drew:
    it is deterministic, so identical inputs still score 1.0, and research LaTeX with foreign
    packages (``\\xymatrix``, proof trees) still renders as TeX shows it without them. The
    coverage benchmark reports how many formulas rendered cleanly.
    """
    todo = list(dict.fromkeys(f for f in formulas if f not in _CACHE))
    bodies = {f: tex_body(f) if f.strip() else None for f in todo}
    to_render = list(dict.fromkeys(b for b in bodies.values() if b is not None))
    rendered: dict[str, Rendered] = {}
    for start in range(0, len(to_render), BATCH):
        chunk = to_render[start : start + BATCH]
        rendered.update(zip(chunk, _render_robust(chunk)))
    if len(_CACHE) + len(todo) > _CACHE_MAX:
        _CACHE.clear()
    out = {f: rendered[b] if b is not None else (None, False) for f, b in bodies.items()}
    _CACHE.update(out)
    return [_CACHE.get(f) or out[f] for f in formulas]


def tex_symbols_many(formulas: list[str]) -> list[tuple[Symbol, ...] | None]:
    """The symbols TeX draws for each formula (``None``: refused, or TeX shipped nothing); cached."""
    return [symbols for symbols, _ in tex_render_many(formulas)]


def tex_symbols(latex: str) -> tuple[Symbol, ...] | None:
    """:func:`tex_symbols_many` for one formula."""
    return tex_symbols_many([latex])[0]
