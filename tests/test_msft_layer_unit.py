"""MSFTLayer piece by piece: construction, initialisation, the plugin-path choice, the cache,
gating and folding, each checked against values written down here, not against the layer's
own helpers (issue 22: the mutation run of ``models/msft/layer.py`` left these unpinned).

The forward equations themselves are in ``test_msft_equations.py``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from formulaforge.models.msft import MSFTConfig, MSFTLayer
from formulaforge.models.msft import layer as layer_module
from formulaforge.models.msft.targets import Target


def _cfg(**kw) -> MSFTConfig:
    base: dict = {"r1": 4, "alpha": 8, "r2": 8, "r3": 3, "dropout": 0.0}
    base.update(kw)
    return MSFTConfig(**base)


def _layer(stages: int = 3, mode: str = "residual", in_f: int = 12, out_f: int = 10, **kw) -> MSFTLayer:
    torch.manual_seed(0)
    layer = MSFTLayer(nn.Linear(in_f, out_f), Target("blk.proj", in_f, out_f, False), _cfg(mode=mode, **kw))
    if stages >= 2:
        layer.add_d_plugin()
    if stages >= 3:
        layer.add_q_plugin()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return layer


def _middle_by_hand(layer: MSFTLayer) -> torch.Tensor:
    """M of  L_up M L_down  (float64), from the paper's eqs. 1, 3, 4 and the residual variant."""
    eye = torch.eye(layer.r1, dtype=torch.float64)
    if layer.D_down is None:
        return eye
    dd, du = layer.D_down.weight.double(), layer.D_up.weight.double()
    inner = torch.eye(layer.r2, dtype=torch.float64)
    if layer.Q_down is not None:
        inner = inner + layer.Q_up.weight.double() @ layer.Q_down.weight.double()
    m = du @ inner @ dd
    return eye + m if layer.mode == "residual" else m


# ---- construction --------------------------------------------------------------------------


def test_rank_limit_is_inclusive_and_the_error_names_the_layer() -> None:
    MSFTLayer(nn.Linear(6, 4), Target("p", 6, 4, False), _cfg(r1=4))  # r1 == min(in, out) is allowed
    with pytest.raises(ValueError) as err:
        MSFTLayer(nn.Linear(6, 4), Target("attn.q", 6, 4, False), _cfg(r1=5))
    assert str(err.value) == "r1=5 is larger than layer attn.q (6 -> 4) allows (at most 4)"


def test_a_new_layer_has_stage_one_only_and_remembers_its_settings() -> None:
    target = Target("p", 12, 10, False)
    cfg = _cfg(mode="paper", gate_fallback="lora", d_init_a=0.5, q_init_a=2.0)
    layer = MSFTLayer(nn.Linear(12, 10), target, cfg)
    assert layer.target is target and layer.fan_in_fan_out is False
    assert (layer.r1, layer.r2, layer.r3, layer.scaling) == (4, 8, 3, 2.0)
    assert (layer.mode, layer.gate_fallback, layer.d_init_a, layer.q_init_a) == ("paper", "lora", 0.5, 2.0)
    assert layer.D_down is None and layer.D_up is None and layer.Q_down is None and layer.Q_up is None
    assert layer.enabled is True and layer.gate is None and layer.plugin_path == "auto" and layer.stages == (1,)
    assert layer.lora_A.weight.shape == (4, 12) and layer.lora_B.weight.shape == (10, 4)
    assert layer.lora_A.bias is None and layer.lora_B.bias is None
    assert torch.count_nonzero(layer.lora_B.weight) == 0


def test_dropout_module_only_when_asked() -> None:
    assert isinstance(MSFTLayer(nn.Linear(8, 8), Target("p", 8, 8, False), _cfg()).lora_dropout, nn.Identity)
    layer = MSFTLayer(nn.Linear(8, 8), Target("p", 8, 8, False), _cfg(dropout=0.5))
    assert isinstance(layer.lora_dropout, nn.Dropout) and layer.lora_dropout.p == 0.5


def test_adapters_are_made_on_the_base_layer_device() -> None:
    """A base on the meta device gets meta adapters (a wrong device would put them on the CPU)."""
    layer = MSFTLayer(nn.Linear(8, 8, device="meta"), Target("p", 8, 8, False), _cfg())
    assert layer.middle_matrix().device.type == "meta"  # stage I: the identity, on the adapters' device
    layer.add_d_plugin()
    layer.add_q_plugin()
    assert {p.device.type for p in layer.parameters()} == {"meta"}


def _kaiming_bound(a: float, fan_in: int) -> float:
    return math.sqrt(2.0 / (1 + a * a)) * math.sqrt(3.0 / fan_in)


def test_initialisation_follows_the_paper_and_peft() -> None:
    """L_down: Kaiming-uniform a = sqrt(5) (peft); D_up: zeros; D_down: a = d_init_a; Q both a = q_init_a.

    Thousands of uniform draws reach within 2 % of the bound and never past it, so a different
    ``a`` (a bound 7 % or more away) shows.
    """
    torch.manual_seed(0)
    layer = MSFTLayer(nn.Linear(256, 256), Target("p", 256, 256, False), _cfg(r1=64, r2=128, r3=64, d_init_a=3.0))
    layer.add_d_plugin()
    layer.add_q_plugin()
    checks = [(layer.lora_A.weight, math.sqrt(5), 256), (layer.D_down.weight, 3.0, 64),
              (layer.Q_down.weight, math.sqrt(5), 128), (layer.Q_up.weight, math.sqrt(5), 64)]
    for w, a, fan_in in checks:
        bound = _kaiming_bound(a, fan_in)
        top = w.detach().abs().max().item()
        assert 0.98 * bound < top <= bound, (tuple(w.shape), top, bound)
    assert torch.count_nonzero(layer.D_up.weight) == 0 and torch.count_nonzero(layer.lora_B.weight) == 0
    assert layer.D_down.bias is None and layer.D_up.bias is None and layer.Q_down.bias is None
    assert layer.Q_up.bias is None
    assert layer.D_down.weight.shape == (128, 64) and layer.D_up.weight.shape == (64, 128)
    assert layer.Q_down.weight.shape == (64, 128) and layer.Q_up.weight.shape == (128, 64)
    assert layer.stages == (1, 2, 3)


def test_plugin_order_errors_are_exact() -> None:
    layer = MSFTLayer(nn.Linear(8, 8), Target("blk.v", 8, 8, False), _cfg())
    with pytest.raises(ValueError) as err:
        layer.add_q_plugin()
    assert str(err.value) == "the Q-plugin sits inside the D-plugin: add stage II first"
    layer.add_d_plugin()
    with pytest.raises(ValueError) as err:
        layer.add_d_plugin()
    assert str(err.value) == "blk.v already has a D-plugin"
    layer.add_q_plugin()
    with pytest.raises(ValueError) as err:
        layer.add_q_plugin()
    assert str(err.value) == "blk.v already has a Q-plugin"


# ---- which exact path the plugins take -------------------------------------------------------


def _spy(monkeypatch: pytest.MonkeyPatch, layer: MSFTLayer) -> list[int]:
    calls: list[int] = []
    real = layer.plugin_matrix

    def counted() -> torch.Tensor:
        calls.append(1)
        return real()

    monkeypatch.setattr(layer, "plugin_matrix", counted)
    return calls


# (r1, r2, r3, with Q, tokens, collapsed?) from the docstring's cost model:
#   factored  2 r1 r2 (+ 2 r2 r3 with Q) per token;  collapsed  r1^2 r2 (+ 2 r1 r2 r3) once + r1^2 per token.
#   r1 = r2 = 4, no Q:    32 t  vs  64 + 16 t  ->  a tie at t = 4 stays factored, t = 5 collapses.
#   r1 = 4, r2 = 8, no Q: 64 t  vs 128 + 16 t  ->  t = 2 factored, t = 3 collapsed.
#   r1 = 4, r2 = 8, r3 = 3, Q: 112 t vs 320 + 16 t  ->  t = 3 factored, t = 4 collapsed.
PATH_CASES = [(4, 4, 2, False, 3, False), (4, 4, 2, False, 4, False), (4, 4, 2, False, 5, True),
              (4, 8, 3, False, 2, False), (4, 8, 3, False, 3, True),
              (4, 8, 3, True, 3, False), (4, 8, 3, True, 4, True), (4, 8, 3, True, 40, True)]


@pytest.mark.parametrize(("r1", "r2", "r3", "with_q", "tokens", "collapsed"), PATH_CASES)
def test_auto_path_follows_the_cost_model(monkeypatch: pytest.MonkeyPatch, r1: int, r2: int, r3: int,
                                          with_q: bool, tokens: int, collapsed: bool) -> None:
    layer = _layer(stages=3 if with_q else 2, r1=r1, r2=r2, r3=r3)
    calls = _spy(monkeypatch, layer)
    h = torch.randn(tokens, r1)
    out = layer._middle(h)  # grad enabled: training's choice
    assert len(calls) == (1 if collapsed else 0)
    assert torch.allclose(out.double(), h.double() @ _middle_by_hand(layer).T, atol=1e-5)


@pytest.mark.parametrize("path", ["factored", "collapsed"])
def test_a_forced_path_is_taken_whatever_the_size(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    layer = _layer()
    layer.plugin_path = path
    calls = _spy(monkeypatch, layer)
    layer._middle(torch.randn(1, 4))  # one token: auto would factor
    layer._middle(torch.randn(500, 4))  # many: auto would collapse
    with torch.no_grad():  # inference with a forced path never uses the cache
        layer._middle(torch.randn(500, 4))
    assert len(calls) == (3 if path == "collapsed" else 0)
    assert layer._plugin_cache is None


def test_inference_collapses_once_and_recomputes_after_a_weight_update(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _layer()
    calls = _spy(monkeypatch, layer)
    h = torch.randn(2, 4)
    with torch.no_grad():
        first = layer._middle(h)
        again = layer._middle(torch.randn(1, 4))  # one token, still the cached matrix
        assert len(calls) == 1 and again.shape == (1, 4)
        assert torch.allclose(first.double(), h.double() @ _middle_by_hand(layer).T, atol=1e-5)
        layer.Q_up.weight.add_(0.25)  # an optimizer step is an in-place update like this one
        second = layer._middle(h)
    assert len(calls) == 2
    assert torch.allclose(second.double(), h.double() @ _middle_by_hand(layer).T, atol=1e-5)
    assert not torch.allclose(first, second)


# ---- forward: pass-through, dtypes, gate -----------------------------------------------------


class _ScaledLinear(nn.Module):
    """A base projection whose forward takes more than x (as bitsandbytes and PEFT layers may)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(10, 12))

    def forward(self, x: torch.Tensor, scale: float, *, shift: float = 0.0) -> torch.Tensor:
        return scale * (x @ self.weight.T) + shift


def test_extra_arguments_reach_the_base_layer() -> None:
    torch.manual_seed(0)
    base = _ScaledLinear()
    layer = MSFTLayer(base, Target("p", 12, 10, False), _cfg())
    x = torch.randn(3, 12)
    lora = layer.scaling * layer.lora_B(layer.lora_A(x))
    assert torch.allclose(layer(x, 2.0, shift=1.5), 2.0 * (x @ base.weight.T) + 1.5 + lora, atol=1e-6)


def test_a_low_precision_base_keeps_its_dtype_with_fp32_adapters() -> None:
    """x and the output stay bf16 (the base's dtype); the adapter path runs in fp32 (QLoRA-style)."""
    torch.manual_seed(0)
    base = nn.Linear(12, 10, dtype=torch.bfloat16)
    for fallback in ("base", "lora"):
        layer = MSFTLayer(base, Target("p", 12, 10, False), _cfg(gate_fallback=fallback))
        layer.add_d_plugin()
        with torch.no_grad():
            for p in (layer.lora_B.weight, layer.D_up.weight):
                p.normal_()
        assert layer.lora_A.weight.dtype == torch.float32
        x = torch.randn(2, 12, dtype=torch.bfloat16)
        layer.gate = torch.tensor([True, False])
        out = layer(x)
        assert out.dtype == torch.bfloat16
        h = layer.lora_A(x.float())
        full = base(x) + (layer.scaling * layer.lora_B(layer._middle(h))).bfloat16()
        off = base(x) + ((layer.scaling * layer.lora_B(h)).bfloat16() if fallback == "lora" else 0)
        assert torch.equal(out[0], full[0]) and torch.equal(out[1], off[1])


def test_disabled_layer_is_the_base_layer() -> None:
    layer = _layer()
    x = torch.randn(2, 3, 12)
    layer.enabled = False
    assert torch.equal(layer(x), layer.base_layer(x))


def test_row_mask_shapes_beams_and_errors() -> None:
    x = torch.zeros(6, 5, 7)
    mask = layer_module._row_mask(torch.tensor([1, 0, 1]), x)  # an integer gate counts as bool
    assert mask.dtype == torch.bool and mask.shape == (6, 1, 1)
    assert mask.flatten().tolist() == [True, True, False, False, True, True]  # beams of a row stay together
    assert layer_module._row_mask(torch.tensor([True]), torch.zeros(3, 2)).flatten().tolist() == [True] * 3
    assert layer_module._row_mask(torch.tensor([True]), torch.zeros(2, 2, device="meta")).device.type == "meta"
    with pytest.raises(ValueError) as err:
        layer_module._row_mask(torch.tensor([True, False, True, False]), x)
    assert str(err.value) == "gate has 4 rows but the batch has 6"
    with pytest.raises(ValueError) as err:
        layer_module._row_mask(torch.zeros(0, dtype=torch.bool), x)
    assert str(err.value) == "gate has 0 rows but the batch has 6"


# ---- folding into a plain LoRA ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["paper", "residual"])
@pytest.mark.parametrize("stages", [1, 2, 3])
def test_middle_matrix_and_folded_lora_match_the_equations(mode: str, stages: int) -> None:
    layer = _layer(stages=stages, mode=mode)
    m = layer.middle_matrix()
    assert m.dtype == torch.float64 and torch.allclose(m, _middle_by_hand(layer), atol=1e-12)
    a, b = layer.folded_lora()
    assert a.dtype == b.dtype == torch.float32
    assert torch.equal(a, layer.lora_A.weight.detach())
    assert torch.allclose(b.double(), layer.lora_B.weight.double() @ _middle_by_hand(layer), atol=1e-6)
    # the folded delta is what the adapter adds to the base projection
    x = torch.randn(5, 12)
    delta = layer.delta_weight()
    assert delta.shape == (10, 12)
    assert torch.allclose(layer(x) - layer.base_layer(x), x @ delta.T.float(), atol=1e-5)
    assert torch.allclose(delta, layer.scaling * layer.lora_B.weight.double() @ _middle_by_hand(layer)
                          @ layer.lora_A.weight.double(), atol=1e-6)


def test_delta_weight_is_transposed_for_a_conv1d_base() -> None:
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    base = Conv1D(10, 12)  # weight (in, out) = (12, 10)
    layer = MSFTLayer(base, Target("c_attn", 12, 10, True), _cfg())
    layer.add_d_plugin()
    with torch.no_grad():
        layer.lora_B.weight.normal_()
        layer.D_up.weight.normal_()
    delta = layer.delta_weight()
    assert layer.fan_in_fan_out is True and delta.shape == base.weight.shape == (12, 10)
    x = torch.randn(3, 12)
    assert torch.allclose(layer(x) - base(x), x @ delta.float(), atol=1e-5)
