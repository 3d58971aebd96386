"""Teacher on its own rank (paper Fig. 3) with real 2-process gloo groups on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import built_once

from formulaforge.training.botfip.distributed import teacher_features_across_ranks


def _fake_teacher(strings: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded states: row i has len(s) tokens of value len(s)."""
    t = max(len(s) for s in strings)
    h = torch.zeros(len(strings), t, 2)
    m = torch.zeros(len(strings), t, dtype=torch.bool)
    for i, s in enumerate(strings):
        h[i, : len(s)] = float(len(s))
        m[i, : len(s)] = True
    return h, m


def _helper_worker(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        mine = ["x0"] if rank == 0 else ["C0*x1 + C1", "x0", "x0 + x1"]
        calls = []

        def teacher(strings: list[str]):
            calls.append(strings)
            return _fake_teacher(strings)

        hidden, mask = teacher_features_across_ranks(mine, teacher if rank == 0 else None, teacher_rank=0)
        torch.save({"hidden": hidden, "mask": mask, "calls": calls}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_teacher_rank_serves_other_ranks(tmp_path: Path) -> None:
    mp.spawn(_helper_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    # only the teacher rank ran the teacher, once, on the distinct strings of both ranks
    assert r0["calls"] == [["x0", "C0*x1 + C1", "x0 + x1"]] and r1["calls"] == []
    for r, strings in ((r0, ["x0"]), (r1, ["C0*x1 + C1", "x0", "x0 + x1"])):
        ref_h, ref_m = _fake_teacher(strings)  # what a local teacher would have returned
        assert torch.equal(r["mask"], ref_m) and torch.equal(r["hidden"], ref_h)


# ---------------------------------------------------------------- the pre-training loop
def _micro_cfg(teacher: Path, placement: str = "rank", teacher_rank: int = 1):
    from formulaforge.models.botfip.config import BotfipConfig

    return BotfipConfig.from_dict({
        "preset": "tiny",
        "model": {"teacher": str(teacher), "vit_layers": 1, "bert_layers": 1, "vit_hidden": 32, "vit_mlp": 64,
                  "bert_hidden": 32, "bert_mlp": 64, "feature_dim": 16, "embedder_hidden": 32},
        "loss": {"queue_size": 16},
        "data": {"train_skeletons": 4, "constants_per_skeleton": 2, "val_skeletons": 2,
                 "val_constants_per_skeleton": 1, "min_nodes": 4, "max_nodes": 5},
        "train": {"epochs": 1, "batch_size": 2, "warmup_steps": 1, "threads": 1,
                  "teacher_placement": placement, "teacher_rank": teacher_rank},
    })


def _pretrain_worker(rank: int, store: str, out: str, teacher: str, data: str) -> None:
    from formulaforge.training.botfip.pretrain import pretrain

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        seen: list[dict] = []

        def on_step(step, raw, batch, losses, model) -> None:
            seen.append({"formulas": list(raw.formulas), "hidden": batch.teacher_hidden.clone(),
                         "mask": batch.teacher_mask.clone(), "images": batch.images.sum().item(),
                         "params": torch.cat([p.detach().reshape(-1) for p in model.parameters()])})

        summary = pretrain(_micro_cfg(Path(teacher)), Path(out) / "run", cache_dir=None, data_dir=data,
                           use_cache=False, on_step=on_step)
        torch.save({"seen": [{k: v for k, v in s.items() if k != "formulas"} for s in seen]},
                   f"{out}/pre{rank}.pt")
        Path(f"{out}/pre{rank}.json").write_text(json.dumps({"formulas": [s["formulas"] for s in seen],
                                                              "summary": summary}))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_botfip import _tiny_hf_teacher

    return built_once(tmp_path_factory, "botfip-teacher", lambda d: _tiny_hf_teacher(d, "bert")) / "bert"


@pytest.fixture(scope="module")
def micro_data(tmp_path_factory: pytest.TempPathFactory, tiny_teacher: Path) -> Path:
    """Generated once for the session, whichever worker comes first (generation is the slow part)."""
    from formulaforge.training.botfip.data import prepare_datasets

    return built_once(tmp_path_factory, "botfip-micro-data", lambda d: prepare_datasets(_micro_cfg(tiny_teacher), d))


@pytest.mark.slow  # two fresh interpreters importing torch + transformers: ~15-30 s on 2 busy cores
def test_pretrain_with_teacher_on_its_own_rank(tmp_path: Path, tiny_teacher: Path, micro_data: Path) -> None:
    from formulaforge.models.botfip.teacher import FrozenTeacher, TeacherSpec

    mp.spawn(_pretrain_worker, args=(str(tmp_path / "store"), str(tmp_path), str(tiny_teacher), str(micro_data)),
             nprocs=2, join=True)
    runs = [json.loads((tmp_path / f"pre{r}.json").read_text()) for r in (0, 1)]
    seen = [torch.load(tmp_path / f"pre{r}.pt", weights_only=True)["seen"] for r in (0, 1)]
    # 8 samples / batch 2 = 4 batches, 2 per rank; only rank 1 (the teacher rank) ran the teacher
    assert [r["summary"]["steps"] for r in runs] == [2, 2]
    assert runs[0]["summary"]["teacher_calls"] == 0 and runs[1]["summary"]["teacher_calls"] > 0
    assert runs[0]["summary"]["teacher_fingerprint"] == runs[1]["summary"]["teacher_fingerprint"]
    # each rank trained on its own batches
    assert {s["images"] for s in seen[0]}.isdisjoint({s["images"] for s in seen[1]})
    # the features each rank received are what one process with the teacher computes for its strings
    cfg = _micro_cfg(tiny_teacher)
    reference = FrozenTeacher(TeacherSpec(str(tiny_teacher)), max_tokens=cfg.model.teacher_max_tokens)
    for rank in (0, 1):
        for formulas, s in zip(runs[rank]["formulas"], seen[rank], strict=True):
            ref_h, ref_m = reference(formulas)
            assert torch.equal(s["mask"], ref_m)
            assert torch.allclose(s["hidden"], ref_h, atol=1e-5)
    # gradients were averaged: both students hold the same weights after every step
    for a, b in zip(seen[0], seen[1], strict=True):
        assert torch.allclose(a["params"], b["params"], atol=1e-6)
    assert (tmp_path / "run" / "model.safetensors").is_file()  # rank 0 wrote the run


def test_rank_placement_on_one_process_is_local(tmp_path: Path, tiny_teacher: Path, micro_data: Path) -> None:
    """Without a process group the same config trains with a local teacher."""
    from formulaforge.training.botfip.pretrain import pretrain

    cfg = _micro_cfg(tiny_teacher, teacher_rank=0)
    summary = pretrain(cfg, tmp_path / "run", cache_dir=None, data_dir=micro_data, use_cache=False,
                       max_steps=1)
    assert summary["steps"] == 1 and summary["teacher_calls"] >= 1 and summary["distributed"]["world"] == 1
