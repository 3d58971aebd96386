"""Turn an extracted answer string into a sympy object (runs inside the timeout worker).

LaTeX goes through math-verify's parser (latex2sympy2_extended with its normalisation).
Plain text ("2*x*cos(x**2)") goes through ``sympy.parse_expr`` only after a whitelist
check of every identifier: ``parse_expr`` evaluates its input as Python, and this input
is model output.
"""

from __future__ import annotations

import re

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

from formulaforge.datasets.synthetic.srepr import parse_srepr

MAX_LEN = 1_000
_FUNCS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec, "csc": sympy.csc,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "exp": sympy.exp,
    "log": sympy.log, "ln": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "Abs": sympy.Abs,
    "Derivative": sympy.Derivative, "Integral": sympy.Integral, "pi": sympy.pi, "E": sympy.E,
}
_APPLIED = re.compile(r"(?<![A-Za-z_])([A-Za-z])\(\s*[A-Za-z]\s*\)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_PLAIN_OK = re.compile(r"^[A-Za-z0-9_+\-*/^().,= \t]*$")
_CALL_WITH_ARGS = re.compile(r"(Derivative|Integral)\(")
_STRICT = standard_transformations + (convert_xor,)
_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


def looks_latex(s: str) -> bool:
    return "\\" in s or "{" in s


def parse_plain(s: str) -> sympy.Basic | None:
    """Parse calculator-style text; None when it holds anything but numbers, operators,
    single-letter names and known functions."""
    s = s.strip().replace("\u2212", "-").replace("\u00b7", "*")
    if not s or len(s) > MAX_LEN or not _PLAIN_OK.match(s) or "__" in s:
        return None
    for name in _IDENT.findall(s):
        if len(name) > 1 and name not in _FUNCS:
            return None
    local = dict(_FUNCS)
    # f(x), g(t): a single letter applied to a single variable is an (unknown) function.
    applied = {m.group(1) for m in _APPLIED.finditer(s)}
    for name in set(_IDENT.findall(s)):
        if len(name) == 1 and name != "E":
            local[name] = sympy.Function(name) if name in applied else sympy.Symbol(name)
    if s.count("=") == 1:
        left, right = s.split("=")
        lhs, rhs = parse_plain(left), parse_plain(right)
        return None if lhs is None or rhs is None else sympy.Eq(lhs, rhs, evaluate=False)
    if "=" in s:
        return None
    # A comma separates elements ("2, 3", "(1,2)") or thousands ("1,410"): math-verify's LaTeX
    # reader tells them apart; deleting commas here made "(7,6)" the number 76.
    if "," in s and not _CALL_WITH_ARGS.search(s):
        return None
    text = s
    # Explicit syntax first (keeps "Integral(f(x), x)" intact); implicit products ("2x cos x") second.
    for transforms in (_STRICT, _TRANSFORMS):
        try:
            return parse_expr(text, local_dict=local, global_dict={"__builtins__": {}, **_SAFE_GLOBALS},
                              transformations=transforms, evaluate=True)
        except Exception:  # noqa: BLE001 - any parse failure means "not parsable"
            continue
    return None


_SAFE_GLOBALS = {"Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational,
                 "Symbol": sympy.Symbol}


_LOG_NO_BASE = re.compile(r"\\log(?![_a-zA-Z])")


_OPERATORNAMES = {"atan": "arctan", "asin": "arcsin", "acos": "arccos", "acot": "arccot", "asec": "arcsec",
                  "acsc": "arccsc", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh"}
_OPERATORNAME = re.compile(r"\\operatorname\{(\w+)\}")
_PRIME = re.compile(r"(?<![A-Za-z\\])([A-Za-z])('+|\^\{\\prime\})\s*(?:\\left)?\(\s*([A-Za-z])\s*(?:\\right)?\)")
_TEXT_WORDS = re.compile(
    r"\\(?:text|textrm|textbf|textit|textnormal|textup|textsf|mathrm|mbox)\{\s*[A-Za-z]{2,}[A-Za-z\s.]*\}")
"""Words in text mode ("1410 \\text{ apples}", "\\text{units}") are not part of the value."""
_TEXT_MATH = re.compile(r"\\(?:text|textrm|textbf|mathrm|mbox|mathbf)\{([^{}A-Za-z]*)\}")
_HIGHER_DERIVATIVE = re.compile(r"\\frac\{d\^\{?(\d)\}?\}\{d\s*([A-Za-z])\^\{?\1\}?\}")
_FUNC_GROUP_POWER = ("\\ln", "\\log", "\\exp")


def _power_after_group(s: str) -> str:
    """``\\ln{(x)}^{2}`` (sympy's LaTeX for ln(x)**2) -> ``\\left(\\ln{(x)}\\right)^{2}``;
    latex2sympy would otherwise read it as ln(x**2)."""
    out = []
    i = 0
    while i < len(s):
        hit = next((f for f in _FUNC_GROUP_POWER if s.startswith(f, i)), None)
        if hit and i + len(hit) < len(s) and s[i + len(hit)] == "{":
            depth, j = 0, i + len(hit)
            while j < len(s):
                if s[j] == "{":
                    depth += 1
                elif s[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(s) and s.startswith("^", j + 1):
                out.append("\\left(" + s[i:j + 1] + "\\right)")
                i = j + 1
                continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _prime_to_frac(m: re.Match) -> str:
    """``f''(x)`` -> ``\\frac{d}{d x} \\frac{d}{d x} f(x)`` (latex2sympy does not read primes)."""
    order = m.group(2).count("'") or 1
    return (r"\frac{d}{d " + m.group(3) + "} ") * order + f"{m.group(1)}({m.group(3)})"


_TRAILING_UNIT = re.compile(
    r"(?:\\[,;:! ]|~|\s)*\\(?:text|textnormal|textrm|mathrm|mbox)\{\s*[A-Za-z]{1,12}\.?\s*\}"
    r"(?:\^\{?\d\}?)?\s*$")
"""A unit after the value: ``1,000.99 \\text{ m}^2``, ``5\\,\\mathrm{kg}`` (text mode: not a variable)."""


def normalize_latex(s: str) -> str:
    """Spellings latex2sympy misreads: ``\\operatorname{atan}``, bare ``\\log`` (natural log
    here), words in ``\\text{}``, primes, ``d^2/dx^2`` and a power written after a
    function's argument group."""
    s = _OPERATORNAME.sub(lambda m: "\\" + _OPERATORNAMES[m.group(1)] if m.group(1) in _OPERATORNAMES
                          else m.group(0), s)
    s = _LOG_NO_BASE.sub(r"\\ln", s)
    unit = _TRAILING_UNIT.search(s)
    if unit and unit.start() > 0:
        s = s[: unit.start()]
    s = _TEXT_WORDS.sub(" ", s)
    s = _TEXT_MATH.sub(lambda m: m.group(1), s)  # \text{1410} -> 1410 (else a Symbol named "1410")
    s = _PRIME.sub(_prime_to_frac, s)
    # a function replacement is used literally: one backslash (r"\\frac" wrote two, a LaTeX line break)
    s = _HIGHER_DERIVATIVE.sub(lambda m: (r"\frac{d}{d " + m.group(2) + "} ") * int(m.group(1)), s)
    return _power_after_group(s)


def parse_latex(s: str, parsing_timeout: int | None = None) -> sympy.Basic | None:
    """LaTeX via math-verify. ``\\log`` without a base is the natural log here (sympy's and
    analysis texts' convention; latex2sympy would read it as base 10).

    ``parsing_timeout`` is math-verify's own SIGALRM timer, off by default: inside the
    checker worker the caller's :func:`~formulaforge.utils.timeout.time_limit` is the one
    budget (two alarm timers would cancel each other)."""
    from math_verify import LatexExtractionConfig, LatexNormalizationConfig, parse

    s = normalize_latex(s)
    # units=False: math-verify's default strips "units", i.e. the variables t, s, m, g, ... of
    # a symbolic answer ("4t" would become "4").
    config = LatexExtractionConfig(normalization_config=LatexNormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False))
    try:
        found = parse(f"${s}$", extraction_config=[config], parsing_timeout=parsing_timeout)
    except Exception:  # noqa: BLE001
        return None
    for item in found:
        if isinstance(item, sympy.MatrixBase):
            return sympy.ImmutableMatrix(item)  # pmatrix/bmatrix: hashable, comparable like any Basic
        if isinstance(item, sympy.Basic):
            return item
    return None


def normalize_symbols(expr: sympy.Basic) -> sympy.Basic:
    """Drop assumptions (latex2sympy makes symbols real) so names alone identify variables;
    ``e`` parsed as a symbol means Euler's number."""
    mapping = {}
    for sym in expr.free_symbols:
        if sym.name == "e":
            mapping[sym] = sympy.E
        else:
            mapping[sym] = sympy.Symbol(sym.name)
    return expr.xreplace(mapping)


def parse_answer(s: str) -> sympy.Basic | None:
    s = s.strip()
    if not s or len(s) > MAX_LEN:
        return None
    first, second = (parse_latex, parse_plain) if looks_latex(s) else (parse_plain, parse_latex)
    for parser in (first, second):
        expr = parser(s)
        if expr is not None:
            return normalize_symbols(named_value(expr))
    return None


def named_value(expr: sympy.Basic) -> sympy.Basic:
    """``x \\in (2, \\infty)``, ``x = 3, 4``, ``(x, y) = (1, 2)``: the set or tuple named by
    a variable (or a tuple of variables) is the answer; anything else is returned as is."""
    if (isinstance(expr, sympy.Equality) and isinstance(expr.rhs, (sympy.Set, sympy.Tuple))
            and (isinstance(expr.lhs, sympy.Symbol)
                 or (isinstance(expr.lhs, sympy.Tuple) and all(isinstance(a, sympy.Symbol) for a in expr.lhs)))):
        return expr.rhs
    return expr


def gold_from_record(srepr: str) -> sympy.Basic:
    return parse_srepr(srepr)
