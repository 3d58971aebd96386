"""One canonical spelling per formula: the dedup key of the triplet builder and the input
of formula-aware metrics.

Works on tokens (see :mod:`.tokenize`) and renders them back with minimal spacing, so the
result is a fixpoint: ``normalize(normalize(x)) == normalize(x)``. Steps:

1. drop pure layout: ``\\left``/``\\right``/``\\middle`` and the ``\\big`` family (their
   delimiter stays; ``\\left.`` vanishes, ``\\left<`` becomes ``\\langle``), ``\\displaystyle`` & co., spacing
   (``\\,`` ``\\!`` ``\\quad`` ``\\hspace{..}`` ``~``), ``\\limits``, ``\\nonumber``,
   ``\\label{..}``, ``\\tag{..}``, line-break options (``\\\\[2pt]``);
2. map synonyms to one spelling (``\\le`` -> ``\\leq``, ``\\dfrac`` -> ``\\frac``,
   ``\\lbrace`` -> ``\\{``, ``\\rightarrow`` -> ``\\to``, ``^{\\prime}`` -> ``'``,
   ``\\operatorname{sin}`` -> ``\\sin`` for the named operators LaTeX defines ...);
3. remove braces around single-token scripts (``x^{2}`` -> ``x^2``; ``x^{12}`` keeps them);
4. repair unbalanced curly braces (drop stray ``}``, close open ``{`` at the end), so that
   every sub-expression cut from the result is balanced.

5. drop sentence punctuation and line breaks at the end (``x = 1.`` -> ``x=1``).

Alignment markers ``&`` and ``\\\\`` are kept: they separate parts of multi-line formulas.
"""

from __future__ import annotations

from formulaforge.formula.tokenize import join_tokens, tokenize

_NAMED_OPERATORS = frozenset(
    r"""
    \sin \cos \tan \cot \sec \csc \arcsin \arccos \arctan \sinh \cosh \tanh \coth \log \ln \lg
    \exp \det \dim \ker \deg \hom \arg \Pr \gcd \lim \liminf \limsup \max \min \sup \inf
    """.split()
)
"""Operators LaTeX itself defines: ``\\operatorname{sin}`` is spelled ``\\sin``."""

DROP = frozenset(
    r"""
    \displaystyle \textstyle \scriptstyle \scriptscriptstyle
    \, \: \; \! \> \  \quad \qquad \enspace \thinspace \medspace \thickspace \negthinspace
    \negmedspace \negthickspace \nobreak \allowbreak \nolinebreak \displaybreak \limits \nolimits
    \nonumber \notag \mathstrut \strut \relax \protect ~
    """.split()
) | {"\\ "}

SIZING = frozenset(
    r"""
    \left \right \middle \big \Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr \Biggl
    \Biggr \bigm \Bigm \biggm \Biggm
    """.split()
)

DROP_WITH_ARG = frozenset(
    r"\label \tag \tag* \hspace \hspace* \vspace \vspace* \kern \mkern \hskip \vskip".split()
)
"""Commands dropped together with their brace argument."""

SYNONYMS = {
    r"\le": r"\leq", r"\ge": r"\geq", r"\leqslant": r"\leq", r"\geqslant": r"\geq",
    r"\ne": r"\neq", r"\neq": r"\neq",
    r"\dfrac": r"\frac", r"\tfrac": r"\frac", r"\cfrac": r"\frac",
    r"\dbinom": r"\binom", r"\tbinom": r"\binom",
    r"\lbrace": r"\{", r"\rbrace": r"\}", r"\lbrack": "[", r"\rbrack": "]",
    r"\vert": "|", r"\lvert": "|", r"\rvert": "|", r"\mid": r"\mid",
    r"\Vert": r"\|", r"\lVert": r"\|", r"\rVert": r"\|",
    r"\rightarrow": r"\to", r"\gets": r"\leftarrow",
    r"\land": r"\wedge", r"\lor": r"\vee", r"\lnot": r"\neg",
    r"\dots": r"\ldots", r"\dotsc": r"\ldots", r"\dotso": r"\ldots", r"\mathellipsis": r"\ldots",
    r"\dotsb": r"\cdots", r"\dotsm": r"\cdots", r"\dotsi": r"\cdots",
    r"\ast": "*", r"\owns": r"\ni", r"\bm": r"\boldsymbol", r"\bold": r"\mathbf",
    r"\lang": r"\langle", r"\rang": r"\rangle", r"\emptyset": r"\emptyset",
    r"\implies": r"\Longrightarrow", r"\impliedby": r"\Longleftarrow", r"\iff": r"\Longleftrightarrow",
    r"\coloneqq": ":=", r"\vcentcolon": ":", r"\hdots": r"\ldots",
}

_SYNONYM_TOKENS = {k: tuple(tokenize(v)) for k, v in SYNONYMS.items()}

_SCRIPT_ARG_TAKERS = frozenset(
    r"""
    \frac \binom \sqrt \hat \bar \tilde \vec \dot \ddot \widehat \widetilde \overline \underline
    \mathbf \mathrm \mathit \mathcal \mathbb \mathfrak \mathsf \mathtt \boldsymbol \operatorname
    \overset \underset \stackrel \overbrace \underbrace \not \check \breve \acute \grave \mathring
    \overrightarrow \overleftarrow \boxed \phantom \hphantom \vphantom \pmb \mathscr \mathbbm
    \operatorname* \substack \begin \end
    """.split()
)
_NOT_SCRIPT_ATOM = frozenset("{ } ^ _ & % # \\ '".split()) | {"\\\\"}


_TRAILING = frozenset({".", ",", ";", "\\\\"})
"""Sentence punctuation and line breaks at the end of a display formula are not math."""


def _skip_group(tokens: list[str], i: int) -> int:
    """Index after the brace group starting at ``tokens[i] == '{'`` (or ``i`` if none)."""
    if i >= len(tokens) or tokens[i] != "{":
        return i
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j]
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tokens)


def _option_end(tokens: list[str], i: int) -> int:
    """Index after a short brace-free ``[...]`` starting at ``i``, or -1."""
    for j in range(i + 1, min(len(tokens), i + 8)):
        if tokens[j] in ("{", "}", "["):
            return -1
        if tokens[j] == "]":
            return j + 1
    return -1


def _drop_row_options(tokens: list[str]) -> list[str]:
    """``\\\\[2pt]`` -> ``\\\\``: a short brace-free ``[...]`` right after a row break.

    Runs on the cleaned tokens (so ``\\\\[\\hspace{1pt}]`` is seen as ``\\\\[]``) and
    repeats (``\\\\[1pt][2pt]``), which keeps normalization a fixpoint. amsmath reads any
    ``[`` after ``\\\\`` as this option too.
    """
    if "\\\\" not in tokens:
        return tokens
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        out.append(t)
        i += 1
        if t == "\\\\":
            while i < n and tokens[i] == "[":
                close = _option_end(tokens, i)
                if close < 0:
                    break
                i = close
    return out


def _is_script_atom(tok: str) -> bool:
    if tok in _NOT_SCRIPT_ATOM or tok in _SCRIPT_ARG_TAKERS:
        return False
    return not tok.startswith(("\\begin", "\\end"))


def _clean(tokens: list[str]) -> list[str]:
    """Steps 1 and 2: drop layout, map synonyms, primes."""
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        i += 1
        if t in DROP or t == "\\":
            continue
        if t in SIZING:
            if i < n:
                if tokens[i] == ".":
                    i += 1
                elif tokens[i] == "<" and t != "\\right":  # \left< ... \right> are angle brackets
                    tokens[i] = "\\langle"
                elif tokens[i] == ">" and t != "\\left":
                    tokens[i] = "\\rangle"
            continue
        if t in DROP_WITH_ARG:
            i = _skip_group(tokens, i)
            continue
        if t == "\\operatorname" and i + 1 < n and tokens[i] == "{":
            end = _skip_group(tokens, i)
            name = "\\" + "".join(tokens[i + 1 : end - 1])
            if name in _NAMED_OPERATORS:  # \operatorname{sin} -> \sin
                out.append(name)
                i = end
                continue
        if t == "^" and i < n:
            # ^{\prime} / ^\prime / ^{\prime\prime} -> ' / ''
            if tokens[i] == "\\prime":
                out.append("'")
                i += 1
                continue
            if tokens[i] == "{":
                j = i + 1
                while j < n and tokens[j] == "\\prime":
                    j += 1
                if j > i + 1 and j < n and tokens[j] == "}":
                    out.extend("'" * (j - i - 1))
                    i = j + 1
                    continue
        syn = _SYNONYM_TOKENS.get(t)
        if syn is None:
            out.append(t)
        else:
            out.extend(syn)
    return out


def _strip_script_braces(tokens: list[str]) -> list[str]:
    """Step 3: ``x^{a}`` -> ``x^a`` where ``a`` is one token that needs no braces."""
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        out.append(t)
        i += 1
        if (t == "^" or t == "_") and i + 2 < n and tokens[i] == "{" and tokens[i + 2] == "}":
            if _is_script_atom(tokens[i + 1]):
                out.append(tokens[i + 1])
                i += 3
    return out


def _balance(tokens: list[str]) -> list[str]:
    """Step 4: drop unmatched ``}``; close unmatched ``{`` at the end."""
    depth = 0
    out: list[str] = []
    for t in tokens:
        if t == "{":
            depth += 1
        elif t == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(t)
    if depth:
        out.extend("}" * depth)
    return out


def normalize_tokens(latex: str) -> list[str]:
    """The tokens of :func:`normalize`'s result (what :func:`formulaforge.formula.parse` reads)."""
    tokens = _drop_row_options(_strip_script_braces(_balance(_clean(tokenize(latex)))))
    while tokens and tokens[-1] in _TRAILING:
        tokens.pop()
    return tokens


def normalize(latex: str) -> str:
    """Canonical LaTeX spelling of one formula; idempotent."""
    return join_tokens(normalize_tokens(latex))
