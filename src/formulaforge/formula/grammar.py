"""The token classes and binding powers of the formula grammar (see docs/formula.md).

Kept apart from the parser so the tables can be read, documented and extended in one place.
Binding power: higher binds tighter. Infix operators are left-associative.
"""

from __future__ import annotations

ROWS = 1  # \\  (rows of aligned/matrix environments)
COLUMNS = 2  # &
SEMICOLON = 3  # ;
SUCH_THAT = 4  # :  \mid  \colon  | (outside an absolute value)
COMMA = 5  # ,
LOGIC = 6  # \Longrightarrow \iff ...
RELATION = 7  # = < \leq \in \to ...
ADDITIVE = 8  # + - \pm \cup ...
MULTIPLICATIVE = 9  # \cdot \times / and implicit products (juxtaposition)
POSTFIX = 10  # ! and scripts (handled directly on primaries)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LOGIC_OPS = _words(
    r"""
    \Longrightarrow \Longleftarrow \Longleftrightarrow \Rightarrow \Leftarrow \Leftrightarrow
    \Rrightarrow \Lleftarrow \therefore \because
    """
)

RELATION_OPS = _words(
    r"""
    = < > \leq \geq \neq \approx \sim \simeq \cong \equiv \in \notin \ni \subset \subseteq
    \subsetneq \supset \supseteq \supsetneq \to \mapsto \propto \ll \gg \lll \ggg \perp \parallel
    \models \vdash \dashv \Vdash \vDash \prec \succ \preceq \succeq \asymp \doteq \triangleq \leftarrow
    \longrightarrow \longleftarrow \longmapsto \hookrightarrow \hookleftarrow \twoheadrightarrow
    \rightharpoonup \rightleftharpoons \rightrightarrows \leftrightarrow \longleftrightarrow \uparrow
    \downarrow \nearrow \searrow \lesssim \gtrsim \lessapprox \gtrapprox \leqq \geqq \nleq \ngeq
    \nless \ngtr \nsubseteq \nsupseteq \sqsubseteq \sqsupseteq \sqsubset \sqsupset \lhd \rhd \unlhd
    \unrhd \trianglelefteq \trianglerighteq \vartriangleleft \vartriangleright \approxeq \backsim
    \eqsim \nsim \ncong \napprox \coloneq \eqqcolon \eqcolon \defeq \leadsto \rightsquigarrow
    \curlyeqprec \curlyeqsucc \precsim \succsim \bumpeq \Bumpeq \risingdotseq \fallingdotseq
    \circeq \eqcirc \smile \frown \divides \nmid \sqsubsetneq \varpropto \dashrightarrow \mapsfrom
    \Longmapsto \multimap
    """
)

ARG_RELATIONS = _words(r"\xrightarrow \xleftarrow \xmapsto \xlongrightarrow \xhookrightarrow \xLongrightarrow \xRightarrow \xleftrightarrow \xtwoheadrightarrow")
"""Relations that carry a label: ``\\xrightarrow[below]{above}``."""

STACKED_RELATIONS = _words(r"\overset \stackrel \underset")
"""In infix position ``\\overset{def}{=}`` is a relation with a label."""

ADDITIVE_OPS = _words(
    r"""
    + - \pm \mp \cup \vee \oplus \ominus \setminus \sqcup \uplus \dotplus \smallsetminus \boxplus
    \triangle \vartriangle \curlyvee
    """
)

MULTIPLICATIVE_OPS = _words(
    r"""
    \cdot \times / \div * \cap \wedge \otimes \circ \odot \star \bullet \bmod \boxtimes \ltimes
    \rtimes \sqcap \diamond \amalg \wr \oslash \boxdot \centerdot \curlywedge \intercal \cdotp
    \barwedge \circledast \circledcirc \divideontimes
    """
)

SEPARATORS = {"\\\\": ROWS, "&": COLUMNS, ";": SEMICOLON, ":": SUCH_THAT, r"\mid": SUCH_THAT,
              r"\colon": SUCH_THAT, ",": COMMA, r"\vert": SUCH_THAT}

INFIX: dict[str, int] = {}
INFIX.update(SEPARATORS)
INFIX.update(dict.fromkeys(LOGIC_OPS, LOGIC))
INFIX.update(dict.fromkeys(RELATION_OPS, RELATION))
INFIX.update(dict.fromkeys(ARG_RELATIONS, RELATION))
INFIX.update(dict.fromkeys(ADDITIVE_OPS, ADDITIVE))
INFIX.update(dict.fromkeys(MULTIPLICATIVE_OPS, MULTIPLICATIVE))

PREFIX_OPS = _words(r"- + \pm \mp \neg")
"""Operators that may start an operand; their operand extends over a product (``-ab``)."""

OPENERS = {"(": (")", "]"), "[": ("]", ")"), r"\{": (r"\}",), r"\langle": (r"\rangle",),
           r"\lfloor": (r"\rfloor",), r"\lceil": (r"\rceil",), r"\llbracket": (r"\rrbracket",),
           r"\lbrack": ("]",), r"\lVert": (r"\rVert",), r"\lvert": (r"\rvert",)}
CLOSERS = _words(r") ] \} \rangle \rfloor \rceil \rrbracket \rVert \rvert")
BARS = {"|", r"\|"}

FRAC_LIKE = _words(r"\frac \binom \overset \underset \stackrel \dfrac \tfrac \cfrac \tbinom \dbinom")
"""Two-argument constructors."""

ONE_ARG = _words(
    r"""
    \hat \bar \tilde \vec \dot \ddot \dddot \widehat \widetilde \overline \underline \check \breve
    \acute \grave \mathring \overrightarrow \overleftarrow \overleftrightarrow \boxed \phantom
    \hphantom \vphantom \overbrace \underbrace \substack \cancel \bcancel \xcancel \sout \uline
    \pmb
    """
)
"""Accents and decorations: one argument."""

FONT = _words(
    r"""
    \mathbf \mathrm \mathit \mathcal \mathbb \mathfrak \mathsf \mathtt \boldsymbol \mathscr \mathbbm
    \mathds \mathnormal \bf \rm \it \cal \Bbb \mathbbb
    """
)
"""Font switches: the result is a symbol when the argument is a plain word."""

FUNCTIONS = _words(
    r"""
    \sin \cos \tan \cot \sec \csc \arcsin \arccos \arctan \arccot \sinh \cosh \tanh \coth \sech \csch
    \log \ln \lg \exp \det \dim \ker \deg \hom \arg \Pr \gcd \lcm \Re \Im \sgn \tr \Tr \rank \diag
    \erf \id \Id \span \supp \vol \Var \Cov \var \cov \operatorname
    """
)
"""Named functions applied to the following operand (``\\sin 2x``, ``\\log_2(n)``)."""

BIG_OPERATORS = _words(
    r"""
    \sum \prod \coprod \int \iint \iiint \iiiint \oint \oiint \idotsint \bigcup \bigcap \bigoplus
    \bigotimes \bigodot \bigvee \bigwedge \bigsqcup \biguplus \lim \liminf \limsup \max \min \sup \inf
    \esssup \essinf \argmax \argmin \varlimsup \varliminf \injlim \projlim \operatorname*
    """
)
"""Operators with limits and a body that extends over a product (``\\sum_i a_i b_i + c``)."""

INTEGRALS = _words(r"\int \iint \iiint \iiiint \oint \oiint \idotsint")

ENV_WITH_ARG = _words(r"array tabular alignat alignat* alignedat subarray")

MAX_DEPTH = 150
"""Nesting deeper than this falls back to a flat sequence (instead of a RecursionError)."""
