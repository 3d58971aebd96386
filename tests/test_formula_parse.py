"""Parser and computation-priority chains: precedence cases, robustness, chain properties."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_formula_normalize import PIECES

from formulaforge.formula import Node, normalize, parse, priority_chain


def shape(node: Node) -> str:
    """Compact tree text: op(children...) with leaves as their LaTeX."""
    if not node.children:
        return node.latex
    head = node.op if node.kind in ("infix", "prefix", "postfix") else node.kind
    return f"{head or '*'}({', '.join(shape(c) for c in node.children)})"


def balanced(text: str) -> bool:
    depth = 0
    for tok in __import__("formulaforge.formula", fromlist=["tokenize"]).tokenize(text):
        depth += tok == "{"
        depth -= tok == "}"
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize(
    ("latex", "expected"),
    [
        (r"a+b\cdot c", r"+(a, \cdot(b, c))"),
        (r"a\cdot b+c", r"+(\cdot(a, b), c)"),
        (r"a-b-c", "-(-(a, b), c)"),
        (r"a = b + c", "=(a, +(b, c))"),
        (r"-ab", "-(*(a, b))"),
        (r"2xy", "*(*(2, x), y)"),
        (r"x, y \in A", r",(x, \in(y, A))"),
        (r"a \leq b < c", r"<(\leq(a, b), c)"),
        (r"f(x)", "apply(f, delim(x))"),
        (r"\sin 2x + 1", r"+(func(\sin, *(2, x)), 1)"),
        (r"\sin x \cos y", r"*(func(\sin, x), func(\cos, y))"),
        (r"|x| + 1", "+(delim(x), 1)"),
        (r"[0, 1)", "delim(,(0, 1))"),
        (r"n! + 1", "+(!(n), 1)"),
        (r"\sqrt[3]{x+1}", "sqrt(3, group(+(x, 1)))"),
        (r"a \overset{\text{def}}{=} b", r"\overset{\text{def}}{=}(a, b)"),
        (r"\mathbb{R}^n", "script(\\mathbb{R}, n)"),
    ],
)
def test_precedence(latex: str, expected: str) -> None:
    tree = parse(latex)
    assert not tree.fallback
    assert shape(tree) == expected


def test_product_before_sum_in_chain() -> None:
    chain = priority_chain(r"a+b\cdot c")
    assert chain == [r"b\cdot c", r"a+b\cdot c"]


def test_frac_power_chain() -> None:
    tree = parse(r"\frac{a+b}{c}^2")
    assert tree.kind == "script" and tree.children[0].kind == "frac"
    assert priority_chain(r"\frac{a+b}{c}^2") == ["a+b", r"\frac{a+b}{c}", r"\frac{a+b}{c}^2"]


def test_sum_with_limits_chain() -> None:
    tree = parse(r"\sum_{i=1}^n x_i^2")
    assert tree.kind == "bigop"
    head, body = tree.children
    assert head.kind == "head" and body.latex == "x_i^2"
    chain = priority_chain(r"\sum_{i=1}^n x_i^2")
    assert chain == ["x_i^2", r"\sum_{i=1}^n x_i^2"]  # the body, not the limits: they are not computed first


def test_sum_body_stops_at_plus() -> None:
    tree = parse(r"\sum_i a_i b_i + c")
    assert tree.op == "+" and tree.children[0].kind == "bigop"
    assert tree.children[0].children[1].latex == "a_i b_i"


def test_chain_orders_relation_last_and_products_before_sums() -> None:
    chain = priority_chain(r"E = mc^2 + p\cdot v")
    assert chain == ["c^2", "mc^2", r"mc^2+p\cdot v", r"E=mc^2+p\cdot v"]  # one nested path


def test_chain_is_nested_along_one_path() -> None:
    latex = r"I_\omega(\mu) = \iint \log \frac{1}{|\omega(z)\omega(t) z-t|} d\mu(z)d\mu(t)"  # paper, App. F
    chain = priority_chain(latex)
    assert chain[0] == r"\omega(z)" and chain[-1] == normalize(latex)
    assert all(a in b and a != b for a, b in pairwise(chain))
    short = priority_chain(latex, max_len=4)
    assert len(short) == 4 and short[-1] == chain[-1] and all(a in b for a, b in pairwise(short))


def test_environment_and_rows() -> None:
    latex = r"\begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}"
    tree = parse(latex)
    assert tree.kind == "env" and tree.op == "cases" and not tree.fallback
    assert priority_chain(latex)[0] == "x>0"


def test_unknown_commands_become_applications() -> None:
    tree = parse(r"\KL{p}{q} + \norm{x}")
    assert not tree.fallback
    assert [c.kind for c in tree.children] == ["cmd", "cmd"]


@pytest.mark.parametrize("latex", [r"(a + b", r"a + b)", r"[a", r"\end{align} x", "(" * 400 + "x" + ")" * 400])
def test_unstructurable_input_falls_back_to_a_flat_sequence(latex: str) -> None:
    tree = parse(latex)
    assert tree.fallback and tree.kind == "seq"
    assert tree.latex == normalize(latex)
    assert priority_chain(latex) == [normalize(latex)]


def test_empty_formula() -> None:
    assert parse("").end == 0
    assert priority_chain("  ") == []


def test_chain_length_bound_keeps_the_whole_formula() -> None:
    latex = " + ".join(f"x_{i}^{{{i}}}" for i in range(30))
    full = priority_chain(latex, max_len=1000)
    short = priority_chain(latex, max_len=5)
    assert len(full) > 5 and len(short) == 5
    assert short[-1] == full[-1] == normalize(latex)
    assert all(z in full for z in short)
    assert [full.index(z) for z in short] == sorted(full.index(z) for z in short)
    with pytest.raises(ValueError):
        priority_chain(latex, max_len=0)


@given(st.lists(st.sampled_from(PIECES), max_size=25))
@settings(max_examples=400, deadline=None)
def test_chain_properties(pieces: list[str]) -> None:
    latex = "".join(pieces)
    tree = parse(latex)  # never raises
    norm = normalize(latex)
    chain = priority_chain(latex)
    if not norm:
        assert chain == []
        return
    assert chain[-1] == norm
    assert len(chain) == len(set(chain)) <= 16
    assert all(balanced(z) for z in chain)
    assert all(z in norm for z in chain)
    assert tree.latex == norm


@given(st.text(max_size=50))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_on_any_text(text: str) -> None:
    tree = parse(text)
    chain = priority_chain(text)
    assert tree.latex == normalize(text)
    assert not chain or chain[-1] == normalize(text)


def test_subtree_spans_nest() -> None:
    tree = parse(r"\int_0^1 \frac{\sin(\pi x)}{1 + x^2} \, dx = \frac{\pi}{4} \cdot |y|")
    assert not tree.fallback
    for node in tree.walk():
        for child in node.children:
            assert node.start <= child.start <= child.end <= node.end


def test_differentials_inside_integrals_are_symbols() -> None:
    assert priority_chain(r"\int_0^1 f(x)\,dx") == ["f(x)", "f(x)dx", r"\int_0^1 f(x)dx"]
    assert priority_chain(r"\int g \, \mathrm{d}\mu") == [r"g\mathrm{d}\mu", r"\int g\mathrm{d}\mu"]
    # outside an integral, d is a variable
    assert shape(parse("dx")) == "*(d, x)"


def test_scripts_after_an_application() -> None:
    tree = parse(r"f(x)^2 + g'(y)")
    assert shape(tree) == "+(script(apply(f, delim(x)), 2), apply(script(g), delim(y)))"


REAL_FORMULAS = [
    r"T_1^{\rm FM}=\Sigma_0^{1/2}(\Sigma_0^{-1/2}\Sigma_1\Sigma_0^{-1/2})^{1/2}\Sigma_0^{-1/2}",
    r"\partial_t\rho_t=\nabla\cdot(\rho_t\nabla V)-\sigma^s(-\Delta)^{s/2}\rho_t",
    r"\overline{c_m}=\overline{\frac{1}{2\pi}\int_{-\pi}^\pi f(x)e^{-imx}dx}",
    r"\sum_{i=1}^k c(x_i,y_i)\leq\sum_{i=1}^k c(x_i,y_{i+1}),\quad y_{k+1}=y_1",
    r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}^{-1} = \frac{1}{ad-bc}\begin{pmatrix} d & -b \\ -c & a \end{pmatrix}",
]


@pytest.mark.parametrize("latex", REAL_FORMULAS)
def test_chain_puts_every_part_before_the_parts_containing_it(latex: str) -> None:
    tree = parse(latex)
    assert not tree.fallback
    chain = priority_chain(latex, max_len=10_000)
    index = {z: i for i, z in enumerate(chain)}
    for node in tree.walk():
        if node.latex not in index:
            continue
        for inner in node.walk():
            if inner is not node and inner.latex in index and inner.latex != node.latex:
                assert index[inner.latex] < index[node.latex], (inner.latex, node.latex)
