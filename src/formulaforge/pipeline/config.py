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
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    sources: list[str] = Field(default_factory=lambda: ["docstrings:torch,sympy,numpy"])
    min_context_tokens: int = Field(32, ge=1)
    tokenizer: str | None = None  # whitespace tokens when None
    seed: int = 0
    workers: int = Field(1, ge=1)
    subsets: dict[str, int] = Field(default_factory=lambda: {"CF50K": 50_000, "CF5K": 5_000})


class StagesConfig(_Strict):
    stage12_subset: str | None = "CF50K"  # the paper: CF50K for stages I and II
    stage3_subset: str | None = "CF5K"  # and CF5K for stage III
    max_chain: int = Field(16, ge=2)
    stage2_variant: Literal["copy", "mask", "shuffle"] = "copy"
    max_context_chars: int | None = Field(None, ge=1)  # clip contexts (CPU budgets)


class ModelConfig(_Strict):
    name: str = "smollm2-135m"  # HF id, local path, or a packaged alias
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    trust_remote_code: bool = False
    load_in_4bit: bool = False


class MSFTConfig(_Strict):
    r1: int = Field(64, ge=1)
    alpha: float = Field(128, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    r2: int = Field(512, ge=1)
    r3: int = Field(32, ge=1)
    mode: Literal["paper", "residual"] = "residual"
    targets: list[str] | None = None  # None: q/k/v/o found by architecture
    joint: bool = False
    from_scratch: bool = False


class StageTrainConfig(_Strict):
    epochs: float = Field(10, gt=0)
    max_steps: int | None = Field(None, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)  # AdamW's; the paper states none
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_input_tokens: int = Field(512, ge=8)
    max_output_tokens: int = Field(384, ge=1)
    train_limit: int | None = Field(None, ge=1)  # use only the first N training pairs
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
    runs: int = Field(5, ge=1)
    greedy: bool = False
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.9, gt=0, le=1)
    max_new_tokens: int = Field(384, ge=1)
    limit: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    few_shot: int = Field(0, ge=0)
    baseline: bool = True
    render_metric: bool = True
    gate: Literal["on", "off", "auto"] = "auto"  # auto: the router decides per record (task, then LaTeX math)
    task: str | None = "formula_generation"  # the task the router is told for stage-I test records


class ExperimentConfig(_Strict):
    """The equal-compute MSFT experiment (docs/msft.md): arms trained from one shared stage-I run.

    Arms per seed: B (stage I continued for stage II's steps), C (stage II), D (C + stage III),
    E (C continued on stage II for stage III's steps), F (one D-plugin of matched parameters for
    II + III's steps); ``residual`` adds C_res / D_res (the residual D-plugin). Hyper-parameters
    other than the step counts come from ``train.stage1/2/3``.
    """

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3], min_length=1)
    stage1_steps: int = Field(100, ge=1)
    stage2_steps: int = Field(50, ge=1)
    stage3_steps: int = Field(50, ge=1)
    matched_r2: int | None = Field(None, ge=1)  # None: matched_d_rank(r1, r2, r3)
    residual: bool = False
    nll_items: int = Field(200, ge=2)  # held-out stage-I test items scored by every arm
    gen_items: int = Field(100, ge=1)  # greedy generation metrics for A, C, D, F (first seed)
    gen_max_new_tokens: int = Field(64, ge=1)
    gen_arms: list[str] = Field(default_factory=lambda: ["A", "C", "D", "F"])
    bootstrap: int = Field(2000, ge=100)
    save_steps: int = Field(10, ge=1)  # checkpoint every N steps: a killed arm restarts from the last one
    batch_size_eval: int = Field(8, ge=1)


class RunConfig(_Strict):
    name: str
    out: str = "runs/{name}"
    data: DataConfig = Field(default_factory=DataConfig)
    stages: StagesConfig = Field(default_factory=StagesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    msft: MSFTConfig = Field(default_factory=MSFTConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    experiment: ExperimentConfig | None = None  # set: `formulaforge run` runs the equal-compute experiment

    @property
    def run_dir(self) -> Path:
        return Path(self.out.format(name=self.name))

    def section_hash(self, *sections: str) -> str:
        """A stable hash of the named sections: a step reruns when its settings change."""
        payload = {s: (getattr(self, s).model_dump() if getattr(self, s) is not None else None) for s in sections}
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
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
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
