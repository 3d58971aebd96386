"""Read normalized LaTeX tokens as a sympy expression: FormulaForge's own strict reader.

Why not a library: latex2sympy (math-verify's converter, used here before) and sympy's
own ``parse_latex`` (ANTLR or Lark) are general LaTeX grammars run by pure-Python parser
engines: 7.5 ms per text on average over research formulas, seconds on some,
exponential in nesting depth (docs/benchmarks.md, issue 5). Worse
for a metric, they *misread* rather than refuse: latex2sympy reads ``a \\approx b`` as ``b``,
``x^{T}`` as ``x``, ``f^{-1}(x)`` as ``1/f(x)`` and ``\\log x`` in base 10. A
metric that claims two formulas are the same mathematics must read soundly or not at
all. This reader is a recursive-descent parser over :func:`~formulaforge.formula.normalize`
tokens (~0.2 ms per formula) that raises :class:`Unsupported` on anything outside the
subset below.

What it reads (docs/formula.md, "To sympy", tabulates the conventions):

* numbers (exact rationals), Latin and Greek letters, ``e`` as Euler's number, ``\\pi``,
  ``\\infty``; subscripted, primed, accented and font-styled symbols as one symbol each
  (``x_{i}``, ``f'``, ``\\hat{x}``, ``\\mathcal{L}``; bold ones do not commute);
* ``+ - \\cdot \\times / \\div``, implicit products, ``^`` powers, ``!``, ``|x|``,
  ``\\frac``, ``\\sqrt[n]``, ``\\binom``, brace and parenthesis groups;
* the elementary functions (``\\sin^2 x``, ``\\log_2 n``, ``\\ln``, ``\\exp``; ``\\log`` is
  natural), ``\\max``/``\\min`` of a list; applications ``f(x, y)`` when the head is a
  function-like symbol (:data:`FUNCTION_LETTERS`, Greek :data:`FUNCTION_GREEK`, styled or
  accented symbols) or the parenthesis holds a comma (``B(x, r)``), otherwise ``a(b+c)``
  is a product;
* ``\\sum``/``\\prod`` with both bounds, ``\\int`` with its differential, ``\\lim_{x\\to a}``,
  kept unevaluated;
* ``\\times`` and ``\\cdot`` between vector-styled operands (:data:`VECTOR_STYLES`) as the opaque,
  ordered functions :data:`CROSS` and :data:`DOT`, so cross, dot and plain products never coincide;
* relations ``= < > \\leq \\geq \\neq`` (``>`` and ``\\geq`` stored flipped, so
  ``y > x`` and ``x < y`` are one object); a chain ``0 < x \\leq 1`` is a ``Tuple`` of
  its links, in order.

Refused (:class:`Unsupported`): everything else, notably sets and membership, ``\\approx``
and ``\\sim``, ``\\pm``, dots, tuples, transposes and starred/daggered
superscripts, parenthesized superscripts (``w^{(s)}``, an index), ``f^{-1}(x)``,
derivative fractions (``\\frac{d}{dx}``, ``dy/dx``, ``\\partial``; ``d`` alone or before an operator
is a variable: ``\\frac{c}{d}``), division by zero, sums without bounds, integrals
without a differential, huge integer powers and factorials (sympy would evaluate them).
"""

from __future__ import annotations

from typing import Any


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_DEPTH = 80
MAX_EXACT_POWER = 300  # n above which n! and binom(n, k) are refused, not evaluated
MAX_EXACT_BITS = 16_384  # exact powers of numbers are refused above this size: Python's big-int
# arithmetic is one C call that no time limit interrupts (((2^300)^300)^300 needs 27 million bits)

GREEK = _words(
    r"""
    \alpha \beta \gamma \delta \epsilon \varepsilon \zeta \eta \theta \vartheta \iota \kappa
    \varkappa \lambda \mu \nu \xi \omicron \rho \varrho \sigma \varsigma \tau \upsilon \phi
    \varphi \chi \psi \omega \Gamma \Delta \Theta \Lambda \Xi \Sigma \Upsilon \Phi \Psi \Omega
    \Pi \ell \hbar
    """
)
FUNCTION_LETTERS = _words("f g h F G H p P q Q u v w L")
"""Latin heads read as functions when a parenthesis follows (``f(x)``); ``a(b+c)`` is a product."""
FUNCTION_GREEK = _words(r"\phi \varphi \psi \Phi \Psi \sigma \rho \mu \chi \Gamma \zeta")
ACCENTS = _words(
    r"\hat \bar \tilde \vec \dot \ddot \widehat \widetilde \overline \check \breve \overrightarrow"
)
FONTS = _words(r"\mathrm \mathit \mathcal \mathbf \boldsymbol \mathsf \mathfrak \mathscr \mathtt \pmb")
NONCOMMUTATIVE_STYLES = _words(r"\mathbf \boldsymbol \pmb \vec \overrightarrow")
VECTOR_STYLES = NONCOMMUTATIVE_STYLES | _words(r"\hat \widehat")
"""Styles that mark a vector (or matrix, or unit vector): between two such operands ``\\cdot`` and
``\\times`` are dot and cross products, kept as the opaque functions :data:`DOT` and :data:`CROSS`."""
DOT, CROSS = "vector_dot", "vector_cross"
FUNCTIONS = _words(
    r"""
    \sin \cos \tan \cot \sec \csc \arcsin \arccos \arctan \sinh \cosh \tanh \coth \exp \ln \log
    """
)
RELATIONS = _words(r"= < > \leq \geq \neq")
FORBIDDEN_SUPERSCRIPTS = _words(r"T \top \intercal \dagger \ast * \star \circ H + -")
DIFFERENTIALS = frozenset({"d"})
_SYMPY_FUNCTIONS = {"\\ln": "log", "\\arcsin": "asin", "\\arccos": "acos", "\\arctan": "atan"}


def _is_letter(tok: str) -> bool:
    return tok in GREEK or (len(tok) == 1 and tok.isalpha())


def _differential_width(t: list[str], j: int) -> int:
    """Tokens in a differential ``d x`` / ``\\mathrm{d} x`` starting at ``t[j]`` plus one (the variable), else 0.

    ``d`` is a differential only when a letter follows it: ``\\frac{c}{d}`` and ``d^2`` are the variable d.
    """
    if j < len(t) and t[j] in DIFFERENTIALS and j + 1 < len(t) and _is_letter(t[j + 1]):
        return 2
    if t[j : j + 4] == ["\\mathrm", "{", "d", "}"] and j + 4 < len(t):
        return 5
    return 0


def _derivative_denominator(den: list[str]) -> bool:
    """Is a fraction's denominator that of a derivative (``d x``, ``\\mathrm{d} t``, ``\\partial x``,
    ``\\delta f``)? A lone ``d`` or ``\\delta`` (``\\frac{c}{d}``), or ``d`` before an operator, is a variable."""
    if not den:
        return False
    if den[0] == "\\partial" or _differential_width(den, 0):
        return True
    return den[0] == "\\delta" and len(den) > 1 and _is_letter(den[1])


class Unsupported(ValueError):
    """The formula is outside what :func:`read_sympy` reads soundly."""


def read_sympy(tokens: list[str]) -> Any:
    """The sympy expression or relation for normalized ``tokens``; raises :class:`Unsupported`."""
    if not tokens:
        raise Unsupported("empty formula")
    reader = _Reader(tokens)
    result = reader.formula()
    if reader.i != len(tokens):
        raise Unsupported(f"unexpected {tokens[reader.i]!r} at token {reader.i}")
    if result.has(reader.sp.zoo, reader.sp.nan):
        raise Unsupported("division by zero or an undefined value")  # 1/0 and 2/0 are both zoo
    return result


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        import sympy

        self.sp = sympy
        self.t = tokens
        self.i = 0
        self.depth = 0
        self.abs_depth = 0
        self.function_head_with_power = False  # f^{-1}(x), f^2(x): set by symbol(), checked by scripts()

    # -- token helpers --------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise Unsupported(f"expected {expected or 'a token'} at token {self.i}, got {tok!r}")
        self.i += 1
        return tok

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unsupported("nested too deeply")

    def group_tokens(self) -> list[str]:
        """The tokens of the argument at the cursor: a ``{...}`` group's inside, or one token."""
        if self.peek() != "{":
            return [self.take()]
        start = self.i + 1
        level = 0
        while self.i < len(self.t):
            tok = self.t[self.i]
            self.i += 1
            if tok == "{":
                level += 1
            elif tok == "}":
                level -= 1
                if level == 0:
                    return self.t[start : self.i - 1]
        raise Unsupported("unclosed group")

    def sub(self, tokens: list[str], what: str = "side") -> Any:
        """Read a token slice completely with a fresh reader (arguments, bounds)."""
        if not tokens:
            raise Unsupported("empty argument")
        reader = _Reader(tokens)
        reader.depth = self.depth + 1
        if reader.depth > MAX_DEPTH:
            raise Unsupported("nested too deeply")
        result = getattr(reader, what)()
        if reader.i != len(tokens):
            raise Unsupported(f"unexpected {tokens[reader.i]!r} in an argument")
        return result

    # -- grammar -----------------------------------------------------------------------
    def formula(self) -> Any:
        """One side, a relation, or a chain of relations (``0 < x \\leq 1``, ``a = b = c``)."""
        sides = [self.side()]
        ops: list[str] = []
        while (op := self.peek()) in RELATIONS:
            self.i += 1
            ops.append(op)
            sides.append(self.side())
        if not ops:
            return sides[0]
        links = [self.relation(op, lhs, rhs) for op, lhs, rhs in zip(ops, sides, sides[1:])]
        return links[0] if len(links) == 1 else self.sp.Tuple(*links)

    def relation(self, op: str, lhs: Any, rhs: Any) -> Any:
        sp = self.sp
        if op == "=":
            return sp.Eq(lhs, rhs, evaluate=False)
        if op == "\\neq":
            return sp.Ne(lhs, rhs, evaluate=False)
        if op == "<":
            return sp.Lt(lhs, rhs, evaluate=False)
        if op == ">":
            return sp.Lt(rhs, lhs, evaluate=False)
        if op == "\\leq":
            return sp.Le(lhs, rhs, evaluate=False)
        return sp.Le(rhs, lhs, evaluate=False)  # \geq

    def side(self) -> Any:
        """A sum of terms: ``[+-] term ([+-] term)*``."""
        self.enter()
        terms = [self.term()]
        while self.peek() in ("+", "-"):
            op = self.take()
            term = self.term()
            terms.append(-term if op == "-" else term)
        self.depth -= 1
        return self.sp.Add(*terms)

    def term(self) -> Any:
        """A product: factors joined by ``\\cdot \\times / \\div`` or juxtaposition."""
        sp = self.sp
        result = self.factor()
        while True:
            tok = self.peek()
            if tok in ("\\cdot", "\\times"):
                self.i += 1
                right = self.factor()
                if self.vector_product(result, right):
                    name = DOT if tok == "\\cdot" else CROSS
                    result = sp.Function(name, commutative=name == DOT)(result, right)
                else:
                    result = sp.Mul(result, right)
            elif tok in ("/", "\\div"):
                self.i += 1
                if self.differential_at(self.i):
                    raise Unsupported("derivative notation (d y / d x)")
                result = sp.Mul(result, sp.Pow(self.factor(), -1))
            elif tok is not None and self.starts_factor(tok):
                result = sp.Mul(result, self.factor(implicit=True))
            else:
                return result

    @staticmethod
    def vector_like(expr: Any) -> bool:
        """Does ``expr`` involve a vector-styled symbol (``\\mathbf{a}``, ``\\vec{v}``, ``\\hat{n}``) or product?"""
        from sympy.core.function import AppliedUndef

        for atom in expr.atoms(AppliedUndef) | expr.free_symbols:
            name = getattr(atom, "name", None) or atom.func.__name__
            if name in (DOT, CROSS) or name.split("{", 1)[0] in VECTOR_STYLES:
                return True
        return False

    def vector_product(self, left: Any, right: Any) -> bool:
        """Is ``left \\cdot right`` / ``left \\times right`` a dot or cross product rather than a product?

        Yes when either operand is vector-like and neither is a plain number (``2 \\times \\mathbf{a}``
        scales): read as products, ``\\mathbf{a}\\times\\mathbf{b}`` and ``\\mathbf{a}\\cdot\\mathbf{b}``
        would be one object. A scalar symbol times a vector is kept as an operator too: it costs an
        unproven equivalence (``\\lambda\\cdot\\mathbf{v}`` vs ``\\lambda\\mathbf{v}``), never a false one.
        """
        if left.is_number or right.is_number:
            return False
        return self.vector_like(left) or self.vector_like(right)

    def differential_at(self, j: int) -> bool:
        """Does a differential ``d x`` (``\\mathrm{d} x``, ``\\partial x``) start at token ``j``?"""
        return self._differential_width(j) > 0 or (j < len(self.t) and self.t[j] == "\\partial")

    def starts_factor(self, tok: str) -> bool:
        if tok == "|":
            return self.abs_depth == 0  # inside |...| a bar in product position closes it
        if tok in ("(", "{", "[") or tok[0].isalnum() or tok == ".":
            return True
        return tok in GREEK or tok in FUNCTIONS or tok in ACCENTS or tok in FONTS or tok in (
            "\\frac", "\\sqrt", "\\binom", "\\pi", "\\infty", "\\sum", "\\prod", "\\int", "\\lim",
            "\\max", "\\min", "\\operatorname")

    def factor(self, implicit: bool = False) -> Any:
        tok = self.peek()
        if tok in ("-", "+") and not implicit:
            self.i += 1
            inner = self.factor()
            return -inner if tok == "-" else inner
        self.enter()
        base = self.primary()
        result = self.scripts(base)
        while self.peek() == "!":
            self.i += 1
            if result.is_Integer and abs(int(result)) > MAX_EXACT_POWER:
                raise Unsupported("factorial too large to evaluate")
            result = self.sp.factorial(result)
        self.depth -= 1
        return result

    def scripts(self, base: Any) -> Any:
        """Powers after a primary (subscripts and primes were taken by :meth:`symbol`)."""
        sp = self.sp
        while self.peek() == "^":
            self.i += 1
            exp_tokens = self.group_tokens()
            if len(exp_tokens) == 1 and exp_tokens[0] in FORBIDDEN_SUPERSCRIPTS:
                raise Unsupported(f"superscript {exp_tokens[0]} is not a power")
            if exp_tokens and exp_tokens[0] == "(" and exp_tokens[-1] == ")":
                raise Unsupported("parenthesized superscript (an index, not a power)")
            exponent = self.sub(exp_tokens)
            if base.is_number and exponent.is_Rational and self.too_large_power(base, exponent):
                raise Unsupported("exact power too large to evaluate")
            base = sp.Pow(base, exponent)
        if self.peek() in ("_", "'"):
            raise Unsupported("subscript or prime on a compound expression")
        if self.function_head_with_power:
            self.function_head_with_power = False
            if self.peek() == "(":
                raise Unsupported("a power of a function before its argument (f^{-1}(x))")
        return base

    @staticmethod
    def too_large_power(base: Any, exponent: Any) -> bool:
        """Would sympy compute a huge exact number for ``base ** exponent`` (both numbers)?

        A rational base grows by its bit size per unit of exponent; other numbers
        (``\\sqrt{2}``, ``2^{1/3}``) can fold into rational powers, so their exponent is capped.
        """
        magnitude = abs(exponent.p) / exponent.q
        if base.is_Rational:
            size = max(abs(int(base.p)).bit_length(), int(base.q).bit_length())
            return size * magnitude > MAX_EXACT_BITS
        return magnitude > MAX_EXACT_BITS // 4

    def primary(self) -> Any:
        sp = self.sp
        tok = self.take()
        if tok[0].isdigit() or tok == ".":
            return self.number(tok)
        if tok == "(" or tok == "[":
            inner = self.side()
            self.take(")" if tok == "(" else "]")
            return inner
        if tok == "{":
            self.i -= 1
            return self.sub(self.group_tokens())
        if tok == "|":
            self.abs_depth += 1
            inner = self.side()
            self.take("|")
            self.abs_depth -= 1
            return sp.Abs(inner)
        if tok == "\\frac":
            num, den = self.group_tokens(), self.group_tokens()
            if _derivative_denominator(den):
                raise Unsupported("derivative notation")
            return sp.Mul(self.sub(num), sp.Pow(self.sub(den), -1))
        if tok == "\\sqrt":
            index = None
            if self.peek() == "[":
                self.i += 1
                start = self.i
                while self.peek() not in ("]", None):
                    self.i += 1
                index = self.sub(self.t[start : self.i])
                self.take("]")
            radicand = self.sub(self.group_tokens())
            return sp.sqrt(radicand) if index is None else sp.root(radicand, index)
        if tok == "\\binom":
            n, k = self.sub(self.group_tokens()), self.sub(self.group_tokens())
            if n.is_Integer and abs(int(n)) > MAX_EXACT_POWER:
                raise Unsupported("binomial too large to evaluate")
            return sp.binomial(n, k)
        if tok == "\\pi":
            return sp.pi
        if tok == "\\infty":
            return sp.oo
        if tok in FUNCTIONS:
            return self.function(tok)
        if tok in ("\\max", "\\min"):
            if self.peek() != "(":
                raise Unsupported(f"{tok} without a parenthesized list")
            args = self.arguments()
            return (sp.Max if tok == "\\max" else sp.Min)(*args)
        if tok in ("\\sum", "\\prod"):
            return self.big_operator(tok)
        if tok == "\\int":
            return self.integral()
        if tok == "\\lim":
            return self.limit()
        self.i -= 1
        return self.symbol()

    def number(self, tok: str) -> Any:
        digits = [tok]
        while (nxt := self.peek()) is not None and (nxt.isdigit() or (nxt == "." and "." not in digits)):
            digits.append(self.take())
        text = "".join(digits)
        if text == "." or text.endswith("."):
            raise Unsupported("a stray full stop")
        return self.sp.Rational(text)

    def symbol(self) -> Any:
        """A (decorated, subscripted, primed) symbol, or a function applied to it."""
        sp = self.sp
        tok = self.take()
        commutative = True
        function_like = False
        if len(tok) == 1 and tok.isalpha():
            name = tok
            function_like = tok in FUNCTION_LETTERS
        elif tok in GREEK:
            name = tok[1:]
            function_like = tok in FUNCTION_GREEK
        elif tok in ACCENTS or tok in FONTS or tok == "\\operatorname":
            inner = self.group_tokens()
            if not inner or not all(t.isalnum() or t in GREEK for t in inner):
                raise Unsupported(f"{tok} over something that is not a plain name")
            word = "".join(t if t.isalnum() else t + " " for t in inner).strip()
            if tok == "\\mathrm" and word == "e":
                if self.peek() in ("_", "'"):
                    raise Unsupported("subscript on a constant")
                return sp.E
            if tok == "\\mathrm" and word in DIFFERENTIALS:
                raise Unsupported("a differential outside an integral")
            name = f"{tok}{{{word}}}"
            commutative = tok not in NONCOMMUTATIVE_STYLES
            function_like = True
        else:
            raise Unsupported(f"token {tok!r}")
        if self.peek() == "_":
            self.i += 1
            sub = self.group_tokens()
            if not sub or any(t in ("^", "_") for t in sub[:1]):
                raise Unsupported("empty subscript")
            name = f"{name}_{{{' '.join(sub)}}}"
        while self.peek() == "'":
            self.i += 1
            name += "'"
        if self.peek() == "(" and (function_like or self.comma_follows()):
            args = self.arguments()
            if commutative:
                return sp.Function(name)(*args)
            return sp.Function(name, commutative=False)(*args)
        if name == "e":
            return sp.E
        if function_like and self.peek() == "^":
            self.function_head_with_power = True
        return sp.Symbol(name) if commutative else sp.Symbol(name, commutative=False)

    def comma_follows(self) -> bool:
        """Does the parenthesis at the cursor hold a top-level comma (``B(x, r)``: arguments, not a factor)?"""
        level = 0
        for tok in self.t[self.i :]:
            if tok in ("(", "[", "{"):
                level += 1
            elif tok in (")", "]", "}"):
                level -= 1
                if level == 0:
                    return False
            elif tok == "," and level == 1:
                return True
        return False

    def arguments(self) -> list[Any]:
        """``( side , side ... )`` at the cursor."""
        self.take("(")
        args = [self.side()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.side())
        self.take(")")
        return args

    def function(self, name: str) -> Any:
        """``\\sin x``, ``\\sin(x)``, ``\\sin^2 x``, ``\\log_2 n``: the argument is a
        parenthesized group or the product of the factors that follow without an operator."""
        sp = self.sp
        base = None
        if self.peek() == "_":
            if name != "\\log":
                raise Unsupported(f"subscript on {name}")
            self.i += 1
            base = self.sub(self.group_tokens())
        power = None
        if self.peek() == "^":
            self.i += 1
            power = self.sub(self.group_tokens())
            if power.is_number and power.is_negative:
                raise Unsupported(f"{name}^{{-1}} is ambiguous (inverse or reciprocal)")
        if self.peek() == "(":
            self.i += 1
            arg = self.side()
            self.take(")")
        else:
            arg = self.factor()
            while (tok := self.peek()) is not None and self.starts_factor(tok) and tok not in FUNCTIONS:
                arg = sp.Mul(arg, self.factor(implicit=True))
        if name == "\\log" and base is not None:
            value = sp.log(arg, base)
        else:
            value = getattr(sp, _SYMPY_FUNCTIONS.get(name, name[1:]))(arg)
        return sp.Pow(value, power) if power is not None else value

    def bound_variable(self, tokens: list[str]) -> Any:
        reader = _Reader(tokens)
        var = reader.symbol()
        rest = tokens[reader.i :]
        if not isinstance(var, self.sp.Symbol) or (rest and rest[0] not in ("=", "\\to")):
            raise Unsupported("bound variable is not a plain symbol")
        return var, rest

    def big_operator(self, name: str) -> Any:
        """``\\sum_{i=a}^{b} body``: both bounds required; the body is the product that follows."""
        sp = self.sp
        lower = upper = None
        for _ in range(2):
            if self.peek() == "_" and lower is None:
                self.i += 1
                lower = self.group_tokens()
            elif self.peek() == "^" and upper is None:
                self.i += 1
                upper = self.group_tokens()
        if lower is None or upper is None:
            raise Unsupported(f"{name} without both bounds")
        var, rest = self.bound_variable(lower)
        if not rest or rest[0] != "=":
            raise Unsupported(f"{name} bound is not 'i = start'")
        start, stop = self.sub(rest[1:]), self.sub(upper)
        body = self.term()
        cls = sp.Sum if name == "\\sum" else sp.Product
        return cls(body, (var, start, stop))

    def integral(self) -> Any:
        """``\\int_a^b body d x`` (or ``\\mathrm{d}x``); the differential ends the integrand."""
        sp = self.sp
        lower = upper = None
        for _ in range(2):
            if self.peek() == "_" and lower is None:
                self.i += 1
                lower = self.sub(self.group_tokens())
            elif self.peek() == "^" and upper is None:
                self.i += 1
                upper = self.sub(self.group_tokens())
        if (lower is None) != (upper is None):
            raise Unsupported("integral with one bound")
        start = self.i
        level = 0
        j = start
        while j < len(self.t):
            tok = self.t[j]
            if tok in ("(", "{", "["):
                level += 1
            elif tok in (")", "}", "]"):
                level -= 1
                if level < 0:
                    break
            elif level == 0 and j > start:
                width = self._differential_width(j)
                if width:
                    body = self.sub(self.t[start:j])
                    self.i = j + width - 1
                    var = self.symbol()
                    if not isinstance(var, sp.Symbol):
                        raise Unsupported("integration variable is not a plain symbol")
                    limits = (var,) if lower is None else (var, lower, upper)
                    return sp.Integral(body, limits)
            j += 1
        raise Unsupported("integral without its differential")

    def _differential_width(self, j: int) -> int:
        """Tokens in the ``d`` of a differential starting at ``j`` plus one (the variable), else 0."""
        return _differential_width(self.t, j)

    def limit(self) -> Any:
        """``\\lim_{x \\to a} body``; the body is the product that follows."""
        if self.peek() != "_":
            raise Unsupported("\\lim without its variable")
        self.i += 1
        var, rest = self.bound_variable(self.group_tokens())
        if not rest or rest[0] != "\\to":
            raise Unsupported("\\lim subscript is not 'x \\to a'")
        point = self.sub(rest[1:])
        body = self.term()
        return self.sp.Limit(body, var, point)
