"""to_sympy: elementary formulas convert, others give None, a pathological one is cut off."""

from __future__ import annotations

import threading
import time

import pytest
import sympy

from formulaforge.formula import to_sympy


def test_elementary_formulas_convert() -> None:
    a, b, c, x = sympy.symbols("a b c x")
    assert sympy.simplify(to_sympy(r"\frac{a+b}{c}^2") - ((a + b) / c) ** 2) == 0
    eq = to_sympy(r"\sin^2 x + \cos^2 x = 1")
    assert eq == sympy.Eq(sympy.sin(x) ** 2 + sympy.cos(x) ** 2, 1)  # read as written, not evaluated to True


def test_layout_is_normalized_away_before_conversion() -> None:
    a, b, x = sympy.symbols("a b x")
    assert to_sympy(r"\left( \frac 12 \right)^{2} \, .").doit() == sympy.Rational(1, 4)
    assert to_sympy(r"a &= b \label{eq:1}") == sympy.Eq(a, b)
    assert str(to_sympy(r"\sqrt2 x")) == "sqrt(2)*x"


def test_case_is_kept() -> None:
    assert to_sympy("X + x") == sympy.Symbol("X") + sympy.Symbol("x")


def test_non_elementary_gives_none() -> None:
    assert to_sympy(r"\begin{cases} 1 & x>0 \\ 0 \end{cases}") is None
    assert to_sympy(r"a &= b \\ &= c") is None
    assert to_sympy(r"x = 1 \text{ for all } y") is None
    assert to_sympy("") is None
    assert to_sympy(r"\frac{a}{") is None


def test_pathological_formulas_are_refused_quickly() -> None:
    # Deep nesting and huge exact powers: refused before sympy computes anything (an exact
    # power is one C call that no time limit could interrupt).
    to_sympy("x")  # warm the import outside the measured calls
    t0 = time.perf_counter()
    assert to_sympy("(" * 200 + "x" + ")" * 200) is None
    assert to_sympy("((2^{300})^{300})^{300}") is None
    assert to_sympy("2^{2^{2^{2^{2}}}}") is None
    assert to_sympy(r"\sqrt{2}^{1000000}") is None  # would fold into 2**500000
    assert to_sympy("2^{2^{2^{2}}}") == sympy.Integer(2) ** 16
    assert time.perf_counter() - t0 < 3.0


def _long_formula(terms: int = 8000) -> str:
    """A valid formula that takes ~0.5 s to read: longer than the limits below."""
    return "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(terms))


def test_timeout_cuts_a_slow_conversion_off() -> None:
    to_sympy("x")
    t0 = time.perf_counter()
    assert to_sympy(_long_formula(), timeout=0.05) is None
    assert time.perf_counter() - t0 < 2.0
    short = to_sympy(_long_formula(50))  # sum of x_i^i for i < 50: 2^50 - 1 with every x_i = 2
    assert len(short.free_symbols) == 49 and short.subs({s: 2 for s in short.free_symbols}) == 2**50 - 1


def test_timeout_outside_the_main_thread_uses_a_worker_process() -> None:
    result: dict[str, object] = {}

    def run() -> None:
        t0 = time.perf_counter()
        result["value"] = to_sympy(_long_formula(), timeout=0.2)
        result["elapsed"] = time.perf_counter() - t0
        result["ok"] = to_sympy("a+b", timeout=30.0)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert result["value"] is None and result["elapsed"] < 20
    assert str(result["ok"]) == "a + b"


def test_a_swallowed_timeout_does_not_disable_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # A converter that catches the first timeout (as latex2sympy does in places) must still stop.
    import importlib

    mod = importlib.import_module("formulaforge.formula.to_sympy")  # the module, not the function

    def stubborn(text: str) -> object:
        try:
            while True:
                pass
        except Exception:  # noqa: BLE001 - imitates the library
            pass
        while True:
            pass

    monkeypatch.setattr(mod, "_convert", stubborn)
    t0 = time.perf_counter()
    assert mod.to_sympy("x + y", timeout=0.3) is None
    assert time.perf_counter() - t0 < 3.0


def test_outer_timer_is_kept_and_no_alarm_is_left_behind() -> None:
    import signal

    from formulaforge.utils.timeout import time_limit

    outer_before, _ = signal.getitimer(signal.ITIMER_REAL)
    a, b = sympy.symbols("a b")
    with time_limit(30):
        assert to_sympy("a+b") == a + b
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 30
    assert to_sympy("a+b") == a + b
    after, _ = signal.getitimer(signal.ITIMER_REAL)
    assert (after == 0) == (outer_before == 0)  # only pytest-timeout's own timer, if any, remains
