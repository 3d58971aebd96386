"""The evaluation runner end to end on a tiny random Llama: batched == one-by-one, continuation only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from formulaforge.evaluation.metrics.standard import standard_metrics
from formulaforge.evaluation.runner import (
    EvalConfig,
    canonical_whitespace,
    evaluate,
    few_shot_input,
    write_eval,
)
from formulaforge.models.generation import SamplingConfig, generate_batched


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_llama_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    model.eval()
    return model, AutoTokenizer.from_pretrained(tiny_llama_dir)


def test_batched_greedy_equals_one_by_one(model_and_tokenizer) -> None:
    model, tok = model_and_tokenizer
    prompts = ["The energy is", "Given the context, write the formula: \\alpha + \\beta =", "x"]
    greedy = SamplingConfig(greedy=True, max_new_tokens=6)
    batched = generate_batched(model, tok, prompts, greedy, batch_size=3)
    single = [generate_batched(model, tok, [p], greedy, batch_size=1)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(0 < g.new_tokens <= 6 for g in batched)
    assert tok.padding_side == "right"  # generation pads by hand and leaves the tokenizer alone


def test_evaluate_writes_predictions_and_metrics(model_and_tokenizer, tmp_path: Path) -> None:
    model, tok = model_and_tokenizer
    labels = ["E = mc^2", r"\frac{a}{b}", r"x^2 + y^2 = r^2", r"\sum_{i=1}^n i"]
    records = [{"id": f"s{i}", "input": f"Context number {i}: the energy of a particle.", "label": lab}
               for i, lab in enumerate(labels)]
    cfg = EvalConfig(runs=2, sampling=SamplingConfig(max_new_tokens=5), batch_size=2, render_metric=False)
    rows, metrics = evaluate(model, tok, records, cfg)
    write_eval(tmp_path, rows, metrics)
    saved = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(saved) == 8 and {r["run"] for r in saved} == {0, 1}
    assert all(set(r) >= {"id", "run", "prediction", "label", "output"} for r in saved)
    assert all("Context number" not in r["output"] for r in saved)  # prompt never decoded
    assert [r["label"] for r in saved if r["run"] == 0] == labels  # each prediction next to its own label
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["_meta"]["n_samples"] == 4 and m["_meta"]["metric_mode"] == "tokenized"
    for run in (0, 1):  # the stored values are the metrics of the stored predictions against their labels
        preds = [canonical_whitespace(r["prediction"]) for r in saved if r["run"] == run]
        expected = standard_metrics(preds, [canonical_whitespace(lab) for lab in labels])
        for name in ("bleu", "sacrebleu", "rouge1", "wer", "cer"):
            assert m[name]["runs"][run] == pytest.approx(expected[name])
    assert m["bleu"]["mean"] == pytest.approx(sum(m["bleu"]["runs"]) / 2)


def test_few_shot_prefix() -> None:
    text = few_shot_input("Q", [{"input": "ctx1", "label": "a=b"}])
    assert text.startswith("Example 1:\nctx1\nAnswer: a=b") and text.endswith("Now the task:\nQ")
    assert few_shot_input("Q", []) == "Q"


def test_scorers_side_by_side_give_the_serial_values() -> None:
    from formulaforge.evaluation.metrics.formula_aware import formula_metrics
    from formulaforge.evaluation.runner import PARALLEL_MIN_PAIRS, score

    labels = [f"x_{{{i}}} + \\frac{{{i}}}{{2}} = y^{i % 7}" for i in range(PARALLEL_MIN_PAIRS)]
    preds = [label if i % 3 else label.replace("+", "-") for i, label in enumerate(labels)]
    scorers = [standard_metrics, formula_metrics]
    serial = score(preds, labels, scorers, workers=1)
    pooled = score(preds, labels, scorers, workers=2)
    assert pooled == serial
    assert list(pooled)[:5] == ["bleu", "sacrebleu", "rouge1", "wer", "cer"]  # scorer order kept
    assert 0 < serial["sym_equiv"] < 1 and serial["sym_converted"] == 1.0


def test_mathbridge_mode_scores_the_strings_as_written() -> None:
    from formulaforge.evaluation.metrics.standard import StandardScorer
    from formulaforge.evaluation.runner import default_scorers, score

    labels = ["a  b\nc d", "x = 1 + y"]
    preds = ["a b c d", "x=1+y"]
    raw = score(preds, labels, [StandardScorer("mathbridge")])
    assert raw == pytest.approx(standard_metrics(preds, labels, "mathbridge"))
    # As written "a  b\nc d" has the words a, b\nc, d (2 edits against a b c d) and "x=1+y" is
    # one word for five (5 edits): 7 edits over 8 reference words.
    assert raw["wer"] == pytest.approx(7 / 8)
    tokenized = score(preds, labels, default_scorers(render=False))
    assert tokenized["wer"] == 0 and tokenized["bleu"] == pytest.approx(100)
    with pytest.raises(ValueError, match="unknown metric mode"):
        EvalConfig(metric_mode="words")
