"""Hyper-parameters of Multi-Stage Fine-Tuning (MSFT).

Defaults follow the paper (sec. 4, App. C): LoRA r1 = 64, alpha = 128; D-plugin r2 = 512
(r1 -> r2 projection Kaiming-uniform a = 0.01, r2 -> r1 zeros); Q-plugin r3 = 32 (both
Kaiming-uniform a = sqrt(5)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Mode = Literal["paper", "residual"]
GateFallback = Literal["base", "lora"]

MODES: tuple[str, ...] = ("paper", "residual")


RANK_MAX = 65_536  # far above any real adapter; `r2: 1e12` is a typo, not a setting


@dataclass
class MSFTConfig:
    """Everything that shapes the adapter; saved next to every stage.

    ``mode``: ``paper`` is eq. 1 as written (h = W h + L_up D_up D_down L_down h: the
    stage-I path is replaced, so stage II starts from the base model because D_up = 0);
    ``residual`` keeps the stage-I path (h = W h + L_up (I + D_up D_down) L_down h, so
    stage II starts exactly where stage I ended). See docs/msft.md for the measurement
    behind the default.

    ``gate_fallback``: what a row whose gate is off computes: ``base`` (the base model)
    or ``lora`` (stage I only).
    """

    r1: int = 64
    alpha: float = 128.0
    dropout: float = 0.05
    r2: int = 512
    r3: int = 32
    mode: Mode = "residual"
    targets: list[str] | None = None
    d_init_a: float = 0.01
    q_init_a: float = math.sqrt(5)
    gate_fallback: GateFallback = "base"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def scaling(self) -> float:
        return self.alpha / self.r1

    def validate(self) -> None:
        for name in ("r1", "r2", "r3"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= RANK_MAX:
                raise ValueError(f"{name} must be an integer from 1 to {RANK_MAX}, got {value!r}")
        if self.r3 > self.r2:
            raise ValueError(f"r3 ({self.r3}) must not exceed r2 ({self.r2}): the Q-plugin is a bottleneck inside it")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.gate_fallback not in ("base", "lora"):
            raise ValueError(f"gate_fallback must be 'base' or 'lora', got {self.gate_fallback!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha must be a positive finite number, got {self.alpha!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MSFTConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MSFT config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> MSFTConfig:
        """Read a JSON or YAML file; only the keys of this dataclass are allowed."""
        text = Path(path).read_text(encoding="utf-8")
        from formulaforge.utils.config_text import load_json, load_yaml

        if str(path).endswith((".yaml", ".yml")):
            data = load_yaml(text, str(path)) or {}
        else:
            data = load_json(text, str(path))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of MSFT settings")
        return cls.from_dict(data.get("msft", data))
