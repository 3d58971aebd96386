"""Several processes for Botfip-LLM pre-training, with the teacher on its own rank (paper Fig. 3).

With ``train.teacher_placement: rank`` under ``torch.distributed`` (world size > 1, e.g.
``torchrun --nproc-per-node 4 -m formulaforge.cli botfip pretrain ...``):

* only ``train.teacher_rank`` loads the frozen teacher (``model.teacher_device``, in
  ``model.teacher_dtype``: half precision or 8/4-bit) and its feature cache;
* every step, all ranks' formula strings are gathered to it, each distinct string is
  looked up / run once, and each rank's features are sent back (``scatter_object_list``);
* every rank trains a copy of the student (``DistributedDataParallel``, :func:`wrap_ddp`) on its
  own device and its own shard of the batches; DDP averages the gradients, so the copies stay
  identical. CUDA ranks use NCCL on ``cuda:$LOCAL_RANK``, CPU ranks gloo (:func:`init_from_env`).

Objects travel pickled between the ranks of one job (trusted). With world size 1 (or no
process group) everything is a plain local call. The MoCo queues stay per rank.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

Features = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]
T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    world: int = 1
    rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_world_size(), dist.get_rank())
    return DistInfo()


def init_from_env(device: str = "auto") -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1); True if this call created it.

    NCCL only when this rank's student runs on CUDA, with ``cuda:$LOCAL_RANK`` made the current
    device first (NCCL collectives, object ones included, use the current device); gloo otherwise
    (``--device cpu`` on a GPU machine included), so gradients and the backend always agree.
    """
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    from formulaforge.models.botfip.device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", device_id=dev)
    else:
        dist.init_process_group("gloo")
    return True


def backend_for(device: torch.device) -> str:
    """The process-group backend that matches a rank's device (what :func:`init_from_env` picks)."""
    return "nccl" if device.type == "cuda" else "gloo"


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel`` around the student under a process group, else the model itself.

    ``broadcast_buffers=False`` keeps each rank's MoCo queues its own; ``find_unused_parameters``
    because a loss weighted 0 (``--no-kd``, ablations) leaves its head without gradients.
    """
    if not dist_info().active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False, find_unused_parameters=True)


def barrier() -> None:
    if dist_info().active:
        import torch.distributed as dist

        dist.barrier()


def _trim(hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing all-padding positions (teacher states are right-padded)."""
    if mask.numel() == 0:
        return hidden, mask
    used = mask.any(0).nonzero()
    t = int(used.max()) + 1 if used.numel() else 0
    return hidden[:, :t].contiguous(), mask[:, :t].contiguous()


def teacher_features_across_ranks(formulas: list[str], features: Features | None, teacher_rank: int = 0
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each rank's formula strings -> its teacher features, computed on ``teacher_rank`` only.

    The teacher rank runs all ranks' distinct strings in one call, then sends each rank
    the rows of its own strings (padding trimmed to that rank's longest), so a rank gets
    what ``features(formulas)`` would have given it locally.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        if features is None:
            raise ValueError("no teacher on this process and no process group to ask one")
        return features(formulas)
    world, rank = dist.get_world_size(), dist.get_rank()
    gathered: list[list[str] | None] = [None] * world
    dist.all_gather_object(gathered, list(formulas))
    payload = None
    if rank == teacher_rank:
        if features is None:
            raise ValueError(f"rank {rank} is the teacher rank but has no teacher")
        distinct = list(dict.fromkeys(s for strings in gathered for s in (strings or [])))
        hidden, mask = features(distinct) if distinct else (torch.zeros(0, 0, 0), torch.zeros(0, 0, dtype=torch.bool))
        row = {s: i for i, s in enumerate(distinct)}
        payload = []
        for strings in gathered:
            idx = torch.tensor([row[s] for s in (strings or [])], dtype=torch.long)
            payload.append(_trim(hidden.cpu()[idx], mask.cpu()[idx]))
    received: list[tuple[torch.Tensor, torch.Tensor] | None] = [None]
    dist.scatter_object_list(received, payload, src=teacher_rank)
    hidden, mask = received[0]  # type: ignore[misc]
    return hidden, mask


class RankTeacherFeatures:
    """Drop-in for ``TeacherFeatures`` where only ``teacher_rank`` holds the teacher.

    ``local`` is the teacher rank's ``TeacherFeatures`` (cached or live) and None elsewhere.
    Every rank must call it the same number of times (it is a collective).
    """

    def __init__(self, local: Any | None, teacher_rank: int = 0) -> None:
        import torch.distributed as dist

        info = dist_info()
        if not 0 <= teacher_rank < info.world:
            raise ValueError(f"train.teacher_rank={teacher_rank} is not a rank of this {info.world}-process job")
        if (info.rank == teacher_rank) != (local is not None):
            raise ValueError(f"rank {info.rank}: only the teacher rank {teacher_rank} holds the teacher")
        self.local = local
        self.teacher_rank = teacher_rank
        meta = [(local.dim, local.cache.fingerprint) if local is not None else None]
        if info.active:
            dist.broadcast_object_list(meta, src=teacher_rank)
        self.dim, self.fingerprint = meta[0]  # type: ignore[misc]

    def warm(self, formulas: list[str], batch_size: int = 64) -> None:
        if self.local is not None:
            self.local.warm(formulas, batch_size)
        barrier()  # nobody's first step waits on a cold cache

    def __call__(self, formulas: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return teacher_features_across_ranks(formulas, self.local, self.teacher_rank)


def shard(items: Iterable[T], n_items: int, info: DistInfo) -> Iterator[T]:
    """This rank's items: every ``world``-th, the tail dropped so all ranks take the same number of steps."""
    keep = (n_items // info.world) * info.world
    for i, item in enumerate(items):
        if i >= keep:
            break
        if i % info.world == info.rank:
            yield item
