"""The MSFT layer against the paper's equations computed with plain matrix products (issue 22).

Eq. 1:  h_out = W h + s L_up D_up D_down L_down h
Eq. 3:  h_D = D_down L_down h
Eq. 4:  h_out = W h + s L_up D_up (h_D + Q_up Q_down h_D)
Residual (FormulaForge): h_out = W h + s L_up (L_down h + D_up (h_D + Q_up Q_down h_D))
"""

from __future__ import annotations

import pytest
import torch
from msft_helpers import batch, randomize_adapters, tiny_model
from torch import nn

from formulaforge.models.msft import MSFTAdapter, MSFTConfig, MSFTLayer
from formulaforge.models.msft import layer as layer_module
from formulaforge.models.msft.targets import Target


def _layer(mode: str, stages: int) -> MSFTLayer:
    torch.manual_seed(0)
    base = nn.Linear(12, 10, bias=True)
    layer = MSFTLayer(base, Target("proj", 12, 10, False), MSFTConfig(r1=4, alpha=6, r2=8, r3=3, dropout=0.0,
                                                                      mode=mode))
    if stages >= 2:
        layer.add_d_plugin()
    if stages >= 3:
        layer.add_q_plugin()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return layer.double()


def _expected(layer: MSFTLayer, h: torch.Tensor) -> torch.Tensor:
    W, b = layer.base_layer.weight, layer.base_layer.bias
    L_down, L_up, s = layer.lora_A.weight, layer.lora_B.weight, layer.scaling
    x = h.reshape(-1, h.shape[-1]).T  # columns are tokens, as in the paper
    base = W @ x + b[:, None]
    if layer.D_down is None:
        out = base + s * L_up @ L_down @ x
    else:
        D_down, D_up = layer.D_down.weight, layer.D_up.weight
        h_D = D_down @ L_down @ x  # eq. 3
        if layer.Q_down is not None:
            h_D = h_D + layer.Q_up.weight @ layer.Q_down.weight @ h_D  # the bracket of eq. 4
        if layer.mode == "paper":
            out = base + s * L_up @ D_up @ h_D  # eq. 1 (no Q) / eq. 4
        else:
            out = base + s * L_up @ (L_down @ x + D_up @ h_D)
    return out.T.reshape(*h.shape[:-1], -1)


@pytest.mark.parametrize("path", ["factored", "collapsed", "auto"])
@pytest.mark.parametrize("mode", ["paper", "residual"])
@pytest.mark.parametrize("stages", [1, 2, 3])
def test_layer_matches_the_equations(mode: str, stages: int, path: str) -> None:
    layer = _layer(mode, stages)
    layer.plugin_path = path
    h = torch.randn(3, 5, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    want = _expected(layer, h)
    assert torch.allclose(layer(h), want, rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # the cached collapsed matrix of inference
        assert torch.allclose(layer(h), want, rtol=1e-10, atol=1e-10)


def test_paper_and_residual_differ_by_the_stage_one_path() -> None:
    paper, residual = _layer("paper", 3), _layer("residual", 3)
    h = torch.randn(2, 12, dtype=torch.float64)
    lora = residual.scaling * residual.lora_B(residual.lora_A(h))
    assert torch.allclose(residual(h) - paper(h), lora, atol=1e-10)


def _beam_outputs(model, ids):
    return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=2, do_sample=False,
                          max_new_tokens=6, min_new_tokens=6, pad_token_id=0, eos_token_id=None)


def _gated_beams_match(adapter: MSFTAdapter, ids: torch.Tensor) -> bool:
    with torch.inference_mode():
        with adapter.disabled():
            base = _beam_outputs(adapter.model, ids)
        full = _beam_outputs(adapter.model, ids)
        with adapter.gated([True, False]):
            gated = _beam_outputs(adapter.model, ids)
    assert not torch.equal(base[0], full[0])  # the adapter changes row 0, so the check can tell
    return torch.equal(gated[0], full[0]) and torch.equal(gated[1], base[1])


def test_gate_row_mask_with_beams(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model("llama")
    adapter = MSFTAdapter.inject(model, MSFTConfig(r1=4, alpha=8, r2=8, r3=2, dropout=0.0), (1, 2, 3))
    randomize_adapters(adapter, scale=0.5)
    ids = batch(2, 6)
    assert _gated_beams_match(adapter, ids)  # beams of row i stay with row i's gate

    def tiled(gate: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # the bug: [a, b] -> [a, b, a, b]
        rows = x.shape[0]
        g = gate.to(dtype=torch.bool).repeat(rows // gate.shape[0])
        return g.view(rows, *([1] * (x.dim() - 1)))

    monkeypatch.setattr(layer_module, "_row_mask", tiled)
    assert not _gated_beams_match(adapter, ids)
