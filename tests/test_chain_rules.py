"""Computation-priority chains against hand-derived expectations (issue 22, mutation gaps of chain.py).

Every expected chain below is read off the module docstring's rule by hand, not produced by the code:
compound nodes on the deepest path, leaves and empty operands never entered, absolute values are
compound, ``max_len`` keeps the elements at ``floor(i * n / (max_len - 1))`` plus the whole formula.
"""

from __future__ import annotations

import pytest

from formulaforge.formula.chain import chain_stats, priority_chain

E_MC2 = r"E = mc^2 + p\cdot v"  # full chain: c^2, mc^2, mc^2+p\cdot v, E=mc^2+p\cdot v


def test_absolute_value_is_a_compound_step() -> None:
    assert priority_chain("y=|x+1|") == ["x+1", "|x+1|", "y=|x+1|"]


def test_an_empty_operand_is_never_entered() -> None:
    # The empty numerator has no computation below it: the path goes into the denominator.
    assert priority_chain(r"\frac{}{a^2}") == ["a^2", r"\frac{}{a^2}"]


def test_length_bound_keeps_evenly_spaced_elements_and_the_whole() -> None:
    assert priority_chain(E_MC2, max_len=None) == ["c^2", "mc^2", r"mc^2+p\cdot v", r"E=mc^2+p\cdot v"]
    assert priority_chain(E_MC2, max_len=4) == ["c^2", "mc^2", r"mc^2+p\cdot v", r"E=mc^2+p\cdot v"]
    # 3 inner elements, 2 kept: indices floor(0 * 3/2) = 0 and floor(1 * 3/2) = 1
    assert priority_chain(E_MC2, max_len=3) == ["c^2", "mc^2", r"E=mc^2+p\cdot v"]
    assert priority_chain(E_MC2, max_len=2) == ["c^2", r"E=mc^2+p\cdot v"]
    assert priority_chain(E_MC2, max_len=1) == [r"E=mc^2+p\cdot v"]


def test_a_bound_below_one_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match=r"^max_len must be >= 1$"):
        priority_chain(E_MC2, max_len=0)


def test_chain_stats_counts_pairs_and_containment() -> None:
    chains = [["a", "a+b", "(a+b)^2"], ["x"], ["p", "q", "pq"]]
    assert chain_stats(chains) == {
        "formulas": 3,
        "pairs": 4,
        "pairs_per_formula": 1.333,
        "label_contains_input": 0.75,  # (p, q) is the one pair whose label does not contain its input
        "formulas_without_pairs": 1,
    }
    chains = [["p", "q"], ["c", "c^2", "c^2+1"], []]
    assert chain_stats(chains) == {
        "formulas": 3,
        "pairs": 3,
        "pairs_per_formula": 1.0,
        "label_contains_input": 0.6667,
        "formulas_without_pairs": 1,
    }
    assert chain_stats([]) == {
        "formulas": 0,
        "pairs": 0,
        "pairs_per_formula": 0.0,
        "label_contains_input": 0.0,
        "formulas_without_pairs": 0,
    }
    assert chain_stats([["x"], ["y"]])["label_contains_input"] == 0.0


def test_a_tie_in_depth_goes_to_the_leftmost_operand() -> None:
    # \frac{}{} and a^2 both have one level of computation: the leftmost wins, even though the
    # fraction's operands are empty (its depth ends at nothing, a^2's at leaves).
    assert priority_chain(r"\frac{}{}+a^2") == [r"\frac{}{}", r"\frac{}{}+a^2"]
