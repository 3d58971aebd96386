"""Botfip-LLM hyper-parameters: model sizes, loss weights, data and training settings.

One dataclass tree that round-trips through YAML/JSON, so a run directory fully
describes how its weights were made. Two presets: ``tiny`` (trains on 2 CPU cores in
minutes) and ``paper`` (Table A.5: 10-layer ViT and BERT of width 768, patch 8 on
64x64 images, 5-15 nodes, StepLR 0.9 every 5 epochs, 100 epochs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# OTS vocabulary of issue 7 ("botfip-v1"): ids 0 (end of children) .. 21 (relu).
DEFAULT_OTS_VOCAB_SIZE = 22
TEACHER_DTYPES = ("float32", "float16", "bfloat16", "int8", "int4")
QUANTIZED_DTYPES = ("int8", "int4")
TEACHER_PLACEMENTS = ("local", "rank")
TEACHER_FEATURES = ("hidden", "logits")
OPERATOR_SAMPLING = ("level-first", "weighted")
S_RL_NORMS = ("target", "max")
DECODINGS = ("constrained", "free", "both")


@dataclass
class ModelConfig:
    # function-image encoder (ViT)
    image_size: int = 64
    image_channels: int = 3
    patch_size: int = 8
    vit_layers: int = 10
    vit_hidden: int = 768
    vit_heads: int = 12
    vit_mlp: int = 3072
    # OTS encoder/decoder (BERT with cross-attention)
    ots_vocab_size: int = DEFAULT_OTS_VOCAB_SIZE
    bert_layers: int = 10
    bert_hidden: int = 768
    bert_heads: int = 12
    bert_mlp: int = 3072
    max_ots_len: int = 64
    max_consts: int = 16
    max_nodes: int = 15
    dropout: float = 0.0
    # shared feature space for FOC/KD
    feature_dim: int = 256
    # frozen teacher + trainable MLP embedder
    teacher: str = "minilm"
    """``minilm`` / ``smollm2`` (packaged), ``none``, or any HF id/path (optionally ``path::file.gguf``)."""
    teacher_pooling: str = "mean"
    teacher_max_tokens: int = 48
    teacher_dtype: str = "float32"
    """``float32`` / ``float16`` / ``bfloat16``, or ``int8`` / ``int4`` (bitsandbytes, CUDA only)."""
    teacher_device: str = ""
    """Device of the frozen teacher (e.g. ``cuda:1``); empty = the student's device."""
    teacher_features: str = "hidden"
    """``hidden``: the teacher's last hidden states per token (width = hidden size); ``logits``: its output
    logits per token (width = vocabulary size, through ``AutoModelForCausalLM`` / ``AutoModelForMaskedLM``).
    The paper's Table 1 "Hidden Size" column equals each model's vocabulary size, which suggests logits."""
    teacher_trust_remote_code: bool = False
    """Let transformers run the teacher repository's own Python code (ChatGLM-2, RWKV-6 need it). Off by
    default: only turn it on for a repository you trust (``--trust-remote-code`` on the CLI)."""
    embedder_hidden: int = 512

    def __post_init__(self) -> None:
        if self.teacher_dtype not in TEACHER_DTYPES:
            raise ValueError(f"model.teacher_dtype must be one of {', '.join(TEACHER_DTYPES)}, "
                             f"got {self.teacher_dtype!r}")
        if self.teacher_features not in TEACHER_FEATURES:
            raise ValueError(f"model.teacher_features must be one of {', '.join(TEACHER_FEATURES)}, "
                             f"got {self.teacher_features!r}")


@dataclass
class LossConfig:
    foc: float = 1.0
    fom: float = 1.0
    om: float = 1.0
    kd: float = 1.0
    queue_size: int = 4096
    momentum: float = 0.995
    """EMA rate of the momentum encoders that fill the queues (MoCo); 0 disables them."""
    temp: float = 0.07
    kd_temp: float = 0.07


@dataclass
class DataConfig:
    min_nodes: int = 5
    max_nodes: int = 15
    train_skeletons: int = 11028
    constants_per_skeleton: int = 50
    val_skeletons: int = 2941
    val_constants_per_skeleton: int = 30
    finetune_skeletons: int = 2941
    finetune_constants_per_skeleton: int = 30
    """Fine-tuning set: drawn with its own seed (``seed + 2``), never sharing a skeleton with validation."""
    eval_samples: int = 4000
    noise_std: float = 0.001
    seed: int = 0
    p_unary: float = 0.7
    """Probability of a unary operator where both arities fit (earlier Botfip generator: 0.7)."""
    operator_sampling: str = "level-first"
    """``level-first``: pick a level high/medium/low with ``level_probs``, then an operator of that level
    uniformly (the earlier Botfip generator); ``weighted``: per-operator weights 3/2/1 by level (issue 7)."""
    level_probs: tuple[float, float, float] = (0.6, 0.3, 0.1)
    source: str = ""
    """Optional folder of ``formulaforge trees generate`` shards; empty = generate in memory."""

    def __post_init__(self) -> None:
        if self.operator_sampling not in OPERATOR_SAMPLING:
            raise ValueError(f"data.operator_sampling must be one of {', '.join(OPERATOR_SAMPLING)}, "
                             f"got {self.operator_sampling!r}")
        self.level_probs = tuple(float(p) for p in self.level_probs)  # YAML/JSON give lists
        if len(self.level_probs) != 3 or min(self.level_probs) < 0 or sum(self.level_probs) <= 0:
            raise ValueError("data.level_probs must be three non-negative numbers (high, medium, low)")


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    warmup_lr: float = 1e-6
    warmup_steps: int = 1000
    weight_decay: float = 0.05
    step_lr_every_epochs: int = 5
    step_lr_gamma: float = 0.9
    seed: int = 0
    """Initialization and batch-order seed (the data seed is ``data.seed``)."""
    max_steps: int = 0
    """Stop after this many optimizer steps (0 = run all epochs)."""
    log_every: int = 10
    threads: int = 0
    """torch threads (0 = torch's default). Tiny models train several times faster with 1 on a busy CPU."""
    finetune_epochs: int = 20
    finetune_lr: float = 1e-4
    finetune_steps: int = 0
    """Fine-tuning optimizer steps (the paper: 25,000 per node count); 0 = ``finetune_epochs`` epochs."""
    finetune_nodes: list[int] = field(default_factory=list)
    """Fine-tune on samples of these node counts only (the paper: one run per count, 5-9); empty = all."""
    freeze_image_encoder: bool = False
    """Fine-tuning: keep the function-image encoder fixed and train only the OTS decoder (and, for the
    formula task, the teacher embedder). Off: the image encoder is fine-tuned too."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; under torchrun ``cuda`` = ``cuda:$LOCAL_RANK``."""
    bf16: bool = True
    """bf16 autocast on CUDA (ignored on the CPU)."""
    teacher_placement: str = "local"
    """``local``: every process reads (or runs) its own teacher; ``rank``: only ``teacher_rank`` holds the
    teacher, the other ranks' formula strings are gathered to it and its features sent back (paper Fig. 3).
    Matters only under ``torch.distributed`` with world size > 1 (e.g. ``torchrun``)."""
    teacher_rank: int = 0

    def __post_init__(self) -> None:
        if self.teacher_placement not in TEACHER_PLACEMENTS:
            raise ValueError(f"train.teacher_placement must be one of {', '.join(TEACHER_PLACEMENTS)}, "
                             f"got {self.teacher_placement!r}")


@dataclass
class EvalConfig:
    beam_size: int = 1
    decoding: str = "both"
    """``constrained`` (OTS grammar: Acc_r = 1 by construction), ``free`` (unconstrained: the paper's Acc_r), ``both``."""
    s_rl_norm: str = "target"
    """S_RL denominator: ``target`` length (paper eq. 11) or ``max`` of both lengths (the earlier Botfip code)."""
    baselines: bool = True
    """Most-frequent / medoid skeleton, nearest-neighbour image retrieval and linear regression on the same samples."""
    fit_restarts: int = 4
    fit_steps: int = 50
    fit_points: int = 256
    sr_samples: int = 20
    gplearn: bool = True
    gplearn_generations: int = 20
    gplearn_population: int = 500

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS:
            raise ValueError(f"eval.decoding must be one of {', '.join(DECODINGS)}, got {self.decoding!r}")
        if self.s_rl_norm not in S_RL_NORMS:
            raise ValueError(f"eval.s_rl_norm must be one of {', '.join(S_RL_NORMS)}, got {self.s_rl_norm!r}")


@dataclass
class BotfipConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check_runtime(self) -> None:
        """Fail now, with the fix, when this machine cannot load the configured teacher."""
        check_teacher_runtime(self.model)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BotfipConfig:
        """A preset (``preset: tiny|paper``, default paper) with the given sections' keys overridden.

        Unknown sections or keys are an error naming the dotted path.
        """
        data = dict(data or {})
        base = preset(str(data.pop("preset", "paper")))
        for name, values in data.items():
            if name not in _SECTIONS:
                raise ValueError(f"unknown config section {name!r} (known: preset, {', '.join(_SECTIONS)})")
            values = values or {}
            if not isinstance(values, dict):
                raise ValueError(f"config section {name!r} must be a mapping")
            section = getattr(base, name)
            known = {f.name for f in dataclasses.fields(section)}
            bad = sorted(set(values) - known)
            if bad:
                raise ValueError(f"unknown config key(s): {', '.join(f'{name}.{b}' for b in bad)}")
            setattr(base, name, dataclasses.replace(section, **values))
        return base

    @classmethod
    def from_yaml(cls, path: str | Path) -> BotfipConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        from formulaforge.utils.config_text import load_yaml

        data = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a Botfip config is a mapping of sections")
        cfg = cls.from_dict(data)
        cfg.check_runtime()
        return cfg


_SECTIONS = ("model", "loss", "data", "train", "eval")


def check_teacher_runtime(m: ModelConfig) -> None:
    """Raise ``ValueError`` with the fix when this machine cannot load the configured teacher.

    8/4-bit teachers need bitsandbytes and a CUDA device; finding that out after dataset
    generation (or on the teacher rank mid-run) would waste the run, so the CLI calls this
    when it reads the config and the training loops call it before any work.
    """
    if m.teacher in ("", "none") or m.teacher_dtype not in QUANTIZED_DTYPES:
        return
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError(f"model.teacher_dtype={m.teacher_dtype} loads the teacher through bitsandbytes, which "
                         "is not installed (pip install bitsandbytes); or use float16/bfloat16/float32")
    if not torch.cuda.is_available():
        raise ValueError(f"model.teacher_dtype={m.teacher_dtype} needs a CUDA device (bitsandbytes' 8/4-bit "
                         "kernels); on this machine use float32, float16 or bfloat16")
    if m.teacher_device and not m.teacher_device.startswith("cuda"):
        raise ValueError(f"model.teacher_dtype={m.teacher_dtype} needs model.teacher_device on CUDA, "
                         f"got {m.teacher_device!r}")


def tiny_config() -> BotfipConfig:
    """Small enough to pre-train, fine-tune and evaluate on 2 CPU cores in minutes."""
    return BotfipConfig(
        model=ModelConfig(vit_layers=2, vit_hidden=64, vit_heads=4, vit_mlp=128, patch_size=16,
                          bert_layers=2, bert_hidden=64, bert_heads=4, bert_mlp=128, max_ots_len=24,
                          max_consts=8, max_nodes=7, feature_dim=64, embedder_hidden=128, teacher_max_tokens=32),
        loss=LossConfig(queue_size=256),
        data=DataConfig(min_nodes=4, max_nodes=7, train_skeletons=120, constants_per_skeleton=8,
                        val_skeletons=30, val_constants_per_skeleton=2, finetune_skeletons=120,
                        finetune_constants_per_skeleton=8, eval_samples=60),
        train=TrainConfig(epochs=6, batch_size=32, lr=1e-3, warmup_lr=1e-4, warmup_steps=20,
                          step_lr_every_epochs=2, finetune_epochs=8, finetune_lr=1e-3, threads=1),
        eval=EvalConfig(fit_restarts=2, fit_steps=30, fit_points=128, sr_samples=12,
                        gplearn_generations=10, gplearn_population=300),
    )


def small_config() -> BotfipConfig:
    """Between tiny and paper: meant to show learning against the baselines in ~20 CPU-minutes per seed.

    5-7 nodes (the paper's fine-tuning range starts at 5), ~3x the tiny model's width, a few
    thousand pairs and the paper's per-node-count style fine-tuning for a fixed number of
    steps; sized from measured step times (docs/benchmarks.md, issue 20).
    """
    return BotfipConfig(
        model=ModelConfig(vit_layers=3, vit_hidden=96, vit_heads=4, vit_mlp=192, patch_size=16,
                          bert_layers=3, bert_hidden=96, bert_heads=4, bert_mlp=192, max_ots_len=28,
                          max_consts=8, max_nodes=7, feature_dim=64, embedder_hidden=128, teacher_max_tokens=32),
        loss=LossConfig(queue_size=512),
        data=DataConfig(min_nodes=5, max_nodes=7, train_skeletons=600, constants_per_skeleton=8,
                        val_skeletons=60, val_constants_per_skeleton=2, finetune_skeletons=600,
                        finetune_constants_per_skeleton=8, eval_samples=120),
        # 1,200 pre-training + 1,500 fine-tuning steps: ~7 + ~4 CPU-min at the measured 0.36 / 0.17 CPU-s per step
        train=TrainConfig(epochs=8, batch_size=32, lr=1e-3, warmup_lr=1e-4, warmup_steps=50,
                          step_lr_every_epochs=1, finetune_steps=1500, finetune_lr=5e-4, threads=1),
        eval=EvalConfig(fit_restarts=2, fit_steps=30, fit_points=128, sr_samples=20,
                        gplearn_generations=10, gplearn_population=300),
    )


def paper_config() -> BotfipConfig:
    return BotfipConfig()


def preset(name: str) -> BotfipConfig:
    presets = {"tiny": tiny_config, "small": small_config, "paper": paper_config}
    if name not in presets:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(presets)})")
    return presets[name]()
