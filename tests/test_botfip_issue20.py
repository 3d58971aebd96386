"""Issue 20: device placement (on CPU), torchrun backend choice, teachers (logits, remote code),
S_RL normalisation, operator sampling, baselines, points/image resampling, top-k, task refusal."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from formulaforge.models.botfip import device as devmod
from formulaforge.models.botfip.device import autocast, resolve_device, to_device


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, count: int = 2) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


# ---------------------------------------------------------------- device placement
def test_resolve_device_on_a_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device(None) == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_cuda_under_torchrun_is_the_local_rank_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cuda(monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1) and resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="only 2 CUDA"):
        resolve_device("cuda:5")


@pytest.mark.parametrize("cuda", [False, True])
def test_torchrun_backend_matches_the_rank_device(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    """NCCL only with the rank's GPU set as current device; gloo for CPU ranks (also on a GPU machine)."""
    import torch.distributed as dist

    from formulaforge.training.botfip import distributed

    calls: list[tuple] = []
    if cuda:
        _fake_cuda(monkeypatch)
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.append((backend, kw)))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    assert distributed.init_from_env("auto") is True
    if cuda:
        assert calls == [("set_device", torch.device("cuda", 1)), ("nccl", {"device_id": torch.device("cuda", 1)})]
    else:
        assert calls == [("gloo", {})]
    calls.clear()
    if cuda:  # --device cpu on a GPU machine: CPU gradients, so gloo
        assert distributed.init_from_env("cpu") is True and calls == [("gloo", {})]


def test_autocast_and_copies_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert isinstance(autocast(torch.device("cuda", 0), bf16=False), contextlib.nullcontext)
    t = torch.ones(3)
    assert to_device(t, cpu) is t and not devmod.pins_memory(cpu) and devmod.pins_memory(torch.device("cuda", 0))


def test_model_batch_and_generator_follow_the_device(tmp_path: Path) -> None:
    """A tiny pre-training step with train.device=cpu: the summary names the device; no DDP on one process."""
    from test_botfip import _batch, _model

    from formulaforge.training.botfip.distributed import wrap_ddp

    model = _model().to(resolve_device("cpu"))
    assert wrap_ddp(model, torch.device("cpu")) is model
    batch = _batch(model)
    assert batch.to("cpu") is batch
    losses = model(batch, torch.Generator(device="cpu").manual_seed(0))
    assert torch.isfinite(losses["total"])


# ---------------------------------------------------------------- teachers
def test_teacher_logits_features_and_remote_code_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_botfip import TEACHER_DIM, _tiny_hf_teacher

    from formulaforge.models.botfip import teacher as tmod
    from formulaforge.models.botfip.teacher import FrozenTeacher, TeacherSpec

    path = _tiny_hf_teacher(tmp_path, "llama")
    seen: list[dict] = []
    real = tmod._load
    monkeypatch.setattr(tmod, "_load", lambda p, f, **kw: seen.append(kw) or real(p, f, **kw))
    hidden = FrozenTeacher(TeacherSpec(str(path)), max_tokens=16)
    logits = FrozenTeacher(TeacherSpec(str(path)), max_tokens=16, features="logits", trust_remote_code=True)
    assert [kw["trust_remote_code"] for kw in seen] == [False, True]  # off unless asked
    h, m = hidden(["C0*sin(x0) + C1"])
    lg, m2 = logits(["C0*sin(x0) + C1"])
    vocab = logits.model.config.vocab_size
    assert h.shape[-1] == TEACHER_DIM == hidden.hidden_size
    assert lg.shape[-1] == vocab == logits.hidden_size and torch.equal(m, m2)
    assert hidden.fingerprint() != logits.fingerprint()  # cached features never mix
    with pytest.raises(ValueError, match="hidden or logits"):
        FrozenTeacher(TeacherSpec(str(path)), features="pooled")


def test_config_passes_teacher_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from formulaforge.models.botfip.config import BotfipConfig
    from formulaforge.training.botfip import data

    got: dict = {}
    monkeypatch.setattr(data, "FrozenTeacher", lambda spec, **kw: got.update(kw))
    cfg = BotfipConfig.from_dict({"preset": "tiny", "model": {"teacher": "/some/dir"}})
    assert cfg.model.teacher_trust_remote_code is False
    data.build_teacher(cfg.model)
    assert got["trust_remote_code"] is False and got["features"] == "hidden"
    cfg = BotfipConfig.from_dict({"preset": "tiny", "model": {"teacher": "/x", "teacher_features": "logits",
                                                               "teacher_trust_remote_code": True}})
    data.build_teacher(cfg.model)
    assert got["trust_remote_code"] is True and got["features"] == "logits"
    with pytest.raises(ValueError, match="teacher_features"):
        BotfipConfig.from_dict({"model": {"teacher_features": "both"}})


# ---------------------------------------------------------------- metrics and data
def test_s_rl_normalisation_by_target_or_max_length() -> None:
    from formulaforge.datasets.optrees.metrics import relative_similarity, s_rl

    pred, target = [1, 2, 3, 4, 5], [1, 2]
    assert relative_similarity(pred, target) == pytest.approx((2 - 3) / 2)  # eq. 11: can go below 0
    assert relative_similarity(pred, target, "max") == pytest.approx((5 - 3) / 5)
    assert s_rl([pred, target], [target, target], norm="max") == pytest.approx((0.4 + 1.0) / 2)
    with pytest.raises(ValueError):
        relative_similarity(pred, target, "mean")


def _unary_levels(cfg, n: int = 800) -> tuple[dict[str, float], float]:
    from collections import Counter

    from formulaforge.datasets.optrees.sampling import SkeletonSampler
    from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB

    sampler, rng = SkeletonSampler(cfg), np.random.default_rng(0)
    levels: Counter = Counter()
    arity: Counter = Counter()

    def walk(node, top: bool) -> None:
        if node.children:
            if not top:
                arity[len(node.children)] += 1
                if len(node.children) == 1:
                    levels[DEFAULT_VOCAB[node.token].level] += 1
            for c in node.children:
                walk(c, False)

    for _ in range(n):
        walk(sampler.sample_tree(rng).root, True)
    total = sum(levels.values())
    return {k: v / total for k, v in levels.items()}, arity[1] / (arity[1] + arity[2])


def test_operator_sampling_level_first_by_default_and_weighted_as_option() -> None:
    from formulaforge.datasets.optrees.sampling import SamplerConfig

    shares, unary = _unary_levels(SamplerConfig())
    assert shares["high"] == pytest.approx(0.6, abs=0.04) and shares["medium"] == pytest.approx(0.3, abs=0.04)
    assert shares["low"] == pytest.approx(0.1, abs=0.03)
    old, old_unary = _unary_levels(SamplerConfig.issue7())
    assert old["medium"] > 0.45 and old["high"] < 0.3  # per-operator weights: medium has the most operators
    assert unary > old_unary + 0.05


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory):
    from formulaforge.datasets.optrees.dataset import GenerateConfig, OptreeDataset, generate
    from formulaforge.datasets.optrees.images import GridSpec
    from formulaforge.datasets.optrees.sampling import SamplerConfig

    out = tmp_path_factory.mktemp("set")
    generate(GenerateConfig(n_skeletons=6, constants_per_skeleton=2, sampler=SamplerConfig(min_nodes=4, max_nodes=6),
                            grid=GridSpec(size=16), seed=5, simplify="light"), out)
    return OptreeDataset(out)


def test_baselines_medoid_and_nearest_neighbour(small_set) -> None:
    from formulaforge.datasets.optrees.metrics import relative_similarity
    from formulaforge.evaluation.botfip_baselines import SkeletonBaselines, linear_fit

    idx = np.arange(len(small_set))
    base = SkeletonBaselines(small_set, idx)
    all_ots = [tuple(small_set[i]["ots"]) for i in idx]
    best = max(np.mean([relative_similarity(c, o) for o in all_ots]) for c in set(all_ots))
    assert base.medoid_train_s_rl == pytest.approx(best) and tuple(base.medoid) in set(all_ots)
    images = torch.from_numpy(small_set.batch(idx.tolist()).images)
    for i, o in enumerate(base.nearest_images(images)):  # each image finds itself (or an identical image)
        same = {all_ots[j] for j in idx if torch.allclose(images[j], images[i], atol=1e-6)}
        assert tuple(o) in same
    assert [tuple(o) for o in base.nearest_formulas([small_set[i]["formula"] for i in idx])] == all_ots
    x0, x1 = np.random.default_rng(0).normal(size=(2, 50))
    yhat, expr = linear_fit([x0, x1], 1.5 - 2 * x0 + 0.5 * x1)
    assert np.allclose(yhat, 1.5 - 2 * x0 + 0.5 * x1) and len(expr.free_symbols) == 2


# ---------------------------------------------------------------- points / images -> the model's grids
def test_read_points_csv_npy_and_errors(tmp_path: Path) -> None:
    from formulaforge.datasets.optrees.resample import read_points

    csv = tmp_path / "p.csv"
    csv.write_text("y,x1,x0,note\n1,2,3,a\n4,5,6,b\n7,8,9,c\n10,11,12,d\nnan,1,1,e\n")
    x0, x1, y = read_points(csv)
    assert list(x0) == [3, 6, 9, 12] and list(x1) == [2, 5, 8, 11] and list(y) == [1, 4, 7, 10]
    np.save(tmp_path / "p.npy", np.column_stack([x0, x1, y]))
    assert np.array_equal(read_points(tmp_path / "p.npy")[2], y)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing x0, x1, y"):
        read_points(tmp_path / "bad.csv")


def test_points_resample_onto_the_grids_with_x0_on_rows(tmp_path: Path) -> None:
    """Dense points of exp(x0) + 0*x1 land on the grid as the model's own image of that function."""
    from formulaforge.datasets.optrees.images import GridSpec, function_images
    from formulaforge.datasets.optrees.ots import decode
    from formulaforge.datasets.optrees.resample import grid_images, read_image

    grid = GridSpec(size=16, scales=(1.0,))
    a = np.linspace(-1, 1, 41)
    np.save(tmp_path / "img.npy", np.exp(a)[:, None] * np.ones((41, 41)))  # rows = x0
    x0, x1, y = read_image(tmp_path / "img.npy", 1.0)
    image, coverage = grid_images(x0, x1, y, grid)
    truth = function_images(decode([11, 0, 18, 0, 0]), np.array([[1.0, 0.0]]), grid).images[0]
    assert coverage == 1.0 and np.abs(image - truth).max() < 0.02
    image2, coverage2 = grid_images(x0 * 0.5, x1 * 0.5, y, grid)  # points cover only the middle
    assert 0.2 < coverage2 < 0.35 and image2[0, 0, 0] == 0.0  # outside the hull: undefined -> 0


def test_top_k_and_task_refusal() -> None:
    from test_botfip import _batch, _model

    from formulaforge.datasets.optrees.grammar import OTSGrammarState
    from formulaforge.datasets.optrees.ots import decode
    from formulaforge.models.botfip.decoding import beam_decode, generate_top_k
    from formulaforge.models.botfip.predict import BotfipPredictor

    model = _model().eval()
    hidden, _ = model.image_encoder(_batch(model).images[:2])
    grammar = lambda: OTSGrammarState(max_nodes=7)
    tops = generate_top_k(model.ots, hidden, None, grammar, 24, 3)
    best = beam_decode(model.ots, hidden, None, grammar, 24, 3)
    for top, b in zip(tops, best, strict=True):
        assert 1 <= len(top) <= 3 and top[0] == b and len({tuple(t) for t in top}) == len(top)
        assert all(decode(t) for t in top)
    formula_run = BotfipPredictor(model, task="formula")
    with pytest.raises(ValueError, match="fine-tuned for formula strings"):
        formula_run.ots_from_images(_batch(model).images[:1])
    image_run = BotfipPredictor(model, task="funcimg")
    with pytest.raises(ValueError, match="use a run fine-tuned with --task formula"):
        image_run.ots_from_teacher_states(torch.zeros(1, 2, 24), torch.ones(1, 2, dtype=torch.bool))


# ---------------------------------------------------------------- web UI: points -> formula in the trees tab
def test_trees_tab_points_to_formula(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from test_botfip import _cfg

    from formulaforge.app.activity import Request
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.tabs import trees
    from formulaforge.models.botfip.checkpoint import save_model
    from formulaforge.models.botfip.model import BotfipLLM

    cfg = _cfg()
    torch.manual_seed(0)
    save_model(BotfipLLM(cfg.model, cfg.loss, 24).eval(), cfg, tmp_path / "run", {"stage": "finetune", "task": "funcimg"})
    ctx = SimpleNamespace(botfip_run=tmp_path / "run", limits=AppLimits(cas_timeout_s=60),
                          cas=SimpleNamespace(run=lambda f, *a, timeout_s=None: f(*a)))
    rows = "\n".join(f"{a},{b},{np.sin(a) + b}" for a in np.linspace(-1, 1, 7) for b in np.linspace(-1, 1, 7))
    out = trees.predict_points(ctx, "x0,x1,y\n" + rows, None, 2, 1, request=Request("test", "call"))
    assert "49 points" in out and "R²" in out and out.count("**1.**") == 1
    with pytest.raises(ValueError, match="give points"):
        trees.predict_points(ctx, "", None, 2, 1, request=Request("test", "call"))
    save_model(BotfipLLM(cfg.model, cfg.loss, 24).eval(), cfg, tmp_path / "frun", {"stage": "finetune", "task": "formula"})
    ctx.botfip_run = tmp_path / "frun"
    with pytest.raises(ValueError, match="fine-tuned for formula strings"):
        trees.predict_points(ctx, "x0,x1,y\n" + rows, None, 2, 1, request=Request("test", "call"))


def test_finetune_node_filter_and_one_pass_batches(small_set) -> None:
    from formulaforge.training.botfip.data import indices_with_nodes, iter_index_batches, node_counts

    counts = node_counts(small_set)
    assert counts.tolist() == [small_set[i]["node_count"] for i in range(len(small_set))]
    assert indices_with_nodes(small_set, []).tolist() == list(range(len(small_set)))
    some = int(counts[0])
    picked = indices_with_nodes(small_set, [some])
    assert picked.size and all(counts[i] == some for i in picked) and picked.size == int((counts == some).sum())
    seen = [int(n) for b in iter_index_batches(small_set, picked, 3, np.random.default_rng(0)) for n in b.node_counts]
    assert sorted(seen) == sorted(counts[picked].tolist())  # every picked sample once


def _fake_result(seed: int, model_s_rl: float) -> dict:
    ots = {"acc_r": 1.0, "s_rl": model_s_rl, "s_rl_formula": model_s_rl}
    base = {"acc_r": 1.0, "s_rl": 0.5, "s_rl_formula": 0.5}
    sr = {"r2_median": 0.5, "r2_solved_rate": 0.1, "symbolic_solution_rate": 0.0}
    return {"seed": seed, "seconds": {}, "cpu_seconds": {},
            "metrics": {"n_samples": 10, "s_rl_norm": "target", "decoding": {"constrained": ots, "free": ots},
                        "baselines": {"medoid": base, "nearest_neighbour": base},
                        "sr_comparison": {"overall": {"botfip": sr, "linear": sr}}}}


def test_seeds_table_verdict_needs_three_seeds_and_a_margin_beyond_the_spread() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_seeds", Path(__file__).parents[1] / "bench" /
                                                  "bench_botfip_seeds.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    clear = bench.table([_fake_result(s, v) for s, v in enumerate((0.70, 0.72, 0.71))])
    assert clear["verdict"]["s_rl"]["beats_every_baseline_beyond_seed_spread"] is True
    assert clear["methods"]["botfip (constrained)"]["s_rl"]["mean"] == pytest.approx(0.71)
    noisy = bench.table([_fake_result(s, v) for s, v in enumerate((0.3, 0.9, 0.6))])  # margin 0.1 < std 0.3
    assert noisy["verdict"]["s_rl"]["beats_every_baseline_beyond_seed_spread"] is False
    two = bench.table([_fake_result(s, v) for s, v in enumerate((0.70, 0.72))])
    assert two["verdict"]["s_rl"]["beats_every_baseline_beyond_seed_spread"] is False
    assert "| medoid |" in bench.markdown(clear, [_fake_result(0, 0.7)] * 3, Path("c.yaml"))
