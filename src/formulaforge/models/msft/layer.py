"""One model-agnostic layer that wraps a frozen projection with LoRA, D-plugin and Q-plugin.

Shapes follow the paper (d = in/out features of the projection):

* stage I   ``lora_A`` = L_down (r1 x d_in), ``lora_B`` = L_up (d_out x r1), scale alpha / r1;
  named like peft's LoRA so the stage-I weights are a PEFT adapter as they are.
* stage II  ``D_down`` (r2 x r1, Kaiming-uniform a = 0.01), ``D_up`` (r1 x r2, zeros).
* stage III ``Q_down`` (r3 x r2), ``Q_up`` (r2 x r3), both Kaiming-uniform a = sqrt(5).

Forward (h_L = L_down dropout(h)):

* ``paper``    h_out = W h + s L_up D_up (h_D + Q_up Q_down h_D),  h_D = D_down h_L   (eqs. 1, 3, 4)
* ``residual`` h_out = W h + s L_up (h_L + D_up (h_D + Q_up Q_down h_D))

A per-sample gate (a bool per batch row) is applied with ``torch.where`` on the full
batch, so shapes never depend on the gate and rows whose gate is off get exactly (bitwise)
the output of the fallback path: the base projection, or the stage-I LoRA.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from formulaforge.models.msft.config import MSFTConfig
from formulaforge.models.msft.targets import Target

STAGE_PARAMS: dict[int, tuple[str, ...]] = {1: ("lora_A", "lora_B"), 2: ("D_down", "D_up"), 3: ("Q_down", "Q_up")}


class MSFTLayer(nn.Module):
    """Wraps ``base_layer`` (nn.Linear, bitsandbytes Linear or GPT-2 Conv1D)."""

    def __init__(self, base_layer: nn.Module, target: Target, config: MSFTConfig) -> None:
        super().__init__()
        limit = min(target.in_features, target.out_features)
        if config.r1 > limit:
            raise ValueError(
                f"r1={config.r1} is larger than layer {target.name} ({target.in_features} -> "
                f"{target.out_features}) allows (at most {limit})"
            )
        self.base_layer = base_layer
        self.target = target
        self.fan_in_fan_out = target.fan_in_fan_out
        self.r1, self.r2, self.r3 = config.r1, config.r2, config.r3
        self.scaling = config.scaling
        self.mode = config.mode
        self.gate_fallback = config.gate_fallback
        self.d_init_a, self.q_init_a = config.d_init_a, config.q_init_a
        dev = _device_of(base_layer)
        self.lora_dropout: nn.Module = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(target.in_features, config.r1, bias=False, device=dev)
        self.lora_B = nn.Linear(config.r1, target.out_features, bias=False, device=dev)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # peft's LoRA default
        nn.init.zeros_(self.lora_B.weight)
        self.D_down: nn.Linear | None = None
        self.D_up: nn.Linear | None = None
        self.Q_down: nn.Linear | None = None
        self.Q_up: nn.Linear | None = None
        self.enabled = True
        self.gate: torch.Tensor | None = None
        self.plugin_path = "auto"  # "auto" | "factored" | "collapsed" (see _middle)
        self._plugin_cache: tuple[tuple[Any, ...], torch.Tensor] | None = None

    # -- building -------------------------------------------------------------------------
    def add_d_plugin(self) -> None:
        if self.D_down is not None:
            raise ValueError(f"{self.target.name} already has a D-plugin")
        dev = self.lora_A.weight.device
        self.D_down = nn.Linear(self.r1, self.r2, bias=False, device=dev)
        self.D_up = nn.Linear(self.r2, self.r1, bias=False, device=dev)
        nn.init.kaiming_uniform_(self.D_down.weight, a=self.d_init_a)
        nn.init.zeros_(self.D_up.weight)

    def add_q_plugin(self) -> None:
        if self.D_down is None:
            raise ValueError("the Q-plugin sits inside the D-plugin: add stage II first")
        if self.Q_down is not None:
            raise ValueError(f"{self.target.name} already has a Q-plugin")
        dev = self.lora_A.weight.device
        self.Q_down = nn.Linear(self.r2, self.r3, bias=False, device=dev)
        self.Q_up = nn.Linear(self.r3, self.r2, bias=False, device=dev)
        nn.init.kaiming_uniform_(self.Q_down.weight, a=self.q_init_a)
        nn.init.kaiming_uniform_(self.Q_up.weight, a=self.q_init_a)

    @property
    def stages(self) -> tuple[int, ...]:
        return (1,) + ((2,) if self.D_down is not None else ()) + ((3,) if self.Q_down is not None else ())

    # -- forward --------------------------------------------------------------------------
    def _middle(self, h: torch.Tensor) -> torch.Tensor:
        """The r1 -> r1 map between L_down and L_up (identity for stage I).

        Two exact ways to compute D_up (I + Q_up Q_down) D_down h: factored, per token
        (2 r1 r2 + 2 r2 r3 multiply-adds a token), or by first collapsing the plugins into one
        r1 x r1 matrix (r1^2 r2 + 2 r1 r2 r3 once per call, then r1^2 a token). Training and
        prefill see many tokens per call and take the collapsed form (about 10x fewer FLOPs at
        the paper's ranks); single-token steps take the factored one. Autograd goes
        through either, so the trainable matrices get the same gradients. Without autograd
        (evaluation, generation) the collapsed matrix is cached until a weight changes.
        """
        if self.D_down is None or self.D_up is None:
            return h
        tokens = h.numel() // self.r1
        has_q = self.Q_down is not None and self.Q_up is not None
        per_token = 2 * self.r1 * self.r2 + (2 * self.r2 * self.r3 if has_q else 0)
        once = self.r1 * self.r1 * self.r2 + (2 * self.r1 * self.r2 * self.r3 if has_q else 0)
        collapse = tokens * per_token > once + tokens * self.r1 * self.r1
        if self.plugin_path != "auto":
            collapse = self.plugin_path == "collapsed"
        if not torch.is_grad_enabled() and self.plugin_path == "auto":
            m = nn.functional.linear(h, self._cached_plugin_matrix())  # inference: collapse once, reuse
        elif collapse:
            m = nn.functional.linear(h, self.plugin_matrix())
        else:
            h_d = self.D_down(h)
            if has_q:
                h_d = h_d + self.Q_up(self.Q_down(h_d))  # type: ignore[misc]
            m = self.D_up(h_d)
        return h + m if self.mode == "residual" else m

    def _cached_plugin_matrix(self) -> torch.Tensor:
        """plugin_matrix() computed once per weight version (in-place updates bump ``_version``)."""
        weights = [m.weight for m in (self.D_down, self.D_up, self.Q_down, self.Q_up) if m is not None]
        key = tuple((w.data_ptr(), w._version, w.dtype, w.device) for w in weights)
        if self._plugin_cache is None or self._plugin_cache[0] != key:
            self._plugin_cache = (key, self.plugin_matrix().detach())
        return self._plugin_cache[1]

    def plugin_matrix(self) -> torch.Tensor:
        """D_up (I + Q_up Q_down) D_down (r1 x r1), differentiable, in the adapters' dtype."""
        assert self.D_down is not None and self.D_up is not None
        p = self.D_up.weight @ self.D_down.weight
        if self.Q_down is not None and self.Q_up is not None:
            p = p + (self.D_up.weight @ self.Q_up.weight) @ (self.Q_down.weight @ self.D_down.weight)
        return p

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = self.base_layer(x, *args, **kwargs)
        if not self.enabled:
            return result
        h = self.lora_A(self.lora_dropout(x.to(self.lora_A.weight.dtype)))
        full = result + (self.lora_B(self._middle(h)) * self.scaling).to(result.dtype)
        if self.gate is None:
            return full
        mask = _row_mask(self.gate, x)
        if self.gate_fallback == "lora":
            fallback = result + (self.lora_B(h) * self.scaling).to(result.dtype)
        else:
            fallback = result
        return torch.where(mask, full, fallback)

    # -- folding --------------------------------------------------------------------------
    def middle_matrix(self) -> torch.Tensor:
        """M (r1 x r1, float64) with  L_up M L_down  equal to the whole adapter path."""
        eye = torch.eye(self.r1, dtype=torch.float64, device=self.lora_A.weight.device)
        if self.D_down is None or self.D_up is None:
            return eye
        d_down = self.D_down.weight.double()
        inner = d_down
        if self.Q_down is not None and self.Q_up is not None:
            q = self.Q_up.weight.double() @ self.Q_down.weight.double()
            inner = d_down + q @ d_down
        m = self.D_up.weight.double() @ inner
        return eye + m if self.mode == "residual" else m

    def folded_lora(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B') of the equivalent plain LoRA: A = L_down, B' = L_up M (float32)."""
        a = self.lora_A.weight.detach().double()
        b = self.lora_B.weight.detach().double() @ self.middle_matrix()
        return a.float(), b.float()

    def delta_weight(self) -> torch.Tensor:
        """s B' A in the layout of ``base_layer.weight`` (transposed for Conv1D)."""
        a, b = self.folded_lora()
        delta = (b.double() @ a.double()) * self.scaling
        return delta.T if self.fan_in_fan_out else delta


def _device_of(module: nn.Module) -> torch.device | None:
    for p in module.parameters():
        return p.device
    return None


def _row_mask(gate: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a (B,) bool gate to x; repeats it when generate() expanded the batch (beams)."""
    rows = x.shape[0]
    g = gate.to(device=x.device, dtype=torch.bool)
    if g.shape[0] != rows:
        if g.shape[0] == 0 or rows % g.shape[0]:
            raise ValueError(f"gate has {g.shape[0]} rows but the batch has {rows}")
        g = g.repeat_interleave(rows // g.shape[0])
    return g.view(rows, *([1] * (x.dim() - 1)))
