"""Multi-step derivations generated with sympy, after Meadows et al., "Generating
Mathematical Derivations with Large Language Models": start from premise equations,
apply operations (differentiate, integrate, add/multiply both sides, substitute another
premise, expand), annotate every step, and derive perturbed variants that test
robustness.

Record layout: the problem lists the premises and the operations in order; the answer is
the resulting equation (checked by the ``equation`` verifier: the same equation up to
swapped sides). Variants of one derivation share ``group`` and therefore a split:

* ``base`` - as generated;
* ``renamed`` - every variable, constant and function renamed consistently;
* ``swapped`` - the sides of every equation swapped;
* ``alt_goal`` - the last operation replaced by another, so the goal differs;
* ``removed_step`` - the full derivation is shown with one intermediate equation
  hidden; the answer is the hidden equation.

``extra["steps"]`` holds the annotated derivation: operation, argument, and the equation
after the step (LaTeX and srepr).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import sympy

from formulaforge.datasets.synthetic.calculus import Rejected, draw_until, is_elementary
from formulaforge.datasets.synthetic.numeric import agree_numerically
from formulaforge.datasets.synthetic.records import SynthRecord, record_id, tree_size
from formulaforge.datasets.synthetic.trees import TreeConfig, random_expression

x, a, b = sympy.symbols("x a b")
f = sympy.Function("f")

OPERATIONS = ("differentiate", "integrate", "add", "multiply", "substitute", "expand")
VARIANTS = ("base", "renamed", "swapped", "alt_goal", "removed_step")
# Never rename to d (reads as a differential), e, i or c (read as constants by LaTeX parsers).
RENAMES = [
    {"x": "t", "a": "k", "b": "m", "f": "g"},
    {"x": "s", "a": "p", "b": "q", "f": "h"},
    {"x": "u", "a": "r", "b": "w", "f": "y"},
]


@dataclass(frozen=True)
class DerivationConfig:
    tree: TreeConfig = field(default_factory=lambda: TreeConfig(min_ops=1, max_ops=3, leaf_variable_prob=0.6))
    min_steps: int = 2
    max_steps: int = 4
    variants: tuple[str, ...] = VARIANTS
    timeout_s: float = 1.5
    max_size: int = 90
    max_tries: int = 200


@dataclass
class Step:
    operation: str
    argument: sympy.Basic | None
    equation: sympy.Eq

    def describe(self, names: dict[str, str] | None = None) -> str:
        arg = _rename(self.argument, names) if self.argument is not None else None
        var = (names or {}).get("x", "x")
        return {
            "differentiate": f"differentiate both sides with respect to {var}",
            "integrate": f"integrate both sides with respect to {var}",
            "add": f"add {sympy.sstr(arg)} to both sides",
            "multiply": f"multiply both sides by {sympy.sstr(arg)}",
            "substitute": (f"substitute {sympy.sstr(arg.lhs)} = {sympy.sstr(arg.rhs)} from premise (2)"
                           if isinstance(arg, sympy.Eq) else "substitute premise (2)"),
            "expand": "expand the right-hand side",
        }[self.operation]


def _rename(obj, names: dict[str, str] | None):
    if not names or obj is None:
        return obj
    mapping: dict = {sympy.Symbol(k): sympy.Symbol(v) for k, v in names.items() if k != "f"}
    if "f" in names:
        g = sympy.Function(names["f"])
        for app in obj.atoms(sympy.core.function.AppliedUndef):
            if app.func == f:
                mapping[app] = g(*[arg.xreplace(mapping) for arg in app.args])
    # xreplace is one structural pass (Basic.replace with a pattern is far slower).
    return obj.xreplace(mapping)


def _leafy_expr(rng: random.Random, config: DerivationConfig, with_const: sympy.Symbol) -> sympy.Expr:
    """A random expression in x that mentions the constant ``with_const`` (so substitution matters)."""
    e, _ = random_expression(rng, config.tree)
    if not e.has(x):
        raise Rejected("constant")
    return e * with_const if rng.random() < 0.5 else e + with_const


def _apply(op: str, eq: sympy.Eq, rng: random.Random, config: DerivationConfig, premise2: sympy.Eq) -> Step:
    lhs, rhs = eq.lhs, eq.rhs
    if op == "differentiate":
        new = sympy.Eq(sympy.diff(lhs, x), sympy.diff(rhs, x), evaluate=False)
        arg = x
    elif op == "integrate":
        r = sympy.integrate(rhs, x, risch=False)
        if not is_elementary(r):
            raise Rejected("non_elementary")
        # The integral of a derivative is the function; anything else stays an unevaluated
        # Integral (sympy.integrate on an unknown function can search for seconds).
        left = lhs.args[0] if isinstance(lhs, sympy.Derivative) and lhs.variables == (x,) \
            else sympy.Integral(lhs, x)
        new = sympy.Eq(left, r, evaluate=False)
        arg = x
    elif op == "add":
        arg = random_expression(rng, TreeConfig(min_ops=0, max_ops=1), x)[0] if rng.random() < 0.7 \
            else sympy.Integer(rng.randint(1, 9))
        new = sympy.Eq(lhs + arg, rhs + arg, evaluate=False)
    elif op == "multiply":
        arg = rng.choice([x, x**2, sympy.Integer(rng.randint(2, 9)), b, sympy.exp(x)])
        new = sympy.Eq(arg * lhs, arg * rhs, evaluate=False)
    elif op == "substitute":
        if not (lhs.has(premise2.lhs) or rhs.has(premise2.lhs)):
            raise Rejected("nothing_to_substitute")
        new = sympy.Eq(lhs.xreplace({premise2.lhs: premise2.rhs}), rhs.xreplace({premise2.lhs: premise2.rhs}),
                       evaluate=False)
        arg = premise2
    elif op == "expand":
        expanded = sympy.expand(rhs)
        if expanded == rhs:
            raise Rejected("expand_noop")
        new = sympy.Eq(lhs, expanded, evaluate=False)
        arg = None
    else:
        raise ValueError(f"unknown operation {op!r}")
    if (new.lhs == new.rhs or tree_size(new) > config.max_size
            or new.has(sympy.zoo, sympy.nan, sympy.oo, sympy.I)):
        raise Rejected("degenerate_step")
    return Step(op, arg, new)


def _opaque(expr: sympy.Basic) -> tuple[sympy.Basic, list[sympy.Symbol]]:
    """Replace Derivative/Integral/f(x) by fresh symbols so an equation can be evaluated numerically."""
    atoms = sorted(expr.atoms(sympy.Derivative, sympy.Integral, sympy.core.function.AppliedUndef),
                   key=sympy.default_sort_key)
    # Replace the biggest (outermost) first so f(x) inside Derivative(f(x), x) does not break it.
    atoms.sort(key=lambda t: -tree_size(t))
    mapping = {t: sympy.Symbol(f"_opaque{i}") for i, t in enumerate(atoms)}
    out = expr
    for t, s in mapping.items():
        out = out.xreplace({t: s})
    return out, list(mapping.values())


def equations_equivalent(e1: sympy.Eq, e2: sympy.Eq, rng: random.Random) -> bool | None:
    """Same equation up to swapped sides: lhs-rhs agree (or agree up to sign) at random points.

    True/False when decided numerically; None when too few points could be evaluated.
    """
    d1, d2 = e1.lhs - e1.rhs, e2.lhs - e2.rhs
    joint, _ = _opaque(sympy.Tuple(d1, d2))
    free = sorted(joint.free_symbols, key=lambda s: s.name)
    verdicts = [agree_numerically(joint[0], sign * joint[1], free, rng, rel_tol=1e-8) for sign in (1, -1)]
    if True in verdicts:
        return True
    return False if verdicts == [False, False] else None


def _real_at_positive_points(expr: sympy.Expr) -> bool:
    """Finite and real at a few positive values of every symbol."""
    syms = sorted(expr.free_symbols, key=lambda t: t.name)
    for value in (sympy.Rational(7, 5), sympy.Rational(13, 4)):
        v = sympy.N(expr.subs({t: value for t in syms}), 20)
        if not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo) or abs(sympy.im(v)) > 1e-12:
            return False
    return True


def _problem_text(premises: list[sympy.Eq], steps: list[Step], names: dict[str, str] | None,
                  swap: bool) -> tuple[str, str]:
    def show(eq: sympy.Eq) -> sympy.Eq:
        eq = _rename(eq, names)
        return sympy.Eq(eq.rhs, eq.lhs, evaluate=False) if swap else eq

    prem = [show(p) for p in premises]
    plain = "Premises: " + "; ".join(
        f"({i + 1}) {sympy.sstr(p.lhs)} = {sympy.sstr(p.rhs)}" for i, p in enumerate(prem))
    latex = r"\text{Premises: } " + r",\quad ".join(
        f"({i + 1})\\; {sympy.latex(p)}" for i, p in enumerate(prem))
    ops = "; then ".join(s.describe(names) for s in steps)
    plain += f". Starting from premise (1), {ops}. Give the resulting equation."
    latex += r".\ \text{Starting from (1), " + ops.replace("**", "^") + r". Give the resulting equation.}"
    return plain, latex


def _eq_forms(eq: sympy.Eq) -> tuple[str, str, str]:
    return f"{sympy.sstr(eq.lhs)} = {sympy.sstr(eq.rhs)}", sympy.latex(eq), sympy.srepr(eq)


def _record(variant: str, group: str, premises: list[sympy.Eq], steps: list[Step], goal: sympy.Eq,
            names: dict[str, str] | None = None, swap: bool = False, problem: tuple[str, str] | None = None,
            extra: dict | None = None) -> SynthRecord:
    shown_goal = _rename(goal, names)
    if swap:
        shown_goal = sympy.Eq(shown_goal.rhs, shown_goal.lhs, evaluate=False)
    plain, latex = problem or _problem_text(premises, steps, names, swap)
    p_srepr = sympy.srepr(sympy.Tuple(*[_rename(p, names) for p in premises]))
    a_plain, a_latex, a_srepr = _eq_forms(shown_goal)
    var = (names or {}).get("x", "x")
    annotated = [{"operation": s.operation,
                  "argument": sympy.sstr(_rename(s.argument, names)) if s.argument is not None else None,
                  "argument_srepr": sympy.srepr(_rename(s.argument, names)) if s.argument is not None else None,
                  "equation_latex": sympy.latex(_rename(s.equation, names)),
                  "equation_srepr": sympy.srepr(_rename(s.equation, names))} for s in steps]
    return SynthRecord(
        task="derivations",
        problem=plain,
        problem_latex=latex,
        problem_srepr=p_srepr + "|" + "|".join(f"{s['operation']}:{s['argument']}" for s in annotated)
        + f"|{variant}",
        answer=a_plain,
        answer_latex=a_latex,
        answer_srepr=a_srepr,
        difficulty=tree_size(goal),
        verifier="equation",
        variable=var,
        method=variant,
        group=group,
        extra={"steps": annotated, "premises_latex": [sympy.latex(_rename(p, names)) for p in premises],
               "premises_srepr": [sympy.srepr(_rename(p, names)) for p in premises],
               **(extra or {})},
    )


def derivation_family(rng: random.Random, config: DerivationConfig) -> list[SynthRecord]:
    """One derivation and its perturbed variants (all under the caller's time limit)."""
    rhs1 = _leafy_expr(rng, config, a)
    rhs2, _ = random_expression(rng, TreeConfig(min_ops=0, max_ops=1, leaf_variable_prob=0.0))
    rhs2 = rhs2 + b if rng.random() < 0.5 else rhs2 * b
    if not _real_at_positive_points(rhs1) or not _real_at_positive_points(rhs2):
        raise Rejected("complex_premise")  # e.g. log(-sqrt(x)): no real derivation to speak of
    premises = [sympy.Eq(f(x), rhs1, evaluate=False), sympy.Eq(a, rhs2, evaluate=False)]
    n_steps = rng.randint(config.min_steps, config.max_steps)
    steps: list[Step] = []
    eq = premises[0]
    for i in range(n_steps):
        ops = [o for o in OPERATIONS if not (steps and steps[-1].operation == o)]
        for once in ("substitute", "integrate"):  # a second integral reads as \iint: keep one
            if any(s.operation == once for s in steps):
                ops = [o for o in ops if o != once]
        rng.shuffle(ops)
        for k, op in enumerate(ops):  # an inapplicable operation (expand of an expanded side) is skipped
            try:
                step = _apply(op, eq, rng, config, premises[1])
                break
            except Rejected:
                if k == len(ops) - 1:
                    raise
        steps.append(step)
        eq = step.equation
    goal = eq
    # Independent re-check of every step: the annotated operation applied again must
    # give an equivalent equation (guards against sympy auto-evaluation surprises).
    check = random.Random(rng.random())
    prev = premises[0]
    for s in steps:
        if s.operation == "differentiate":
            expect = sympy.Eq(sympy.diff(prev.lhs, x), sympy.diff(prev.rhs, x))
        elif s.operation == "multiply":
            expect = sympy.Eq(s.argument * prev.lhs, s.argument * prev.rhs)
        elif s.operation == "add":
            expect = sympy.Eq(prev.lhs + s.argument, prev.rhs + s.argument)
        else:
            expect = None
        if expect is not None and expect is not sympy.true \
                and equations_equivalent(expect, s.equation, check) is not True:
            raise Rejected("step_check_failed")
        prev = s.equation
    group = record_id("derivations",
                      sympy.srepr(sympy.Tuple(*premises)) + "".join(s.operation for s in steps))
    out: list[SynthRecord] = []
    for variant in config.variants:
        if variant == "base":
            out.append(_record("base", group, premises, steps, goal))
        elif variant == "renamed":
            out.append(_record("renamed", group, premises, steps, goal, names=rng.choice(RENAMES)))
        elif variant == "swapped":
            out.append(_record("swapped", group, premises, steps, goal, swap=True))
        elif variant == "alt_goal":
            prev_eq = steps[-2].equation if len(steps) > 1 else premises[0]
            used = {s.operation for s in steps[:-1]}
            alternatives = [o for o in OPERATIONS if o != steps[-1].operation and o != "substitute"
                            and not (o == "integrate" and "integrate" in used)]
            rng.shuffle(alternatives)
            for op in alternatives:
                try:
                    alt = _apply(op, prev_eq, rng, config, premises[1])
                except Rejected:
                    continue
                alt_steps = steps[:-1] + [alt]
                out.append(_record("alt_goal", group, premises, alt_steps, alt.equation))
                break
        elif variant == "removed_step" and len(steps) >= 2:
            hidden = rng.randrange(len(steps) - 1)  # never the goal: it stays visible as the target
            lines = [f"({i + 1}) {sympy.sstr(p.lhs)} = {sympy.sstr(p.rhs)}" for i, p in enumerate(premises)]
            lat = [f"({i + 1})\\; {sympy.latex(p)}" for i, p in enumerate(premises)]
            for i, s in enumerate(steps):
                eq_text = f"{sympy.sstr(s.equation.lhs)} = {sympy.sstr(s.equation.rhs)}"
                shown = "[missing]" if i == hidden else eq_text
                shown_l = r"\text{[missing]}" if i == hidden else sympy.latex(s.equation)
                lines.append(f"Step {i + 1}: {s.describe()}: {shown}")
                lat.append(rf"\text{{Step {i + 1}: {s.describe().replace('**', '^')}:}}\; {shown_l}")
            plain = "Derivation: " + "; ".join(lines) + ". What is the missing equation?"
            latex = r"\\ ".join(lat) + r"\\ \text{What is the missing equation?}"
            out.append(_record("removed_step", group, premises, steps, steps[hidden].equation,
                               problem=(plain, latex), extra={"hidden_step": hidden + 1}))
    return out


def generate(n: int, rng: random.Random, config: DerivationConfig = DerivationConfig(),
             stats: Counter | None = None) -> Iterator[SynthRecord]:
    """Records until ``n`` are made (families are emitted whole, so the count may overshoot by a few)."""
    stats = Counter() if stats is None else stats
    yield from draw_until(lambda: derivation_family(rng, config), n, max_tries=config.max_tries,
                          timeout_s=config.timeout_s, stats=stats)
