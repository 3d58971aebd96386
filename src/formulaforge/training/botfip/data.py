"""Data plumbing for Botfip-LLM training: datasets from issue 7's generator, teacher features, batches.

* :func:`prepare_datasets` generates (or reuses) a pre-training and a validation set of
  Funcimg-OTS-formula samples; validation skeletons never occur in training.
* :func:`prepare_finetune_dataset` generates (or reuses) the separate fine-tuning set
  (its own seed; no validation skeleton), next to the pre-training set.
* :class:`TeacherFeatures` turns formula strings into teacher token states through the
  on-disk cache (each distinct string runs through the teacher once) or, with
  ``cache=False``, by running the teacher every call (the benchmark's baseline).
* :func:`model_batch` converts an ``OTSBatch`` into the model's tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from formulaforge.datasets.optrees.dataset import GenerateConfig, OptreeDataset, OTSBatch, generate
from formulaforge.datasets.optrees.sampling import SamplerConfig
from formulaforge.models.botfip.config import (
    QUANTIZED_DTYPES,
    BotfipConfig,
    ModelConfig,
    check_teacher_runtime,
)
from formulaforge.models.botfip.feature_cache import TeacherFeatureCache
from formulaforge.models.botfip.model import BotfipBatch
from formulaforge.models.botfip.ots_transformer import SpecialTokens
from formulaforge.models.botfip.teacher import FrozenTeacher, TeacherSpec

DEFAULT_CACHE = Path.home() / ".cache" / "formulaforge" / "botfip-teacher"


def sampler_config(cfg: BotfipConfig) -> SamplerConfig:
    """The skeleton sampler the ``data`` section describes (node range, unary share, operator sampling)."""
    d = cfg.data
    return SamplerConfig(min_nodes=d.min_nodes, max_nodes=d.max_nodes, p_unary=d.p_unary,
                         operator_sampling=d.operator_sampling, level_probs=tuple(d.level_probs))


def prepare_datasets(cfg: BotfipConfig, data_dir: str | Path, workers: int = 1,
                     on_progress: Any = None) -> tuple[OptreeDataset, OptreeDataset]:
    """Train and validation datasets: ``cfg.data.source`` if set, else generated (resumably) under ``data_dir``."""
    d = cfg.data
    if d.source:
        src = Path(d.source)
        return OptreeDataset(src / "train"), OptreeDataset(src / "val")
    sampler = sampler_config(cfg)
    root = Path(data_dir)
    train_cfg = GenerateConfig(n_skeletons=d.train_skeletons, constants_per_skeleton=d.constants_per_skeleton,
                               sampler=sampler, seed=d.seed)
    generate(train_cfg, root / "train", workers=workers, on_progress=on_progress)
    val_cfg = GenerateConfig(n_skeletons=d.val_skeletons, constants_per_skeleton=d.val_constants_per_skeleton,
                             sampler=sampler, seed=d.seed + 1)
    generate(val_cfg, root / "val", workers=workers, exclude_skeletons=[root / "train" / "skeletons.jsonl"],
             on_progress=on_progress)
    return OptreeDataset(root / "train"), OptreeDataset(root / "val")


def prepare_finetune_dataset(cfg: BotfipConfig, train_dir: str | Path, val_dir: str | Path, workers: int = 1,
                             on_progress: Any = None) -> OptreeDataset:
    """The fine-tuning set ``<data root>/finetune``: new samples (seed ``data.seed + 2``), not the pre-training ones.

    The paper pre-trains on one generated set and fine-tunes on another; ours is drawn
    with its own seed and excludes every validation skeleton, so evaluation stays on
    skeletons neither stage trained on. With ``data.source`` it reads ``SOURCE/finetune``.
    """
    d = cfg.data
    root = Path(train_dir).parent
    out = root / "finetune"
    if d.source and not (out / "manifest.json").is_file():
        raise ValueError(f"data.source {d.source} has no finetune/ set; generate one there "
                         "(formulaforge trees generate, excluding the val/ skeletons)")
    if not d.source:
        sampler = sampler_config(cfg)
        ft_cfg = GenerateConfig(n_skeletons=d.finetune_skeletons, constants_per_skeleton=d.finetune_constants_per_skeleton,
                                sampler=sampler, seed=d.seed + 2)
        generate(ft_cfg, out, workers=workers, exclude_skeletons=[Path(val_dir) / "skeletons.jsonl"],
                 on_progress=on_progress)
    return OptreeDataset(out)


def build_teacher(cfg: ModelConfig, device: str | torch.device | None = None) -> FrozenTeacher | None:
    """The frozen teacher on ``device`` (default ``cfg.teacher_device``, else CPU), or None for ``none``."""
    if cfg.teacher in ("", "none"):
        return None
    check_teacher_runtime(cfg)
    device = device or cfg.teacher_device or ("cuda" if cfg.teacher_dtype in QUANTIZED_DTYPES else "cpu")
    return FrozenTeacher(TeacherSpec.resolve(cfg.teacher), max_tokens=cfg.teacher_max_tokens,
                         dtype=cfg.teacher_dtype, device=device, features=cfg.teacher_features,
                         trust_remote_code=cfg.teacher_trust_remote_code)


def node_counts(ds: OptreeDataset) -> np.ndarray:
    """Node count of every sample, in dataset order (read from the shards' arrays)."""
    return np.concatenate([ds._shard(i)[0]["node_count"] for i in range(len(ds.shards))]).astype(np.int64)


def indices_with_nodes(ds: OptreeDataset, nodes: list[int] | None) -> np.ndarray:
    """Indices of the samples whose tree has one of ``nodes`` nodes (all samples when empty)."""
    if not nodes:
        return np.arange(len(ds))
    return np.flatnonzero(np.isin(node_counts(ds), np.asarray(nodes)))


def iter_index_batches(ds: OptreeDataset, indices: np.ndarray, batch_size: int, rng: np.random.Generator,
                       **kwargs: Any) -> Iterator[OTSBatch]:
    """Batches of the given samples in a random, shard-local order (one pass; few shards in memory at once)."""
    shard_of = np.searchsorted(ds._starts, indices, side="right") - 1
    buf: list[int] = []
    for s in rng.permutation(np.unique(shard_of)):
        for i in rng.permutation(indices[shard_of == s]):
            buf.append(int(i))
            if len(buf) == batch_size:
                yield ds.batch(buf, rng=rng, **kwargs)
                buf = []
    if buf:
        yield ds.batch(buf, rng=rng, **kwargs)


class TeacherFeatures:
    """Formula strings -> padded teacher states, through the cache or the live teacher."""

    def __init__(self, teacher: FrozenTeacher, cache_dir: str | Path | None = DEFAULT_CACHE,
                 cache: bool = True) -> None:
        self.teacher = teacher
        self.use_cache = cache
        self.cache = TeacherFeatureCache(cache_dir if cache else None, teacher.fingerprint())

    @property
    def dim(self) -> int:
        return self.teacher.hidden_size

    def warm(self, formulas: list[str], batch_size: int = 64) -> None:
        """Compute every distinct string not cached yet (before training, so steps never wait)."""
        self.cache.get(sorted(set(formulas)), self.teacher, batch_size)

    def __call__(self, formulas: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.use_cache:
            return self.teacher(formulas)
        return self.cache.get_padded(formulas, self.teacher)


def model_batch(batch: OTSBatch, specials: SpecialTokens, teacher: TeacherFeatures | None = None,
                max_consts: int | None = None) -> BotfipBatch:
    """Model tensors: [CLS]+OTS for the encoder, [BOS]+OTS+[EOS] for the decoder, constants, ids."""
    ots = torch.from_numpy(batch.ots)
    mask = torch.from_numpy(batch.ots_mask)
    b = ots.shape[0]
    ots = ots.masked_fill(~mask, specials.pad)
    enc = torch.cat([torch.full((b, 1), specials.cls), ots], dim=1)
    enc_mask = torch.cat([torch.ones(b, 1, dtype=torch.bool), mask], dim=1)
    dec = torch.cat([torch.full((b, 1), specials.bos), ots, torch.full((b, 1), specials.pad)], dim=1)
    lengths = mask.sum(1)
    dec[torch.arange(b), lengths + 1] = specials.eos
    dec_mask = dec != specials.pad
    consts = torch.from_numpy(batch.constants).float()
    cmask = torch.from_numpy(batch.constants_mask)
    if max_consts is not None and consts.shape[1] > max_consts:
        consts, cmask = consts[:, :max_consts], cmask[:, :max_consts]
    t_hidden = t_mask = None
    if teacher is not None:
        t_hidden, t_mask = teacher(list(batch.formulas))
    return BotfipBatch(
        images=torch.from_numpy(batch.images).float(), enc_tokens=enc, enc_mask=enc_mask, dec_tokens=dec,
        dec_mask=dec_mask, constants=consts, const_mask=cmask,
        skeleton_ids=torch.from_numpy(batch.skeleton_ids).long(), teacher_hidden=t_hidden, teacher_mask=t_mask,
    )
