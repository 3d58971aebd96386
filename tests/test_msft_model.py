"""MSFT layer, targets, freezing, gate and parameter report on tiny random models."""

from __future__ import annotations

import math

import pytest
import torch
from msft_helpers import batch, randomize_adapters, tiny_model

from formulaforge.models.msft import MSFTAdapter, MSFTConfig, TargetError, find_targets, trainable_stages
from formulaforge.models.msft.router import has_latex_math, is_formula_request, route

CFG = dict(r1=4, alpha=8, r2=16, r3=2, dropout=0.0)


@pytest.mark.parametrize(
    ("arch", "n", "fan_in_fan_out"),
    [("llama", 8, False), ("mistral", 8, False), ("qwen2", 8, False), ("gpt2", 4, True), ("gpt_neox", 4, False)],
)
def test_default_targets_per_architecture(arch: str, n: int, fan_in_fan_out: bool) -> None:
    targets = find_targets(tiny_model(arch))
    assert len(targets) == n
    assert all(t.fan_in_fan_out is fan_in_fan_out for t in targets)
    if arch == "gpt2":  # attention c_proj only, never mlp.c_proj
        assert all(".attn." in t.name for t in targets)


def test_unknown_target_and_architecture_errors() -> None:
    model = tiny_model("llama")
    with pytest.raises(TargetError, match="'qkv' match no projection.*q_proj"):
        find_targets(model, ["q_proj", "qkv"])
    model.config.model_type = "mystery"
    with pytest.raises(TargetError, match="no default attention projections known for model_type 'mystery'"):
        find_targets(model)
    assert len(find_targets(model, ["q_proj"])) == 2  # an explicit list still works


def test_rank_larger_than_layer_is_rejected() -> None:
    with pytest.raises(ValueError, match="r1=40 is larger than layer"):
        MSFTAdapter.inject(tiny_model("llama"), MSFTConfig(r1=40, alpha=8))
    with pytest.raises(ValueError, match="r3 .* must not exceed r2"):
        MSFTConfig(r1=4, r2=8, r3=16)


def test_initialisation_follows_paper() -> None:
    adapter = MSFTAdapter.inject(tiny_model("llama"), MSFTConfig(r1=8, alpha=16, r2=64, r3=8), [1, 2, 3])
    layer = next(iter(adapter.layers.values()))
    assert torch.count_nonzero(layer.lora_B.weight) == 0 and torch.count_nonzero(layer.D_up.weight) == 0
    # kaiming_uniform bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2))
    d_bound = math.sqrt(2 / (1 + 0.01**2)) * math.sqrt(3 / 8)
    q_bound = math.sqrt(2 / 6) * math.sqrt(3 / 64)
    assert layer.D_down.weight.abs().max() <= d_bound and layer.D_down.weight.abs().max() > 0.8 * d_bound
    assert layer.Q_down.weight.abs().max() <= q_bound and layer.Q_down.weight.abs().max() > 0.8 * q_bound
    assert layer.Q_up.weight.abs().max() > 0  # both Q matrices random: Q-plugin is live from the start


def test_stage_starts_where_expected_for_each_mode() -> None:
    x = batch()
    model = tiny_model("llama")
    base = model(x).logits
    for mode, start in (("residual", "stage1"), ("paper", "base")):
        m = tiny_model("llama")
        adapter = MSFTAdapter.inject(m, MSFTConfig(mode=mode, **CFG))
        randomize_adapters(adapter)  # a "trained" stage I
        stage1 = m(x).logits
        assert not torch.allclose(stage1, base)
        adapter.add_stage(2)
        after = m(x).logits
        assert torch.equal(after, stage1 if start == "stage1" else base), mode


@pytest.mark.parametrize(
    ("stage", "joint", "scratch", "expected"),
    [(1, False, False, (1,)), (2, False, False, (2,)), (3, False, False, (3,)), (3, True, False, (1, 2, 3)),
     (2, False, True, (2,)), (3, False, True, (2, 3))],  # TFS: plugins on a trained stage I, LoRA frozen
)
def test_freezing_per_stage(stage: int, joint: bool, scratch: bool, expected: tuple[int, ...]) -> None:
    assert trainable_stages(stage, joint=joint, from_scratch=scratch) == expected
    m = tiny_model("llama")
    adapter = MSFTAdapter.inject(m, MSFTConfig(**CFG), range(1, stage + 1))
    n = adapter.set_trainable(expected)
    trainable = {name for name, p in m.named_parameters() if p.requires_grad}
    kinds = {name.split(".")[-2] for name in trainable}
    want = {k for s in expected for k in {1: ("lora_A", "lora_B"), 2: ("D_down", "D_up"), 3: ("Q_down", "Q_up")}[s]}
    assert kinds == want and len(trainable) == 8 * 2 * len(expected)
    assert n == sum(p.numel() for p in m.parameters() if p.requires_grad)
    # a backward pass touches only those parameters
    m.train()
    m(batch(), labels=batch()).loss.backward()
    touched = {name for name, p in m.named_parameters() if p.grad is not None}
    assert touched == trainable


def test_stage_three_needs_stage_two() -> None:
    adapter = MSFTAdapter.inject(tiny_model("llama"), MSFTConfig(**CFG))
    with pytest.raises(ValueError, match="stage III needs stage II"):
        adapter.add_stage(3)
    with pytest.raises(ValueError, match="not inserted"):
        adapter.set_trainable([2])


@pytest.mark.parametrize("fallback", ["base", "lora"])
def test_gate_off_rows_are_bitwise_fallback(fallback: str) -> None:
    x = batch(n=3)
    ref = tiny_model("llama")
    m = tiny_model("llama")
    cfg = MSFTConfig(gate_fallback=fallback, **CFG)
    ad_ref = MSFTAdapter.inject(ref, cfg)
    adapter = MSFTAdapter.inject(m, cfg, [1, 2, 3])
    randomize_adapters(adapter)
    with torch.no_grad():  # the reference: base model, or stage I with the same LoRA weights
        ad_ref.load_stage_state_dict(1, adapter.stage_state_dict(1))
        if fallback == "base":
            with ad_ref.disabled():
                expected_off = ref(x).logits
        else:
            expected_off = ref(x).logits
        full = m(x).logits
        with adapter.gated([True, False, True]):
            gated = m(x).logits
    assert torch.equal(gated[1], expected_off[1])
    assert torch.equal(gated[0], full[0]) and torch.equal(gated[2], full[2])
    assert not torch.allclose(full[1], expected_off[1])


def test_gate_in_training_and_batched_generate() -> None:
    m = tiny_model("llama")
    adapter = MSFTAdapter.inject(m, MSFTConfig(**CFG), [1, 2])
    randomize_adapters(adapter)
    adapter.set_trainable([2])
    x = batch(n=2)
    with adapter.gated(torch.tensor([False, False])):
        m(x, labels=x).loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in m.parameters() if p.requires_grad)
    with adapter.gated(torch.tensor([True, False])):
        m(x, labels=x).loss.backward()
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in m.parameters() if p.requires_grad)

    prompt = batch(n=2, t=5)
    kw = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
    with adapter.disabled():
        base_out = m.generate(prompt, **kw)
    full_out = m.generate(prompt, **kw)
    with adapter.gated([True, False]):
        mixed = m.generate(prompt, **kw)
    assert torch.equal(mixed[1], base_out[1]) and torch.equal(mixed[0], full_out[0])


def test_parameter_report_counts() -> None:
    m = tiny_model("llama")
    cfg = MSFTConfig(r1=4, alpha=8, r2=16, r3=2)
    adapter = MSFTAdapter.inject(m, cfg, [1, 2, 3])
    rows = adapter.param_report()
    # llama tiny: q,o are 32->32; k,v are 32->16 (2 kv heads x 8); 2 layers
    lora = 2 * (2 * (32 * 4 + 4 * 32) + 2 * (32 * 4 + 4 * 16))
    assert [r.new_params for r in rows] == [lora, 8 * 2 * 16 * 4, 8 * 2 * 16 * 2]
    base = sum(p.numel() for p in tiny_model("llama").parameters())
    assert rows[-1].base_params == base
    assert rows[-1].cumulative_pct == pytest.approx(100 * sum(r.new_params for r in rows) / base)
    assert "Q-plugin" in adapter.format_report()


def test_router() -> None:
    assert has_latex_math(r"Let $x^2 + y^2 = 1$ be the circle.")
    assert has_latex_math(r"\begin{equation} a = b \end{equation}")
    assert not has_latex_math("It costs $5 and $6 at the shop.")
    assert not has_latex_math("Summarise the history of Rome.")
    assert is_formula_request("no math here", task="formula_generation")
    assert not is_formula_request(r"$a+b$", override=False)
    assert route(["plain", r"\frac{a}{b}"]) == [False, True]


@pytest.mark.parametrize("mode", ["residual", "paper"])
def test_collapsed_and_factored_plugin_paths_agree(mode: str) -> None:
    """Training takes the collapsed r1 x r1 form, decoding the factored one: same values, same gradients."""
    x = batch(n=2, t=6)
    grads, outs = {}, {}
    for path in ("factored", "collapsed"):
        m = tiny_model("llama")
        adapter = MSFTAdapter.inject(m, MSFTConfig(mode=mode, **CFG), [1, 2, 3])
        randomize_adapters(adapter)
        adapter.set_trainable([2, 3])
        for layer in adapter.layers.values():
            layer.plugin_path = path
        out = m(x, labels=x)
        out.loss.backward()
        outs[path] = out.logits.detach()
        grads[path] = {n: p.grad.clone() for n, p in m.named_parameters() if p.requires_grad}
    torch.testing.assert_close(outs["collapsed"], outs["factored"], atol=1e-5, rtol=1e-5)
    for name, g in grads["factored"].items():
        torch.testing.assert_close(grads["collapsed"][name], g, atol=1e-6, rtol=1e-4)


def test_inference_cache_follows_weight_updates() -> None:
    x = batch(n=1, t=4)
    m = tiny_model("llama")
    adapter = MSFTAdapter.inject(m, MSFTConfig(**CFG), [1, 2, 3])
    randomize_adapters(adapter)
    with torch.no_grad():
        first = m(x).logits
        randomize_adapters(adapter, seed=7)  # in-place copy_ bumps the weights' versions
        second = m(x).logits
    fresh = m(x).logits.detach()  # grad enabled: no cache involved
    assert not torch.allclose(first, second)
    torch.testing.assert_close(second, fresh, atol=1e-5, rtol=1e-5)
