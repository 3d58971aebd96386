"""Training from scratch (paper Table 2, TFS): plugins inserted at once on a trained stage I.

In paper mode the adapter path is L_up D_up (...) D_down L_down. With no stage I (L_up = 0)
and D_up = 0 both factors of every gradient are zero, so nothing ever trains; the paper's
caption puts stage I first. These tests check that every inserted matrix receives a non-zero
gradient within a few optimizer steps, in both modes, for the D-only and the D+Q rows.
"""

from __future__ import annotations

import pytest
import torch
from msft_helpers import batch, tiny_model

from formulaforge.models.msft import MSFTAdapter, MSFTConfig, trainable_stages


def _stage_one_trained(mode: str, lora_b_scale: float = 0.1) -> MSFTAdapter:
    model = tiny_model("llama")
    adapter = MSFTAdapter.inject(model, MSFTConfig(r1=4, alpha=8, r2=8, r3=2, dropout=0.0, mode=mode))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # what a trained stage I leaves: L_up no longer zero
        for _, p in adapter.stage_parameters(1):
            if p.shape[1] == 4:  # lora_B (d_out x r1)
                p.copy_(torch.randn(p.shape, generator=g) * lora_b_scale)
    return adapter


def _grads_after_steps(adapter: MSFTAdapter, top: int, steps: int = 3) -> dict[str, torch.Tensor]:
    for s in range(2, top + 1):
        adapter.add_stage(s)
    adapter.set_trainable(trainable_stages(top, from_scratch=True))
    params = [p for p in adapter.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
    ids = batch(2, 9)
    adapter.model.train()
    for _ in range(steps):
        opt.zero_grad()
        adapter.model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
    opt.zero_grad()
    adapter.model(input_ids=ids, labels=ids).loss.backward()
    return {name: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for s in range(2, top + 1) for name, p in adapter.stage_parameters(s)}


@pytest.mark.parametrize("mode", ["paper", "residual"])
@pytest.mark.parametrize("top", [2, 3], ids=["D-only", "D+Q"])
def test_every_inserted_matrix_gets_a_gradient(mode: str, top: int) -> None:
    adapter = _stage_one_trained(mode)
    lora_before = {k: v.clone() for k, v in adapter.stage_state_dict(1).items()}
    grads = _grads_after_steps(adapter, top)
    assert len(grads) == len(adapter.layers) * 2 * (top - 1)
    dead = [name for name, g in grads.items() if not torch.count_nonzero(g)]
    assert not dead, f"{len(dead)} inserted matrices got no gradient, e.g. {dead[:3]}"
    after = adapter.stage_state_dict(1)
    assert all(torch.equal(lora_before[k], after[k]) for k in after)  # LoRA stays frozen


def test_without_stage_one_paper_mode_learns_nothing() -> None:
    """The failure the stage-I-first design removes (and what the test above would catch)."""
    adapter = _stage_one_trained("paper", lora_b_scale=0.0)
    grads = _grads_after_steps(adapter, 3)
    assert all(not torch.count_nonzero(g) for g in grads.values())


def test_tfs_trains_only_plugins() -> None:
    assert trainable_stages(3, from_scratch=True) == (2, 3)
    assert trainable_stages(2, from_scratch=True) == (2,)
    with pytest.raises(ValueError, match="stage must be 2 or 3"):
        trainable_stages(1, from_scratch=True)
