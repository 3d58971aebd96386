"""Synthetic generators: answers verified independently of the generator's own code path,
dedup and leak-free splits, hard timeouts."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import mpmath
import pytest
import sympy

from formulaforge.datasets.synthetic import addition, calculus, derivations, roots, trees
from formulaforge.datasets.synthetic.pipeline import finalize, generate_records, write_dataset
from formulaforge.datasets.synthetic.records import SynthRecord
from formulaforge.datasets.synthetic.splits import dedup, split_of
from formulaforge.datasets.synthetic.srepr import parse_srepr
from formulaforge.utils.jsonl import read_jsonl

X = sympy.Symbol("x")
FIELDS = ["id", "task", "problem", "problem_latex", "problem_srepr", "answer", "answer_latex", "answer_srepr",
          "difficulty", "verifier", "split"]


def _points(f_num, n=5, seed=0):
    rng = random.Random(seed)
    return [mpmath.mpf(rng.uniform(0.2, 2.8)) for _ in range(n)]


# ---------------------------------------------------------------- trees
def _count_shapes(n: int, p1: int, p2: int) -> int:
    """Labelled unary-binary trees with n operators, by the textbook recurrence."""
    if n == 0:
        return 1
    return p1 * _count_shapes(n - 1, p1, p2) + p2 * sum(
        _count_shapes(i, p1, p2) * _count_shapes(n - 1 - i, p1, p2) for i in range(n))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7])
def test_tree_count_matches_direct_enumeration(n):
    assert trees.count_trees(1, n, 3, 4) == _count_shapes(n, 3, 4)


def test_tree_sampler_is_uniform_over_shapes():
    cfg = trees.TreeConfig(unary_weights={"neg": 1.0}, binary_weights={"add": 1.0})
    rng = random.Random(0)
    counts = Counter(tuple(trees.sample_prefix(3, rng, cfg)) for _ in range(6000))
    # 1 unary + 1 binary operator, 3 operators: _count_shapes(3,1,1) distinct shapes, each equally likely.
    assert len(counts) == _count_shapes(3, 1, 1)
    expected = 6000 / len(counts)
    assert all(abs(c - expected) < 0.25 * expected for c in counts.values()), counts


def test_tree_prefix_is_valid_and_has_requested_operators():
    cfg = trees.TreeConfig()
    rng = random.Random(1)
    for n in range(1, 8):
        tokens = trees.sample_prefix(n, rng, cfg)
        assert sum(t != "<leaf>" for t in tokens) == n
        trees.prefix_to_sympy(tokens, rng, cfg)  # raises on a malformed prefix


# ---------------------------------------------------------------- addition
def test_addition_answers_match_the_numbers_in_the_problem_text():
    cfg = addition.AdditionConfig(min_digits=1, max_digits=12, min_operands=2, max_operands=4)
    recs = list(addition.generate(300, random.Random(3), cfg))
    for r in recs:
        nums = [int(v) for v in re.findall(r"\d+", r.problem)]
        assert int(r.answer) == sum(nums)
        assert parse_srepr(r.answer_srepr) == sum(nums)
    assert {len(re.findall(r"\d+", r.problem)) for r in recs} == {2, 3, 4}
    assert max(len(str(int(r.answer))) for r in recs) >= 12


def test_addition_grid_is_exhaustive_and_distinct():
    recs = list(addition.grid(addition.AdditionConfig(grid_max=6)))
    assert len(recs) == 49
    assert len({r.problem for r in recs}) == 49
    assert {tuple(r.extra["operands"]) for r in recs} == {(a, b) for a in range(7) for b in range(7)}


# ---------------------------------------------------------------- roots
def test_roots_are_exact_surds_and_numeric_forms_agree():
    recs = list(roots.generate(80, random.Random(4)))
    methods = Counter(r.method for r in recs)
    assert methods["integer"] and methods["expression"]
    for r in recs:
        ans = parse_srepr(r.answer_srepr)
        if r.method == "integer":
            n = r.extra["radicand"]
            assert ans**2 == n
            assert math.isclose(float(ans), math.sqrt(n), rel_tol=1e-12)
            assert math.isclose(float(r.extra["numeric"]), math.sqrt(n), rel_tol=1e-8)
            # simplified: what is left under the root is square-free
            inner = [a.base for a in sympy.preorder_traversal(ans) if isinstance(a, sympy.Pow)]
            assert all(sympy.factorint(int(b)) and max(sympy.factorint(int(b)).values()) == 1 for b in inner)
        else:
            radicand = parse_srepr(r.problem_srepr)
            for x in (0.3, 1.7, 4.0):
                assert math.isclose(float(ans.subs(X, x)), math.sqrt(float(radicand.subs(X, x))), rel_tol=1e-10)


# ---------------------------------------------------------------- calculus
def _num(expr, x):
    return complex(sympy.N(expr.subs(X, sympy.Float(x, 40)), 30))


def test_derivative_answers_match_mpmath_numeric_differentiation():
    stats: Counter = Counter()
    recs = list(calculus.generate_derivatives(15, random.Random(5), stats=stats))
    assert len(recs) == 15 and stats["accepted"] == 15
    checked = 0
    for r in recs:
        f = parse_srepr(r.problem_srepr)
        d = parse_srepr(r.answer_srepr)
        fn = sympy.lambdify(X, f, "mpmath")
        for x in (0.37, 1.21, 2.45):
            try:
                with mpmath.workdps(40):
                    expect = complex(mpmath.diff(fn, mpmath.mpf(x)))
                got = _num(d, x)
            except (ValueError, ZeroDivisionError, TypeError):
                continue
            if not all(map(math.isfinite, (expect.real, expect.imag, got.real, got.imag))):
                continue
            assert abs(got - expect) <= 1e-6 * max(1, abs(expect)), (r.problem, r.answer, x)
            checked += 1
        assert r.difficulty == sum(1 for _ in sympy.preorder_traversal(f))
    assert checked >= 25


def test_integral_answers_differentiate_back_and_are_elementary():
    stats: Counter = Counter()
    recs = list(calculus.generate_integrals(16, random.Random(6), stats=stats))
    assert {r.method for r in recs} >= {"forward", "backward"}
    for r in recs:
        f = parse_srepr(r.problem_srepr)
        F = parse_srepr(r.answer_srepr)
        assert calculus.is_elementary(F)
        fn = sympy.lambdify(X, F, "mpmath")
        ok = 0
        for x in (0.41, 1.13, 1.9, 2.6):
            try:
                with mpmath.workdps(40):
                    dF = complex(mpmath.diff(fn, mpmath.mpf(x)))
                fx = _num(f, x)
            except (ValueError, ZeroDivisionError, TypeError):
                continue
            if not all(map(math.isfinite, (dF.real, dF.imag, fx.real, fx.imag))):
                continue
            assert abs(dF - fx) <= 1e-6 * max(1, abs(fx)), (r.problem, r.answer)
            ok += 1
        assert ok >= 1, r.problem


def test_integration_by_parts_records_are_valid():
    cfg = calculus.CalculusConfig(methods=("ibp",), method_weights=(1.0,))
    recs = list(calculus.generate_integrals(4, random.Random(7), cfg))
    assert {r.method for r in recs} == {"ibp"}
    for r in recs:
        f, F = parse_srepr(r.problem_srepr), parse_srepr(r.answer_srepr)
        assert calculus.check_antiderivative(F, f, random.Random(0))


def test_non_elementary_results_are_rejected():
    assert not calculus.is_elementary(sympy.erf(X))
    assert not calculus.is_elementary(sympy.Integral(sympy.exp(X**2), X))
    assert not calculus.is_elementary(sympy.Ei(X) + X)
    assert calculus.is_elementary(sympy.atan(X) * sympy.log(X))


def test_generation_obeys_the_hard_timeout():
    cfg = calculus.CalculusConfig(timeout_s=1e-4, max_tries=3)
    stats: Counter = Counter()
    with pytest.raises(RuntimeError, match="gave up"):
        list(calculus.generate_integrals(2, random.Random(8), cfg, stats))
    assert stats["rejected_timeout"] > 0


# ---------------------------------------------------------------- derivations
@pytest.fixture(scope="module")
def derivation_records():
    return list(derivations.generate(30, random.Random(9)))


def test_derivations_steps_are_annotated_and_variants_consistent(derivation_records):
    recs = derivation_records
    by_group: dict[str, list[SynthRecord]] = {}
    for r in recs:
        by_group.setdefault(r.group, []).append(r)
        assert r.verifier == "equation"
        assert r.extra["steps"] and all({"operation", "equation_latex", "equation_srepr"} <= set(s)
                                        for s in r.extra["steps"])
        assert isinstance(parse_srepr(r.answer_srepr), sympy.Eq)
    variants = Counter(r.method for r in recs)
    assert set(variants) == set(derivations.VARIANTS)
    rng = random.Random(0)
    for group in by_group.values():
        base = next((r for r in group if r.method == "base"), None)
        if base is None:
            continue
        goal = parse_srepr(base.answer_srepr)
        # the goal is the last annotated step
        assert parse_srepr(base.extra["steps"][-1]["equation_srepr"]) == goal
        for r in group:
            ans = parse_srepr(r.answer_srepr)
            if r.method == "swapped":
                assert derivations.equations_equivalent(ans, goal, rng) and ans.lhs == goal.rhs
            elif r.method == "renamed":
                assert X not in ans.free_symbols and ans.free_symbols
                assert r.variable != "x"
            elif r.method == "alt_goal":
                assert r.extra["steps"][-1]["operation"] != base.extra["steps"][-1]["operation"]
            elif r.method == "removed_step":
                hidden = r.extra["hidden_step"]
                assert parse_srepr(base.extra["steps"][hidden - 1]["equation_srepr"]) == ans
                assert "[missing]" in r.problem


def test_derivation_steps_replay(derivation_records):
    """Re-applying each annotated operation to the previous equation reproduces the next one."""
    recs = [r for r in derivation_records if r.method == "base"]
    x = sympy.Symbol("x")
    rng = random.Random(1)
    replayed = Counter()
    for r in recs:
        premise1, premise2 = (parse_srepr(p) for p in r.extra["premises_srepr"])
        prev = premise1
        for step in r.extra["steps"]:
            eq = parse_srepr(step["equation_srepr"])
            op = step["operation"]
            arg = parse_srepr(step["argument_srepr"]) if step["argument_srepr"] else None
            if op == "differentiate":
                expect = sympy.Eq(sympy.diff(prev.lhs, x), sympy.diff(prev.rhs, x), evaluate=False)
            elif op == "multiply":
                expect = sympy.Eq(arg * prev.lhs, arg * prev.rhs, evaluate=False)
            elif op == "add":
                expect = sympy.Eq(prev.lhs + arg, prev.rhs + arg, evaluate=False)
            elif op == "substitute":
                assert arg == premise2
                expect = sympy.Eq(prev.lhs.subs(arg.lhs, arg.rhs), prev.rhs.subs(arg.lhs, arg.rhs), evaluate=False)
            elif op == "expand":
                expect = sympy.Eq(prev.lhs, sympy.expand(prev.rhs), evaluate=False)
            else:  # integrate: d/dx of the new right side gives the old one back
                assert sympy.simplify(sympy.diff(eq.rhs, x) - prev.rhs) == 0
                replayed[op] += 1
                prev = eq
                continue
            assert derivations.equations_equivalent(expect, eq, rng), (op, prev, eq)
            replayed[op] += 1
            prev = eq
    assert sum(replayed.values()) >= 10 and len(replayed) >= 4, replayed


# ---------------------------------------------------------------- records, srepr, splits
def test_records_have_all_fields_and_srepr_round_trips():
    result = generate_records("roots", 20, seed=1)
    splits = finalize(result.records, 0.2, 0.2)
    for recs in splits.values():
        for r in recs:
            row = r.to_dict()
            assert all(k in row and row[k] not in (None, "") for k in FIELDS)
            assert sympy.srepr(parse_srepr(row["answer_srepr"])) == row["answer_srepr"]


@pytest.mark.parametrize("evil", [
    "__import__('os').system('echo hacked')",
    "Symbol('x').__class__",
    "(lambda: 1)()",
    "Integer(10)**Integer(10)",
    "eval('1')",
    "Function('f')(Symbol('x')).__dict__",
])
def test_parse_srepr_refuses_anything_but_sympy_constructors(evil):
    with pytest.raises(ValueError):
        parse_srepr(evil)


def test_dedup_and_group_splits_are_leak_free(tmp_path):
    a = generate_records("addition", 400, seed=1, options={"max_digits": 1}).records
    b = generate_records("addition", 400, seed=2, options={"max_digits": 1}).records
    unique = list(dedup(a + b))
    assert len(unique) < len(a + b)  # 1-digit sums collide a lot
    assert len({r.id for r in unique}) == len(unique)
    # two independent runs, split separately: the union still has no test input in train
    s1, s2 = finalize(a, 0.1, 0.2), finalize(b, 0.1, 0.2)
    train = {r.group for r in s1["train"] + s2["train"]}
    test = {r.group for r in s1["test"] + s2["test"]}
    assert train and test and not train & test
    # commuted operands share a group, hence a split
    r1, r2 = addition.addition_record([3, 5]), addition.addition_record([5, 3])
    assert r1.id != r2.id and r1.group == r2.group
    assert split_of(r1.group, 0.1, 0.2) == split_of(r2.group, 0.1, 0.2)


def test_derivation_variants_share_a_split(derivation_records):
    splits = finalize(derivation_records, 0.3, 0.3)
    where = {}
    for name, rs in splits.items():
        for r in rs:
            where.setdefault(r.group, set()).add(name)
    assert all(len(v) == 1 for v in where.values())


def test_write_dataset_and_manifest(tmp_path):
    result = generate_records("addition", 50, seed=3, workers=2)
    splits = finalize(result.records, 0.1, 0.1)
    manifest = write_dataset(tmp_path / "out", result, splits, {"seed": 3})
    rows = [r for name in ("train", "valid", "test") for r in read_jsonl(tmp_path / "out" / f"{name}.jsonl")]
    assert len(rows) == manifest["after_dedup"] == sum(manifest["splits"].values())
    assert all(r["split"] in ("train", "valid", "test") for r in rows)
    again = generate_records("addition", 50, seed=3, workers=2)
    assert [r.id for r in again.records] == [r.id for r in result.records]  # deterministic with workers


def test_addition_srepr_is_what_sympy_prints():
    rng = random.Random(12)
    for _ in range(50):
        ops = [rng.randint(0, 10**rng.randint(1, 8)) for _ in range(rng.randint(2, 4))]
        rec = addition.addition_record(ops)
        assert rec.problem_srepr == sympy.srepr(sympy.Add(*map(sympy.Integer, ops), evaluate=False))
        assert parse_srepr(rec.answer_srepr) == sympy.Add(*map(sympy.Integer, ops))


def test_tree_options_reach_the_sampler():
    res = generate_records("derivatives", 6, seed=5, options={"max_ops": 1, "min_ops": 1, "timeout_s": 1.0})
    assert all(r.extra["operators"] == 1 for r in res.records)
    with pytest.raises(TypeError):
        generate_records("derivatives", 1, seed=5, options={"no_such_setting": 1})
