"""Plug-and-play in evaluation: the router's gate per row, and no side effect on prose (issue 18, item 6)."""

from __future__ import annotations

from msft_helpers import randomize_adapters, tiny_model, tiny_tokenizer

from formulaforge.evaluation.runner import EvalConfig, evaluate, record_gates
from formulaforge.evaluation.side_effect import side_effect_check
from formulaforge.models.generation import SamplingConfig
from formulaforge.models.msft import MSFTAdapter, MSFTConfig

PROSE = [
    "The committee met on Tuesday and agreed to publish the minutes next week.",
    "Rivers carry sediment downstream, and the delta grows a little every year.",
    "Write a short note to thank the reviewers for their careful reading.",
]
FORMULA = [r"The energy is $E = m c^2$ for a particle at rest.", r"Let $f(x) = \frac{1}{1 + e^{-x}}$ be given."]


def _msft():
    model = tiny_model("llama")
    adapter = MSFTAdapter.inject(model, MSFTConfig(r1=4, alpha=8, r2=8, r3=2, dropout=0.0), (1, 2, 3))
    randomize_adapters(adapter, scale=0.5)
    return model, adapter


def test_prose_routed_off_is_bitwise_the_base_model() -> None:
    model, adapter = _msft()
    tok = tiny_tokenizer()
    result = side_effect_check(model, tok, adapter, PROSE, FORMULA, max_new_tokens=6, batch_size=4)
    assert result["false_on"] == 0 and result["false_off"] == 0
    assert result["off_identical_to_base"] == len(PROSE) and not result["off_differs_from_base"]
    assert result["on_differs_from_base"] >= 1  # the plugins do act on formula rows (the check can tell)


def test_evaluation_honours_the_router() -> None:
    model, adapter = _msft()
    tok = tiny_tokenizer()
    records = [{"id": str(i), "input": t, "label": "x"} for i, t in enumerate(PROSE + FORMULA)]
    auto = EvalConfig(runs=1, sampling=SamplingConfig(greedy=True, max_new_tokens=4), render_metric=False,
                      gate="auto", task=None, batch_size=5)
    assert record_gates(records, auto) == [False] * 3 + [True] * 2
    assert record_gates(records, EvalConfig(gate="auto")) == [True] * 5  # told: a formula task
    rows, metrics = evaluate(model, tok, records, auto, msft=adapter)
    assert metrics["_meta"]["gate_on_share"] == 0.4
    off = EvalConfig(**{**auto.__dict__, "gate": "off"})
    base_rows, _ = evaluate(model, tok, records, off, msft=adapter)
    on = EvalConfig(**{**auto.__dict__, "gate": "on"})
    on_rows, _ = evaluate(model, tok, records, on, msft=adapter)
    assert [r["output"] for r in rows[:3]] == [r["output"] for r in base_rows[:3]]
    assert [r["output"] for r in rows[3:]] == [r["output"] for r in on_rows[3:]]
