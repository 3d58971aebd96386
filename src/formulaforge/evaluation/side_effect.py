"""The paper's "no side effect" claim, measured: routed-off prompts get the base model's output.

Sec. 1 of the MSFT paper: "when there is no formula in our input, our trained modules would not
be inserted, which means that our method produces no side effect for models just to process
text". :func:`side_effect_check` generates greedily for a mix of prose and formula prompts once
with the MSFT model, the router deciding the gate per prompt, and once with the adapter
switched off (the base model), in the same batches, and compares the token ids. It also counts
the router's decisions against the expected kind of each prompt (false on / false off).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from formulaforge.datasets.prompts import fit_prompt
from formulaforge.models.generation import SamplingConfig, generate_batched
from formulaforge.models.msft.router import route


def side_effect_check(
    model: Any,
    tokenizer: Any,
    adapter: Any,
    prose: Sequence[str],
    formula: Sequence[str],
    *,
    max_new_tokens: int = 16,
    batch_size: int = 8,
    max_input: int = 512,
) -> dict[str, Any]:
    """Router decisions and output identity; ``prose`` should route off, ``formula`` on."""
    texts = list(prose) + list(formula)
    expected = [False] * len(prose) + [True] * len(formula)
    gates = route(texts)
    prompts = [fit_prompt(t, tokenizer, max_input) for t in texts]
    sampling = SamplingConfig(greedy=True, max_new_tokens=max_new_tokens, max_input=max_input)
    routed = generate_batched(model, tokenizer, prompts, sampling, batch_size, gates=gates, gate_adapter=adapter)
    with adapter.disabled():
        base = generate_batched(model, tokenizer, prompts, sampling, batch_size)
    off = [i for i, g in enumerate(gates) if not g]
    on = [i for i, g in enumerate(gates) if g]
    false_on = sum(1 for i, g in enumerate(gates) if g and not expected[i])
    false_off = sum(1 for i, g in enumerate(gates) if not g and expected[i])
    return {
        "prose": len(prose),
        "formula": len(formula),
        "routed_off": len(off),
        "routed_on": len(on),
        "false_on": false_on,
        "false_on_rate": false_on / len(prose) if prose else None,
        "false_off": false_off,
        "false_off_rate": false_off / len(formula) if formula else None,
        "off_identical_to_base": sum(routed[i].ids == base[i].ids for i in off),
        "off_differs_from_base": [texts[i][:80] for i in off if routed[i].ids != base[i].ids],
        "on_differs_from_base": sum(routed[i].ids != base[i].ids for i in on),
        "max_new_tokens": max_new_tokens,
    }
