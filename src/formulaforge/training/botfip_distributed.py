"""Teacher on its own rank (paper Fig. 3): gather formula strings, run the teacher once, scatter features.

Only used when ``torch.distributed`` is initialized with world size > 1; otherwise it is a
plain call. The teacher (possibly half precision or 8/4-bit, on its own GPU) lives on
``teacher_rank`` only; the other ranks pass ``features=None``. Objects travel with
``all_gather_object``/``scatter_object_list`` (pickle between ranks of one trusted job).
With the on-disk cache most runs do not need this at all: warm the cache on the teacher's
GPU once, then every rank reads it (docs/botfip.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Features = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]


def teacher_features_across_ranks(formulas: list[str], features: Features | None, teacher_rank: int = 0
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        if features is None:
            raise ValueError("no teacher on this process and no process group to ask one")
        return features(formulas)
    world, rank = dist.get_world_size(), dist.get_rank()
    gathered: list[list[str] | None] = [None] * world
    dist.all_gather_object(gathered, formulas)
    payload = None
    if rank == teacher_rank:
        if features is None:
            raise ValueError(f"rank {rank} is the teacher rank but has no teacher")
        payload = []
        for strings in gathered:
            hidden, mask = features(list(strings or []))
            payload.append((hidden.cpu(), mask.cpu()))
    received: list[tuple[torch.Tensor, torch.Tensor] | None] = [None]
    dist.scatter_object_list(received, payload, src=teacher_rank)
    hidden, mask = received[0]  # type: ignore[misc]
    return hidden, mask
