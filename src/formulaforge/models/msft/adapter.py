"""Insert MSFT layers into a Hugging Face model in place, stage by stage, and freeze per stage.

The model stays a plain ``PreTrainedModel`` (so ``Trainer``, ``generate`` and accelerate
work unchanged); :class:`MSFTAdapter` is the handle that knows where the layers are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from formulaforge.models.msft.config import MSFTConfig
from formulaforge.models.msft.layer import STAGE_PARAMS, MSFTLayer
from formulaforge.models.msft.targets import find_targets

STAGE_NAMES = {1: "LoRA", 2: "D-plugin", 3: "Q-plugin"}


@dataclass(frozen=True)
class StageParams:
    stage: int
    name: str
    new_params: int
    cumulative_params: int
    base_params: int

    @property
    def new_pct(self) -> float:
        return 100.0 * self.new_params / self.base_params

    @property
    def cumulative_pct(self) -> float:
        return 100.0 * self.cumulative_params / self.base_params


def trainable_stages(stage: int, *, joint: bool = False, from_scratch: bool = False) -> tuple[int, ...]:
    """Which stages' matrices train when running ``stage``.

    MSFT trains only the new matrices; ``joint`` (paper Table 3) also re-trains earlier
    stages; ``from_scratch`` (Table 2, TFS) inserts the plugins up to ``stage`` at once on a
    trained stage I (the caption: every row went through LoRA r = 64 first) and trains them
    together, LoRA frozen.
    """
    if stage not in (1, 2, 3):
        raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
    if from_scratch:
        if stage == 1:
            raise ValueError("training from scratch inserts plugins on a trained stage I: stage must be 2 or 3")
        return tuple(range(2, stage + 1))
    if joint:
        return tuple(range(1, stage + 1))
    return (stage,)


class MSFTAdapter:
    """Handle on a model whose target projections were replaced by :class:`MSFTLayer`."""

    def __init__(self, model: nn.Module, config: MSFTConfig, layers: dict[str, MSFTLayer]) -> None:
        self.model = model
        self.config = config
        self.layers = layers

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def inject(cls, model: nn.Module, config: MSFTConfig, stages: Iterable[int] = (1,)) -> MSFTAdapter:
        """Wrap every target projection (stage I) and add the requested later stages."""
        if any(isinstance(m, MSFTLayer) for m in model.modules()):
            raise ValueError("model already has MSFT layers")
        targets = find_targets(model, config.targets)
        layers: dict[str, MSFTLayer] = {}
        for t in targets:
            parent_name, _, child = t.name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            layer = MSFTLayer(getattr(parent, child), t, config)
            setattr(parent, child, layer)
            layers[t.name] = layer
        adapter = cls(model, config, layers)
        for p in model.parameters():
            p.requires_grad_(False)
        for s in sorted(set(stages) - {1}):
            adapter.add_stage(s)
        return adapter

    def add_stage(self, stage: int) -> None:
        if stage == 2:
            for layer in self.layers.values():
                layer.add_d_plugin()
        elif stage == 3:
            if 2 not in self.stages:
                raise ValueError("stage III needs stage II (the Q-plugin sits inside the D-plugin)")
            for layer in self.layers.values():
                layer.add_q_plugin()
        else:
            raise ValueError(f"cannot add stage {stage}; stage I is inserted by inject()")
        for layer in self.layers.values():
            for name in STAGE_PARAMS[stage]:
                getattr(layer, name).weight.requires_grad_(False)

    @property
    def stages(self) -> tuple[int, ...]:
        first = next(iter(self.layers.values()))
        return first.stages

    # -- freezing -------------------------------------------------------------------------
    def stage_parameters(self, stage: int) -> Iterator[tuple[str, nn.Parameter]]:
        for lname, layer in self.layers.items():
            for pname in STAGE_PARAMS[stage]:
                mod = getattr(layer, pname)
                if mod is not None:
                    yield f"{lname}.{pname}.weight", mod.weight

    def set_trainable(self, stages: Iterable[int]) -> int:
        """Freeze everything, then unfreeze exactly ``stages``; return and verify the count."""
        stages = tuple(sorted(set(stages)))
        missing = [s for s in stages if s not in self.stages]
        if missing:
            raise ValueError(f"stage(s) {missing} are not inserted (model has {self.stages})")
        for p in self.model.parameters():
            p.requires_grad_(False)
        for s in stages:
            for _, p in self.stage_parameters(s):
                p.requires_grad_(True)
        expected = sum(p.numel() for s in stages for _, p in self.stage_parameters(s))
        expected_tensors = len(self.layers) * 2 * len(stages)
        actual = [p for p in self.model.parameters() if p.requires_grad]
        got = sum(p.numel() for p in actual)
        if len(actual) != expected_tensors or got != expected:
            raise AssertionError(
                f"freezing failed: {len(actual)} trainable tensors / {got} params, "
                f"expected {expected_tensors} / {expected} for stages {stages}"
            )
        return got

    # -- plug-and-play gate ---------------------------------------------------------------
    def set_gate(self, gate: torch.Tensor | list[bool] | None) -> None:
        """A bool per batch row: True runs the full adapter, False the configured fallback."""
        if gate is not None and not isinstance(gate, torch.Tensor):
            gate = torch.tensor(list(gate), dtype=torch.bool)
        if gate is not None and gate.dim() != 1:
            raise ValueError(f"gate must be 1-D (one bool per row), got shape {tuple(gate.shape)}")
        for layer in self.layers.values():
            layer.gate = gate

    @contextlib.contextmanager
    def gated(self, gate: torch.Tensor | list[bool] | None) -> Iterator[None]:
        self.set_gate(gate)
        try:
            yield
        finally:
            self.set_gate(None)

    def set_gate_fallback(self, fallback: str) -> None:
        if fallback not in ("base", "lora"):
            raise ValueError("fallback must be 'base' or 'lora'")
        for layer in self.layers.values():
            layer.gate_fallback = fallback  # type: ignore[assignment]

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Run the base model (adapters bypassed)."""
        for layer in self.layers.values():
            layer.enabled = False
        try:
            yield
        finally:
            for layer in self.layers.values():
                layer.enabled = True

    # -- reporting ------------------------------------------------------------------------
    def base_param_count(self) -> int:
        adapter_ids = {id(p) for s in self.stages for _, p in self.stage_parameters(s)}
        return sum(p.numel() for p in self.model.parameters() if id(p) not in adapter_ids)

    def param_report(self) -> list[StageParams]:
        """Parameters added per stage and their share of the base model (paper Table 1)."""
        base = self.base_param_count()
        rows, cumulative = [], 0
        for s in self.stages:
            n = sum(p.numel() for _, p in self.stage_parameters(s))
            cumulative += n
            rows.append(StageParams(s, STAGE_NAMES[s], n, cumulative, base))
        return rows

    def format_report(self) -> str:
        lines = [f"{'stage':<12}{'new params':>14}{'new %':>9}{'total added':>14}{'total %':>9}"]
        for r in self.param_report():
            lines.append(
                f"{r.stage} {r.name:<10}{r.new_params:>14,}{r.new_pct:>8.3f}%{r.cumulative_params:>14,}"
                f"{r.cumulative_pct:>8.3f}%"
            )
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        lines.append(f"trainable now: {trainable:,} of {self.base_param_count():,} base parameters")
        return "\n".join(lines)

    # -- weights --------------------------------------------------------------------------
    def stage_state_dict(self, stage: int) -> dict[str, torch.Tensor]:
        return {name: p.detach().to("cpu", copy=True).contiguous() for name, p in self.stage_parameters(stage)}

    def load_stage_state_dict(self, stage: int, tensors: dict[str, torch.Tensor]) -> None:
        own = dict(self.stage_parameters(stage))
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        if missing or extra:
            raise ValueError(
                f"stage {stage} weights do not fit this model: {len(missing)} missing "
                f"(e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]})"
            )
        with torch.no_grad():
            for name, p in own.items():
                t = tensors[name]
                if t.shape != p.shape:
                    raise ValueError(f"{name}: saved shape {tuple(t.shape)} != model shape {tuple(p.shape)}")
                p.copy_(t.to(p.dtype))

    def unwrap(self, merge: bool) -> nn.Module:
        """Put the base projections back; with ``merge`` add the folded adapter into their weights."""
        for name, layer in self.layers.items():
            base = layer.base_layer
            if merge:
                w = base.weight
                if not w.is_floating_point():
                    raise ValueError("cannot merge into a quantized base; load it unquantized")
                with torch.no_grad():
                    w.copy_((w.double() + layer.delta_weight().to(w.device)).to(w.dtype))
            parent_name, _, child = name.rpartition(".")
            parent = self.model.get_submodule(parent_name) if parent_name else self.model
            setattr(parent, child, base)
        self.layers = {}
        return self.model


def adapter_of(model: nn.Module, config: MSFTConfig) -> MSFTAdapter:
    """Re-create the handle for a model that already has MSFT layers."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, MSFTLayer)}
    if not layers:
        raise ValueError("model has no MSFT layers")
    return MSFTAdapter(model, config, layers)


def describe(adapter: MSFTAdapter) -> dict[str, Any]:
    return {
        "stages": list(adapter.stages),
        "targets": sorted({n.rsplit(".", 1)[-1] for n in adapter.layers}),
        "n_layers": len(adapter.layers),
    }
