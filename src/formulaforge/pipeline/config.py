"""The YAML recipe schema for ``formulaforge run``.

Every key is declared; unknown keys, wrong types and impossible values are reported all
at once, with their dotted path, before any work starts (pydantic, ``extra="forbid"``).
Defaults are the MSFT paper's (App. C): r1 = 64, alpha = 128, r2 = 512, r3 = 32, AdamW
lr 1e-4, cosine schedule with one warm-up epoch, epochs 10 / 10 / 20, 512 input and 384
output tokens, q/k/v/o targets.
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from formulaforge.utils.config_text import load_yaml


class _Strict(BaseModel):
    # allow_inf_nan=False: `lr: inf` or `.nan` is a mistake, never a setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# Upper bounds: far above any sensible run, low enough that a typo (`r2: 1e12`) is caught here
# instead of as an out-of-memory crash minutes later.
BIG = 1_000_000_000
RANK_MAX = 65_536


class DataConfig(_Strict):
    sources: list[str] = Field(default_factory=lambda: ["docstrings:torch,sympy,numpy"])
    min_context_tokens: int = Field(32, ge=1, le=BIG)
    tokenizer: str | None = None  # whitespace tokens when None
    seed: int = 0
    workers: int = Field(1, ge=1, le=1024)
    subsets: dict[str, int] = Field(default_factory=lambda: {"CF50K": 50_000, "CF5K": 5_000})

    @field_validator("subsets")
    @classmethod
    def _subset_sizes(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, n in v.items() if not 0 <= n <= BIG]
        if bad:
            raise ValueError(f"subset sizes must be between 0 and {BIG:,} ({', '.join(bad)})")
        return v


class StagesConfig(_Strict):
    stage12_subset: str | None = "CF50K"  # the paper: CF50K for stages I and II
    stage3_subset: str | None = "CF5K"  # and CF5K for stage III
    max_chain: int = Field(16, ge=2, le=4096)
    stage2_variant: Literal["copy", "mask", "shuffle"] = "copy"
    max_context_chars: int | None = Field(None, ge=1, le=BIG)  # clip contexts (CPU budgets)


class ModelConfig(_Strict):
    name: str = "smollm2-135m"  # HF id, local path, or a packaged alias
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    trust_remote_code: bool = False
    load_in_4bit: bool = False


class MSFTConfig(_Strict):
    r1: int = Field(64, ge=1, le=RANK_MAX)
    alpha: float = Field(128, gt=0, le=1e6)
    dropout: float = Field(0.05, ge=0, lt=1)
    r2: int = Field(512, ge=1, le=RANK_MAX)
    r3: int = Field(32, ge=1, le=RANK_MAX)
    mode: Literal["paper", "residual"] = "residual"
    targets: list[str] | None = None  # None: q/k/v/o found by architecture
    joint: bool = False
    from_scratch: bool = False


class StageTrainConfig(_Strict):
    epochs: float = Field(10, gt=0, le=100_000)
    max_steps: int | None = Field(None, ge=1, le=BIG)
    lr: float = Field(1e-4, gt=0, le=10)
    batch_size: int = Field(8, ge=1, le=RANK_MAX)
    grad_accum: int = Field(1, ge=1, le=RANK_MAX)
    max_input_tokens: int = Field(512, ge=8, le=1 << 20)
    max_output_tokens: int = Field(384, ge=1, le=1 << 20)
    train_limit: int | None = Field(None, ge=1, le=BIG)  # use only the first N training pairs
    gradient_checkpointing: bool = False
    bf16: bool = False
    seed: int = 0


class TrainConfig(_Strict):
    stage1: StageTrainConfig = Field(default_factory=StageTrainConfig)
    stage2: StageTrainConfig = Field(default_factory=StageTrainConfig)
    stage3: StageTrainConfig = Field(default_factory=lambda: StageTrainConfig(epochs=20))
    stages: list[Literal[1, 2, 3]] = Field(default_factory=lambda: [1, 2, 3])

    @model_validator(mode="after")
    def _stages_in_order(self) -> TrainConfig:
        if self.stages != sorted(set(self.stages)) or (self.stages and self.stages[0] != 1):
            raise ValueError("train.stages must start at 1 and be increasing, e.g. [1, 2, 3]")
        return self


class EvalSettings(_Strict):
    runs: int = Field(5, ge=1, le=1000)
    greedy: bool = False
    temperature: float = Field(0.7, gt=0, le=100)
    top_p: float = Field(0.9, gt=0, le=1)
    max_new_tokens: int = Field(384, ge=1, le=1 << 20)
    limit: int | None = Field(None, ge=1, le=BIG)
    batch_size: int = Field(8, ge=1, le=RANK_MAX)
    few_shot: int = Field(0, ge=0, le=1000)
    baseline: bool = True
    render_metric: bool = True
    metric_mode: Literal["tokenized", "mathbridge"] = "tokenized"
    """Strings the literature's five metrics score (docs/evaluation.md)."""


class RunConfig(_Strict):
    name: str
    out: str = "runs/{name}"
    data: DataConfig = Field(default_factory=DataConfig)
    stages: StagesConfig = Field(default_factory=StagesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    msft: MSFTConfig = Field(default_factory=MSFTConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalSettings = Field(default_factory=EvalSettings)

    @field_validator("out")
    @classmethod
    def _only_documented_fields(cls, v: str) -> str:
        """``out`` is a path template whose only field is ``{name}`` (no attributes, indexes or specs)."""
        try:
            parts = list(string.Formatter().parse(v))
        except ValueError as exc:
            raise ValueError(f"not a valid path template ({exc}); write braces as {{{{ and }}}}") from None
        for _, field_name, spec, conversion in parts:
            if field_name is not None and (field_name != "name" or spec or conversion):
                shown = field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                raise ValueError(f"only {{name}} may appear in braces, got {{{shown}}}")
        return v

    @property
    def run_dir(self) -> Path:
        return Path(self.out.format(name=self.name))

    def section_hash(self, *sections: str) -> str:
        """A stable hash of the named sections: a step reruns when its settings change."""
        payload = {s: getattr(self, s).model_dump() for s in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class ConfigError(ValueError):
    """The recipe is invalid; the message lists every problem with its dotted path."""


def _format(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {len(exc.errors())} problem(s) in the recipe"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)


def parse_config(raw: Any, source: str = "config") -> RunConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the recipe must be a YAML mapping, got {type(raw).__name__}")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc, source)) from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["msft.r2=256", "eval.runs=3"]`` -> nested keys set in ``raw`` (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        key, value = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = load_yaml(value, f"--set {item!r}")
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if overrides and isinstance(raw, dict):
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, str(path))


def preflight(cfg: RunConfig) -> None:
    """Missing sources or model files: one clear error before any work starts."""
    problems = []
    for source in cfg.data.sources:
        if not source.startswith("docstrings:") and not Path(source).exists():
            problems.append(f"data.sources: {source!r} does not exist")
    model = cfg.model.name
    looks_local = model.startswith((".", "/", "~")) or model.endswith(".gguf")
    if looks_local and not Path(model).expanduser().exists():
        problems.append(f"model.name: {model!r} does not exist")
    if problems:
        raise ConfigError("the recipe points at missing files:\n" + "\n".join(f"  - {p}" for p in problems))
