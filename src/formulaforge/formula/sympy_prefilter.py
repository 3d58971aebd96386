"""Say "latex2sympy cannot parse this" in ~0.5 ms, without running its parser.

latex2sympy's ANTLR parser costs 10-100 ms per research formula in pure Python, and most
research formulas fail it. Two exact checks settle most failures from the token stream:

* the **lexer** rejects a character (latex2sympy's lexer error listener raises on the
  first one, and its ``math`` rule ends in ``EOF``, so every token is lexed before a parse
  can succeed);
* a **token pair** that no sentence of the grammar contains: two adjacent tokens ``a b``
  where ``b`` cannot follow ``a`` (or a first token that cannot start, or a last token
  that cannot end a formula). The allowed pairs are computed once (~25 ms) from the
  parser's own ATN, over-approximated: predicates are taken as always true and a rule may
  return to the follow state of *any* call of it. Every sentence the real parser accepts
  therefore passes; and latex2sympy's error listener raises on the first syntax error, so
  a text with an impossible pair never converts.

Both run on the text latex2sympy itself parses (its ``normalize_latex`` with the default
config, as :func:`formulaforge.formula.to_sympy.to_sympy` calls it). Anything unexpected
(an ANTLR or latex2sympy version with another layout) answers ``True``: the full
conversion then decides, so these checks can only save time, never change a result.
``tests/test_formula_sympy_prefilter.py`` checks that on real formulas.
"""

from __future__ import annotations

import functools
from typing import Any


class _LexError(Exception):
    pass


@functools.lru_cache(maxsize=1)
def _grammar() -> tuple[frozenset[int], dict[int, frozenset[int]]]:
    """(tokens that can start a formula, token -> tokens that can follow it; EOF is -1)."""
    from antlr4 import Token
    from antlr4.atn.ATNState import RuleStopState
    from antlr4.atn.Transition import (
        AtomTransition,
        NotSetTransition,
        RangeTransition,
        RuleTransition,
        SetTransition,
        WildcardTransition,
    )
    from latex2sympy2_extended.latex2sympy2 import PSParser

    atn = PSParser.atn
    returns: dict[int, list[Any]] = {}  # rule index -> every state a call of it returns to
    for state in atn.states:
        for tr in state.transitions:
            if isinstance(tr, RuleTransition):
                returns.setdefault(tr.target.ruleIndex, []).append(tr.followState)

    every_token = set(range(Token.MIN_USER_TOKEN_TYPE, atn.maxTokenType + 1))

    def labels(tr: Any) -> set[int] | None:
        if isinstance(tr, AtomTransition):
            return {tr.label_}
        if isinstance(tr, (NotSetTransition, WildcardTransition)):
            return every_token  # over-approximate: any token may be matched here
        if isinstance(tr, RangeTransition):
            return set(range(tr.start, tr.stop + 1))
        if isinstance(tr, SetTransition):
            out: set[int] = set()
            for interval in tr.label.intervals:
                out.update(interval)
            return out
        return None  # epsilon, rule call, predicate, action: no token consumed

    memo: dict[int, frozenset[int]] = {}

    def next_tokens(start: Any) -> frozenset[int]:
        """Tokens the parser can match next from ``start`` (through calls, returns, epsilons)."""
        if start.stateNumber in memo:
            return memo[start.stateNumber]
        seen: set[int] = set()
        stack, found = [start], set()
        while stack:
            state = stack.pop()
            if state.stateNumber in seen:
                continue
            seen.add(state.stateNumber)
            if isinstance(state, RuleStopState):
                stack.extend(returns.get(state.ruleIndex, ()))
                if state.ruleIndex == PSParser.RULE_math:
                    found.add(Token.EOF)
                continue
            for tr in state.transitions:
                matched = labels(tr)
                if matched is None:
                    stack.append(tr.target)
                else:
                    found |= matched
        memo[start.stateNumber] = frozenset(found)
        return memo[start.stateNumber]

    follow: dict[int, set[int]] = {}
    for state in atn.states:
        for tr in state.transitions:
            matched = labels(tr)
            if matched:
                after = next_tokens(tr.target)
                for token in matched:
                    follow.setdefault(token, set()).update(after)
    first = next_tokens(atn.ruleToStartState[PSParser.RULE_math])
    return first, {k: frozenset(v) for k, v in follow.items()}


def _token_types(ready: str) -> list[int]:
    """latex2sympy's tokens for ``ready`` on the parser's channel (EOF last); raises :class:`_LexError`."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, PSLexer, normalize_latex

    class _Raise(ErrorListener):
        def syntaxError(self, *_args: Any) -> None:
            raise _LexError

    lexer = PSLexer(InputStream(normalize_latex(ready, NormalizationConfig())))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    stream = CommonTokenStream(lexer)
    stream.fill()
    return [t.type for t in stream.tokens if t.channel == 0]


def lexes(ready: str) -> bool:
    """Does latex2sympy's lexer accept ``ready`` (a :func:`~formulaforge.formula.to_sympy.sympy_ready` text)?"""
    try:
        _token_types(ready)
    except _LexError:
        return False
    except Exception:  # noqa: BLE001 - never let the shortcut decide on anything but a lexer error
        return True
    return True


def may_convert(ready: str) -> bool:
    """``False`` only when latex2sympy surely fails on ``ready``: lexer error or an impossible token pair."""
    try:
        types = _token_types(ready)
    except _LexError:
        return False
    except Exception:  # noqa: BLE001
        return True
    try:
        first, follow = _grammar()
    except Exception:  # noqa: BLE001 - unknown grammar layout: let the parser decide
        return True
    allowed = first
    for token in types:
        if token not in allowed:
            return False
        allowed = follow.get(token, frozenset())
    return True
