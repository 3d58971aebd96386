"""The teacher-on-its-own-rank helper with a real 2-process gloo group (CPU)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from formulaforge.training.botfip_distributed import teacher_features_across_ranks


def _fake_teacher(strings: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.tensor([[float(len(s))] * 2 for s in strings]).reshape(len(strings), 1, 2)
    return h, torch.ones(len(strings), 1, dtype=torch.bool)


def _worker(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        mine = ["x0"] if rank == 0 else ["C0*x1 + C1", "x0 + x1"]
        calls = []

        def teacher(strings: list[str]):
            calls.append(strings)
            return _fake_teacher(strings)

        hidden, _ = teacher_features_across_ranks(mine, teacher if rank == 0 else None, teacher_rank=0)
        torch.save({"hidden": hidden, "calls": len(calls)}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_teacher_rank_serves_other_ranks(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["calls"] == 2 and r1["calls"] == 0  # only the teacher rank ran the teacher
    assert r1["hidden"][:, 0, 0].tolist() == [10.0, 7.0]  # rank 1 got features of its own strings
    assert r0["hidden"][:, 0, 0].tolist() == [2.0]
