"""Operator-precedence (Pratt) parser from normalized LaTeX tokens to an expression tree.

Why our own parser: sympy's and math-verify's LaTeX grammars accept only elementary,
well-formed math and raise on most research formulas (``\\mathcal{L}(\\theta; x)``,
``\\begin{cases}``, ``\\xrightarrow{\\sim}``, half-open intervals). Computation-priority
chains and structural statistics need *a* tree for every formula, so this parser never
raises: unknown commands become leaves or applications, missing operands are tolerated,
and a formula it cannot structure (stray closing delimiter, unclosed ``(``, nesting deeper
than :data:`~formulaforge.formula.grammar.MAX_DEPTH`) comes back as a flat sequence with
``fallback=True``.

Every node covers a contiguous token span ``[start, end)`` of the normalized formula, so
``node.latex`` is the exact normalized sub-string and spans nest like the tree. The grammar
and binding powers are documented in docs/formula.md and tabulated in :mod:`.grammar`.
"""

from __future__ import annotations

from collections.abc import Iterator

from formulaforge.formula import grammar as g
from formulaforge.formula.normalize import normalize_tokens
from formulaforge.formula.tokenize import join_tokens


class Node:
    r"""One expression-tree node over a token span of the normalized formula.

    ``kind`` is one of: ``atom`` (single token), ``number``, ``symbol`` (a decorated or
    styled symbol such as ``\hat{x}``, ``\mathbb{R}``), ``group`` (``{...}``), ``delim``
    (``(...)``, ``|...|``, ``\{...\}``...), ``env`` (``\begin..\end``), ``frac``,
    ``sqrt``, ``cmd`` (other command applications), ``script`` (base with ``_``/``^``/
    primes), ``head`` (an operator name with its limits, ``\sum_{i=1}^n``), ``apply``
    (``f(x)``, ``f_i(x)``), ``func`` (named function applied to its argument), ``bigop`` (``\sum``-like
    operator with its body), ``prefix``, ``postfix``, ``infix`` (``op == ""`` for an
    implicit product) and ``seq`` (the flat fallback).
    """

    __slots__ = ("kind", "op", "start", "end", "children", "tokens", "fallback")

    def __init__(
        self, kind: str, start: int, end: int, tokens: list[str], children: list[Node] | None = None, op: str = ""
    ) -> None:
        self.kind = kind
        self.op = op
        self.start = start
        self.end = end
        self.children: list[Node] = children if children is not None else []
        self.tokens = tokens
        self.fallback = False

    @property
    def latex(self) -> str:
        """The normalized LaTeX of this sub-expression (balanced by construction)."""
        return join_tokens(self.tokens[self.start : self.end])

    def walk(self) -> Iterator[Node]:
        """Pre-order traversal."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def __len__(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self.children)
        op = f" {self.op!r}" if self.op else ""
        text = self.latex if self.kind in ("atom", "number", "symbol") else ""
        return f"{self.kind}{op}({text or inner})"


class _ParseError(Exception):
    pass


def _is_digit(tok: str) -> bool:
    return len(tok) == 1 and tok.isdigit()


_PLAIN_KINDS = frozenset({"atom", "number", "symbol"})


def _is_plain(node: Node | None) -> bool:
    """A plain word or symbol: the argument of ``\\mathrm{Var}`` or ``\\hat{x}``."""
    if node is None:
        return True
    if node.kind in _PLAIN_KINDS:
        return True
    if node.kind == "group":
        return _is_plain(node.children[0]) if node.children else True
    if node.kind == "infix" and node.op == "":
        return all(_is_plain(c) for c in node.children)
    return False


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.n = len(tokens)
        self.pos = 0
        self.depth = 0
        self.bars: list[str] = []
        self.integral = 0  # > 0 inside the body of an integral: "dx" is a differential

    # -- helpers -----------------------------------------------------------------------
    def peek(self) -> str | None:
        return self.t[self.pos] if self.pos < self.n else None

    def is_terminator(self, tok: str) -> bool:
        return (
            tok == "}"
            or tok in g.CLOSERS
            or tok.startswith("\\end{")
            or (bool(self.bars) and tok == self.bars[-1])
        )

    def skip_bracket(self, i: int) -> int:
        """Index after a balanced ``[...]`` at ``i`` (``i`` if none)."""
        if i < self.n and self.t[i] == "[":
            depth = 0
            for j in range(i, self.n):
                if self.t[j] == "[":
                    depth += 1
                elif self.t[j] == "]":
                    depth -= 1
                    if depth == 0:
                        return j + 1
        return i

    def skip_brace(self, i: int) -> int:
        if i < self.n and self.t[i] == "{":
            depth = 0
            for j in range(i, self.n):
                if self.t[j] == "{":
                    depth += 1
                elif self.t[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return j + 1
        return i

    def skip_arg(self, i: int) -> int:
        """Index after one macro argument at ``i`` (a group, or a token with its own arguments)."""
        if i >= self.n:
            return self.n
        tok = self.t[i]
        if tok == "{":
            return self.skip_brace(i)
        if tok in g.FONT or tok in g.ONE_ARG:
            return self.skip_arg(i + 1)
        if tok in g.FRAC_LIKE:
            return self.skip_arg(self.skip_arg(i + 1))
        return i + 1

    def infix_at(self, i: int) -> tuple[int, int] | None:
        """``(binding power, end of operator)`` when ``t[i]`` is an infix operator here.

        Scripts on an operator belong to it (``\\otimes_A``, ``\\to^{f}``, ``=^{?}``).
        """
        info = self._infix_at(i)
        if info is None:
            return None
        bp, end = info
        while end < self.n and self.t[end] in ("^", "_"):
            end = self.skip_arg(end + 1)
        return bp, end

    def _infix_at(self, i: int) -> tuple[int, int] | None:
        tok = self.t[i]
        nxt = self.t[i + 1] if i + 1 < self.n else None
        if tok == ":" and nxt == "=":
            return g.RELATION, i + 2
        if tok == "=" and nxt == ":":
            return g.RELATION, i + 2
        bp = g.INFIX.get(tok)
        if bp is not None:
            if tok in g.ARG_RELATIONS:
                return bp, self.skip_brace(self.skip_bracket(i + 1))
            return bp, i + 1
        if tok in g.BARS:
            return g.SUCH_THAT, i + 1
        if tok == "\\not" and nxt is not None:
            return g.RELATION, i + 2
        if tok in g.STACKED_RELATIONS:
            # \overset{def}{=} is a relation; \underset{x}{\min} is not
            mid = self.skip_arg(i + 1)
            end = self.skip_arg(mid)
            if any(x in g.RELATION_OPS or x in g.LOGIC_OPS for x in self.t[mid:end]):
                return g.RELATION, end
        return None

    # -- grammar -----------------------------------------------------------------------
    def parse_expr(self, rbp: int) -> Node | None:
        self.depth += 1
        if self.depth > g.MAX_DEPTH:
            raise _ParseError("nesting too deep")
        t = self.t
        left = self.parse_unary()
        if left is not None and self.integral:
            left = self.differential(left)
        while self.pos < self.n:
            tok = t[self.pos]
            if self.is_terminator(tok):
                break
            info = self.infix_at(self.pos)
            bp = info[0] if info is not None else g.MULTIPLICATIVE
            if bp <= rbp:
                break
            op_start = self.pos
            if info is not None:
                self.pos = info[1]
                right = self.parse_expr(bp)
                op = join_tokens(t[op_start : info[1]])
                end = right.end if right is not None else info[1]
            else:
                right = self.parse_unary()
                if right is None or self.pos == op_start:
                    raise _ParseError(f"no progress at {tok!r}")
                right = self.differential(right)
                op = ""
                end = right.end
            children = [c for c in (left, right) if c is not None]
            start = left.start if left is not None else op_start
            left = Node("infix", start, end, t, children, op)
        self.depth -= 1
        return left

    def parse_unary(self) -> Node | None:
        """An operand in prefix position (``None`` at a terminator or the end)."""
        if self.pos >= self.n:
            return None
        tok = self.t[self.pos]
        if self.is_terminator(tok):
            return None
        start = self.pos
        if tok in g.PREFIX_OPS:
            self.pos += 1
            operand = self.parse_expr(g.ADDITIVE)
            if operand is None:
                return Node("atom", start, self.pos, self.t)
            return Node("prefix", start, operand.end, self.t, [operand], tok)
        if tok in g.BIG_OPERATORS:
            return self.parse_bigop()
        if tok not in g.BARS and tok not in g.STACKED_RELATIONS:
            info = self.infix_at(self.pos)
            if info is not None:  # an operator with its left operand elsewhere ("&= b", ", y")
                bp, self.pos = info
                right = self.parse_expr(bp)
                children = [right] if right is not None else []
                end = right.end if right is not None else self.pos
                return Node("infix", start, end, self.t, children, join_tokens(self.t[start : info[1]]))
        return self.parse_postfix()

    def parse_postfix(self) -> Node | None:
        """A primary with its scripts, primes and factorials."""
        tok = self.t[self.pos]
        if tok in ("^", "_"):
            base = None
        else:
            base = self.parse_primary()
            if base is None:
                return None
        node = self.parse_scripts(base)
        if node is not None and self.pos < self.n and self.t[self.pos] == "(" and self.applicable(node):
            args = self.parse_delim(g.OPENERS["("])
            node = self.parse_scripts(Node("apply", node.start, args.end, self.t, [node, args]))  # f(x)^2
        return node

    def differential(self, node: Node) -> Node:
        """Inside an integral, ``d x`` / ``\\mathrm{d}\\mu`` / ``\\d x`` is one symbol, not ``d`` times ``x``."""
        t = self.t
        if self.pos >= self.n or not self.integral:
            return node
        is_d = (node.kind == "atom" and t[node.start] in ("d", "\\d", "\\partial")) or (
            node.kind == "symbol" and node.end - node.start == 4 and t[node.start + 2] == "d"
        )
        nxt = t[self.pos]
        if is_d and (nxt.isalpha() or (nxt[0] == "\\" and nxt[1:].isalpha() and g.INFIX.get(nxt) is None
                                       and nxt not in g.FUNCTIONS and nxt not in g.BIG_OPERATORS
                                       and nxt not in g.FRAC_LIKE and nxt not in g.OPENERS)):
            var = self.parse_primary()
            if var is not None:
                return Node("symbol", node.start, var.end, t, [], "d")
        return node

    def applicable(self, node: Node) -> bool:
        r"""``f(x)``, ``\phi(x)``, ``f_i(x)``, ``f'(x)``, ``\mathcal{L}(\theta)``: an application."""
        if node.kind == "script":
            if "^" in node.op or not node.children:
                return False
            node = node.children[0]
        if node.kind == "atom":
            tok = self.t[node.start]
            return tok.isalpha() or (tok[0] == "\\" and tok[1:].isalpha() and tok not in g.INFIX)
        return node.kind in ("symbol", "cmd")

    def parse_scripts(self, base: Node | None) -> Node | None:
        t = self.t
        start = base.start if base is not None else self.pos
        children = [base] if base is not None else []
        ops = ""
        while self.pos < self.n:
            tok = t[self.pos]
            if tok == "^" or tok == "_":
                self.pos += 1
                arg = self.parse_arg()
                if arg is not None:
                    children.append(arg)
                ops += tok
            elif tok == "'":
                self.pos += 1
                ops += "'"
            else:
                break
        node = base
        if ops:
            node = Node("script", start, self.pos, t, children, ops)
        while node is not None and self.pos < self.n and t[self.pos] == "!":
            self.pos += 1
            node = Node("postfix", node.start, self.pos, t, [node], "!")
        return node

    def parse_arg(self) -> Node | None:
        """A macro argument: a brace group or one token (with that token's own arguments)."""
        if self.pos >= self.n:
            return None
        tok = self.t[self.pos]
        if tok == "{":
            return self.parse_group()
        if tok == "}" or tok.startswith("\\end{"):
            return None
        if tok in g.FRAC_LIKE or tok == "\\sqrt" or tok in g.ONE_ARG or tok in g.FONT:
            return self.parse_primary()
        self.pos += 1
        return Node("atom", self.pos - 1, self.pos, self.t)

    def parse_group(self) -> Node:
        start = self.pos
        self.pos += 1
        saved, self.bars = self.bars, []
        inner = self.parse_expr(0)
        self.bars = saved
        if self.pos >= self.n or self.t[self.pos] != "}":
            raise _ParseError("unclosed {")
        self.pos += 1
        return Node("group", start, self.pos, self.t, [inner] if inner is not None else [])

    def parse_delim(self, closers: tuple[str, ...]) -> Node:
        start = self.pos
        opener = self.t[self.pos]
        self.pos += 1
        saved, self.bars = self.bars, []
        inner = self.parse_expr(0)
        self.bars = saved
        if self.pos >= self.n and opener == "\\{":
            # "\left\{ ... \right." (cases written by hand) loses its invisible closer in
            # normalization; at the end of the formula the brace is simply open.
            return Node("delim", start, self.pos, self.t, [inner] if inner is not None else [], opener)
        if self.pos >= self.n or self.t[self.pos] not in closers:
            raise _ParseError(f"unclosed {opener}")
        close = self.t[self.pos]
        self.pos += 1
        return Node("delim", start, self.pos, self.t, [inner] if inner is not None else [], opener + close)

    def parse_bars(self, bar: str) -> Node:
        start = self.pos
        self.pos += 1
        self.bars.append(bar)
        inner = self.parse_expr(0)
        self.bars.pop()
        if self.pos >= self.n or self.t[self.pos] != bar:
            raise _ParseError(f"unclosed {bar}")
        self.pos += 1
        return Node("delim", start, self.pos, self.t, [inner] if inner is not None else [], bar + bar)

    def parse_env(self) -> Node:
        start = self.pos
        name = self.t[self.pos][7:-1]
        self.pos += 1
        if name in g.ENV_WITH_ARG:
            self.pos = self.skip_brace(self.skip_bracket(self.pos))
        saved, self.bars = self.bars, []
        inner = self.parse_expr(0)
        self.bars = saved
        if self.pos >= self.n or not self.t[self.pos].startswith("\\end{"):
            raise _ParseError(f"unclosed environment {name}")
        self.pos += 1
        return Node("env", start, self.pos, self.t, [inner] if inner is not None else [], name)

    def parse_head(self) -> Node:
        """A function/operator name: the token, or ``\\operatorname{..}`` with its group."""
        start = self.pos
        tok = self.t[self.pos]
        self.pos += 1
        if tok.startswith("\\operatorname"):
            self.pos = self.skip_brace(self.pos)
            return Node("symbol", start, self.pos, self.t, [], tok)
        return Node("atom", start, self.pos, self.t)

    def starts_operand(self) -> bool:
        tok = self.peek()
        if tok is None or self.is_terminator(tok):
            return False
        if tok in g.BARS or tok in g.PREFIX_OPS and tok not in g.INFIX:
            return True
        return self.infix_at(self.pos) is None

    @staticmethod
    def _limits(head: Node | None) -> Node:
        r"""An operator name with its scripts (``\sum_{i=1}^n``, ``\log_2``) is one ``head``."""
        assert head is not None
        if head.kind == "script":
            head.kind = "head"
        return head

    def parse_bigop(self) -> Node:
        head = self._limits(self.parse_scripts(self.parse_head()))
        if not self.starts_operand():
            return head
        integral = self.t[head.start] in g.INTEGRALS
        self.integral += integral
        body = self.parse_expr(g.ADDITIVE)
        self.integral -= integral
        if body is None:
            return head
        return Node("bigop", head.start, body.end, self.t, [head, body], self.t[head.start])

    def parse_function(self) -> Node:
        head = self._limits(self.parse_scripts(self.parse_head()))
        if not self.starts_operand():
            return head
        arg = self.parse_postfix()
        if arg is None:
            return head
        if arg.kind != "delim":
            # \sin 2x, \log n\pi: a run of simple factors belongs to the argument
            while self.pos < self.n and self.simple_factor(self.t[self.pos]):
                right = self.parse_postfix()
                if right is None:
                    break
                arg = Node("infix", arg.start, right.end, self.t, [arg, right], "")
        return Node("func", head.start, arg.end, self.t, [head, arg], self.t[head.start])

    def simple_factor(self, tok: str) -> bool:
        if tok[0] == "\\":
            return not (
                tok in g.INFIX or tok in g.FUNCTIONS or tok in g.BIG_OPERATORS or tok in g.OPENERS
                or tok in g.PREFIX_OPS or tok.startswith(("\\begin", "\\end", "\\text", "\\operatorname"))
                or tok in g.BARS or tok in g.CLOSERS
            )
        return tok.isalnum()

    def parse_primary(self) -> Node | None:
        t = self.t
        tok = t[self.pos]
        start = self.pos
        if tok == "{":
            return self.parse_group()
        closers = g.OPENERS.get(tok)
        if closers is not None:
            return self.parse_delim(closers)
        if tok in g.BARS:
            return self.parse_bars(tok)
        if _is_digit(tok):
            self.pos += 1
            while self.pos < self.n:
                c = t[self.pos]
                if _is_digit(c):
                    self.pos += 1
                elif c == "." and self.pos + 1 < self.n and _is_digit(t[self.pos + 1]):
                    self.pos += 2
                else:
                    break
            return Node("atom" if self.pos - start == 1 else "number", start, self.pos, t)
        if tok[0] != "\\" or len(tok) == 1:
            self.pos += 1
            return Node("atom", start, self.pos, t)
        if tok.startswith("\\begin{"):
            return self.parse_env()
        if tok in g.FUNCTIONS:
            return self.parse_function()
        if tok in g.BIG_OPERATORS:
            return self.parse_bigop()
        if tok in g.FRAC_LIKE:
            self.pos += 1
            args = [a for a in (self.parse_arg(), self.parse_arg()) if a is not None]
            return Node("frac", start, self.pos, t, args, tok)
        if tok == "\\sqrt":
            self.pos += 1
            children = []
            if self.pos < self.n and t[self.pos] == "[":
                self.pos += 1
                index = self.parse_expr(0)
                if self.pos >= self.n or t[self.pos] != "]":
                    raise _ParseError("unclosed \\sqrt[")
                self.pos += 1
                if index is not None:
                    children.append(index)
            arg = self.parse_arg()
            if arg is not None:
                children.append(arg)
            return Node("sqrt", start, self.pos, t, children, tok)
        if tok in g.ONE_ARG or tok in g.FONT:
            self.pos += 1
            arg = self.parse_arg()
            kind = "symbol" if _is_plain(arg) else "cmd"
            return Node(kind, start, self.pos, t, [arg] if arg is not None and kind == "cmd" else [], tok)
        if tok == "\\not":
            self.pos = min(self.pos + 2, self.n)
            return Node("atom", start, self.pos, t)
        self.pos += 1
        if self.pos < self.n and t[self.pos] == "{" and tok[1].isalpha() and not tok.startswith("\\text"):
            # an unknown macro with arguments: \norm{x}, \abs{x}, \KL{p}{q}
            args = []
            while self.pos < self.n and t[self.pos] == "{":
                group = self.parse_group()
                args.append(group)
            return Node("cmd", start, self.pos, t, args, tok)
        return Node("atom", start, self.pos, t)


def _flat(tokens: list[str]) -> Node:
    leaves = [Node("atom", i, i + 1, tokens) for i in range(len(tokens))]
    node = Node("seq", 0, len(tokens), tokens, leaves)
    node.fallback = True
    return node


def parse_tokens(tokens: list[str]) -> Node:
    """Parse already-normalized tokens (see :func:`~formulaforge.formula.normalize.normalize_tokens`)."""
    if not tokens:
        return Node("seq", 0, 0, tokens)
    parser = _Parser(tokens)
    try:
        root = parser.parse_expr(0)
    except (_ParseError, RecursionError):
        return _flat(tokens)
    if root is None or parser.pos != len(tokens) or root.start != 0 or root.end != len(tokens):
        return _flat(tokens)
    return root


def parse(latex: str) -> Node:
    """Parse one formula into an expression tree; never raises.

    The tree is built over :func:`normalize`'d tokens. ``root.fallback`` is True when the
    formula could not be structured and the root is a flat ``seq`` of its tokens.
    """
    return parse_tokens(normalize_tokens(latex))
