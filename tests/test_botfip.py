"""Botfip-LLM model, losses, queues, teacher cache, constrained decoding, checkpoints (tiny dims)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from formulaforge.models.botfip.checkpoint import load_model, save_model
from formulaforge.models.botfip.config import BotfipConfig, tiny_config
from formulaforge.models.botfip.decoding import generate
from formulaforge.models.botfip.feature_cache import TeacherFeatureCache
from formulaforge.models.botfip.losses import FeatureQueue, hard_negatives
from formulaforge.models.botfip.model import BotfipBatch, BotfipLLM

TEACHER_DIM = 24


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is ~5x faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(**loss) -> BotfipConfig:
    cfg = tiny_config()
    cfg.model = dataclasses.replace(cfg.model, vit_hidden=32, vit_mlp=64, bert_hidden=32, bert_mlp=64,
                                    feature_dim=16, embedder_hidden=32, vit_layers=1, bert_layers=1)
    cfg.loss = dataclasses.replace(cfg.loss, queue_size=16, **loss)
    return cfg


def _batch(model: BotfipLLM, b: int = 8, seed: int = 0) -> BotfipBatch:
    """Random OTS token tensors, random 3x64x64 images, two samples per skeleton."""
    g = torch.Generator().manual_seed(seed)
    sp = model.specials
    ots = torch.randint(0, sp.n_ots, (b // 2, 9), generator=g).repeat_interleave(2, 0)
    enc = torch.cat([torch.full((b, 1), sp.cls), ots], 1)
    dec = torch.cat([torch.full((b, 1), sp.bos), ots, torch.full((b, 1), sp.eos)], 1)
    return BotfipBatch(
        # low-frequency random patterns: distinct per sample, like function images
        images=F.interpolate(torch.rand(b, 3, 4, 4, generator=g), size=(64, 64), mode="bilinear") * 1.9 - 0.95, enc_tokens=enc, enc_mask=torch.ones_like(enc),
        dec_tokens=dec, dec_mask=torch.ones_like(dec), constants=torch.rand(b, 3, generator=g) * 4 - 2,
        const_mask=torch.ones(b, 3, dtype=torch.bool), skeleton_ids=torch.arange(b) // 2,
        teacher_hidden=torch.randn(b // 2, 5, TEACHER_DIM, generator=g).repeat_interleave(2, 0),
        teacher_mask=torch.ones(b, 5, dtype=torch.bool),
    )


def _model(**loss) -> BotfipLLM:
    torch.manual_seed(0)
    cfg = _cfg(**loss)
    return BotfipLLM(cfg.model, cfg.loss, TEACHER_DIM)


def test_shapes() -> None:
    model = _model()
    batch = _batch(model)
    hidden, feat = model.image_encoder(batch.images)
    assert hidden.shape == (8, 1 + (64 // 16) ** 2, 32) and feat.shape == (8, 16)
    assert torch.allclose(feat.norm(dim=-1), torch.ones(8), atol=1e-5)
    enc = model.ots.encode(batch.enc_tokens, batch.enc_mask, batch.constants, batch.const_mask)
    assert enc.shape == (8, 10 + 3, 32)
    cross = model.ots.encode(batch.enc_tokens, batch.enc_mask, external=hidden)
    assert model.ots.match_logits(cross).shape == (8, 2)
    logits = model.ots.decode_logits(batch.dec_tokens, batch.dec_mask, hidden)
    assert logits.shape == (8, 11, model.specials.size)
    states, t_feat = model.embedder(batch.teacher_hidden, batch.teacher_mask)
    assert states.shape == (8, 5, 32) and t_feat.shape == (8, 16)


def test_decoder_is_causal_and_encoder_is_not() -> None:
    model = _model().eval()
    batch = _batch(model)
    hidden, _ = model.image_encoder(batch.images)
    changed = batch.dec_tokens.clone()
    changed[:, -1] = 3
    a = model.ots.decode_logits(batch.dec_tokens, batch.dec_mask, hidden)
    b = model.ots.decode_logits(changed, batch.dec_mask, hidden)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-5)  # the future never leaks backwards
    e1 = model.ots.encode(batch.dec_tokens, batch.dec_mask)
    e2 = model.ots.encode(changed, batch.dec_mask)
    assert not torch.allclose(e1[:, 0], e2[:, 0], atol=1e-4)  # the encoder sees the whole sequence


@pytest.mark.parametrize("name", ["foc", "fom", "om", "kd"])
def test_each_loss_finite_and_decreasing(name: str) -> None:
    weights = {k: float(k == name) for k in ("foc", "fom", "om", "kd")}
    model = _model(**weights)
    model.eval()  # no dropout and no queue updates: the same batch must get easier
    batch = _batch(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    values = []
    for _ in range(60):
        losses = model.pretrain_losses(batch, gen)
        assert all(torch.isfinite(v) for v in losses.values())
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        values.append(float(losses[name].detach()))
    assert sum(values[-5:]) / 5 < 0.7 * values[0], values


def test_total_is_weighted_sum_and_queues_fill_in_training() -> None:
    model = _model(foc=0.5, fom=2.0, om=1.0, kd=0.25)
    model.train()
    batch = _batch(model)
    before = model.q_img.features.clone()
    out = model.pretrain_losses(batch)
    expected = 0.5 * out["foc"] + 2.0 * out["fom"] + out["om"] + 0.25 * out["kd"]
    assert torch.allclose(out["total"], expected)
    assert int(model.q_img.ptr) == 8 and not torch.equal(before[:8], model.q_img.features[:8])
    assert model.q_teacher.ids[:8].tolist() == batch.skeleton_ids.tolist()


def test_queue_is_cyclic() -> None:
    q = FeatureQueue(size=5, dim=2)
    for step in range(4):
        q.enqueue(torch.full((3, 2), float(step)), torch.full((3,), step))
    # 12 entries into 5 slots: slots hold steps written last, pointer at 12 % 5
    assert int(q.ptr) == 12 % 5
    expected = [None] * 5
    pos = 0
    for step in range(4):
        for _ in range(3):
            expected[pos % 5] = step
            pos += 1
    assert q.ids.tolist() == expected
    assert q.features[:, 0].tolist() == [float(e) for e in expected]


def test_fom_never_picks_same_skeleton_negative() -> None:
    ids = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    sim = torch.where(ids[:, None] == ids[None, :], 50.0, -50.0)  # same skeleton looks *very* similar
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx, valid = hard_negatives(sim, ids, gen)
        assert valid.all()
        assert (ids[idx] != ids).all()
    idx, valid = hard_negatives(torch.zeros(3, 3), torch.tensor([4, 4, 4]), gen)
    assert not valid.any()  # no other skeleton in the batch: no negative at all


def test_kd_same_skeleton_entries_are_positives() -> None:
    from formulaforge.models.botfip.losses import same_skeleton_targets

    t = same_skeleton_targets(torch.tensor([0, 0, 1]), torch.tensor([1, -1]))
    assert torch.allclose(t.sum(-1), torch.ones(3))
    assert t[0].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert t[2].tolist() == [0.0, 0.0, 0.5, 0.5, 0.0]


class _CountingTeacher:
    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        self.texts += texts
        h = torch.stack([torch.full((4, 3), float(len(t))) for t in texts])
        mask = torch.tensor([[True] * min(4, len(t)) + [False] * (4 - min(4, len(t))) for t in texts])
        return h, mask


def test_teacher_cache_hit_avoids_recomputation(tmp_path: Path) -> None:
    teacher = _CountingTeacher()
    cache = TeacherFeatureCache(tmp_path, "fp-1")
    out = cache.get(["C0*x0 + C1", "x1", "C0*x0 + C1"], teacher)
    assert teacher.calls == 1 and teacher.texts == ["C0*x0 + C1", "x1"]  # duplicates computed once
    assert out[0].shape == (4, 3) and out[1].shape == (2, 3)  # padding stripped
    cache.get(["x1", "C0*x0 + C1"], teacher)
    assert teacher.calls == 1
    reopened = TeacherFeatureCache(tmp_path, "fp-1")  # a later run reads the disk
    again = reopened.get(["x1"], teacher)
    assert teacher.calls == 1 and torch.equal(again[0], out[1])
    other = TeacherFeatureCache(tmp_path, "fp-2")  # a different teacher never sees these
    other.get(["x1"], teacher)
    assert teacher.calls == 2


def test_padded_lookup_from_the_in_memory_table(tmp_path: Path) -> None:
    from formulaforge.models.botfip.feature_cache import pad_features

    teacher = _CountingTeacher()
    cache = TeacherFeatureCache(tmp_path, "fp-1")
    cache.get(["C0*x0 + C1", "x1"], teacher)
    texts = ["x1", "C0*x0 + C1", "x1"]
    hidden, mask = cache.get_padded(texts, teacher)
    ref_h, ref_m = pad_features(cache.get(texts, teacher))
    assert torch.equal(hidden, ref_h) and torch.equal(mask, ref_m) and hidden.dtype == torch.float32
    assert teacher.calls == 1
    # a string the table does not hold: computed once, stored on disk, table rebuilt
    hidden, mask = cache.get_padded(["x0+x1*C0", "x1"], teacher)
    assert teacher.calls == 2 and teacher.texts[-1:] == ["x0+x1*C0"] and mask.sum(1).tolist() == [4, 2]
    assert torch.equal(hidden[0, :4], torch.full((4, 3), 8.0)) and torch.equal(hidden[1, 2:], torch.zeros(2, 3))
    assert TeacherFeatureCache(tmp_path, "fp-1").get(["x0+x1*C0"], teacher)[0].shape == (4, 3)
    assert teacher.calls == 2


def _tiny_hf_teacher(tmp_path: Path, kind: str) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast, LlamaConfig, LlamaModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("0123456789+-*/()^.,_ abcdefghijklmnopqrstuvwxyzC")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=False)
    out = tmp_path / kind
    tok.save_pretrained(out)
    if kind == "bert":
        BertModel(BertConfig(vocab_size=len(vocab), hidden_size=TEACHER_DIM, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=32)).save_pretrained(out)
    else:
        LlamaModel(LlamaConfig(vocab_size=len(vocab), hidden_size=TEACHER_DIM, num_hidden_layers=1,
                               num_attention_heads=2, num_key_value_heads=2, intermediate_size=32)).save_pretrained(out)
    return out


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_frozen_teacher_encoder_and_decoder(tmp_path: Path, kind: str) -> None:
    from formulaforge.models.botfip.teacher import FrozenTeacher, TeacherSpec

    teacher = FrozenTeacher(TeacherSpec(str(_tiny_hf_teacher(tmp_path, kind))), max_tokens=16)
    hidden, mask = teacher(["C0*sin(x0) + C1", "x1"])
    assert hidden.shape[0] == 2 and hidden.shape[2] == TEACHER_DIM and hidden.shape[1] <= 16
    assert mask[0].sum() > mask[1].sum()
    assert not any(p.requires_grad for p in teacher.parameters())
    assert teacher.fingerprint() == teacher.fingerprint() and teacher.calls == 1


def test_constrained_decoding_always_yields_valid_tree() -> None:
    from formulaforge.datasets.optrees.grammar import OTSGrammarState
    from formulaforge.datasets.optrees.ots import decode

    model = _model().eval()
    for seed in range(3):
        hidden, _ = model.image_encoder(_batch(model, seed=seed).images)
        for beam in (1, 3):
            outs = generate(model.ots, hidden, None, lambda: OTSGrammarState(max_nodes=7), 24, beam)
            for ots in outs:
                assert decode(ots).node_count <= 7
    free = generate(model.ots, hidden, None, None, 24, 1)  # unconstrained: an untrained model rambles
    assert any(len(o) == 25 or not _valid(o) for o in free)


@pytest.mark.parametrize("beam", [2, 4])
def test_batched_beam_search_matches_per_input_beam_search(beam: int) -> None:
    """All beams of all inputs in one forward give the same best sequences as one input at a time."""
    from formulaforge.datasets.optrees.grammar import OTSGrammarState
    from formulaforge.datasets.optrees.ots import decode
    from formulaforge.models.botfip.decoding import beam_decode, beam_decode_sequential

    model = _model().eval()
    for seed in range(2):
        batch = _batch(model, seed=seed)
        hidden, _ = model.image_encoder(batch.images * (1 + 3 * seed))  # seed 1: sharper, more varied logits
        grammar = lambda: OTSGrammarState(max_nodes=7)
        batched = beam_decode(model.ots, hidden, None, grammar, 24, beam)
        reference = beam_decode_sequential(model.ots, hidden, None, grammar, 24, beam)
        assert batched == reference
        for ots in batched:
            assert decode(ots).node_count <= 7  # every output rebuilds into a tree
        # conditioning on teacher states with a padding mask (formula -> OTS) batches the same way
        states, _ = model.embedder(batch.teacher_hidden, batch.teacher_mask)
        mask = batch.teacher_mask.clone()
        mask[::2, 3:] = False
        assert beam_decode(model.ots, states, mask, grammar, 24, beam) == \
            beam_decode_sequential(model.ots, states, mask, grammar, 24, beam)
    # unconstrained and cut at max_len: the best open hypothesis, still identical
    hidden, _ = model.image_encoder(_batch(model).images)
    assert beam_decode(model.ots, hidden, None, None, 5, beam) == beam_decode_sequential(model.ots, hidden, None, None, 5,
                                                                                          beam)


def _valid(ots: list[int]) -> bool:
    from formulaforge.datasets.optrees.ots import is_valid

    return is_valid(ots)


def test_kv_cache_matches_full_recompute() -> None:
    model = _model().eval()
    batch = _batch(model)
    hidden, _ = model.image_encoder(batch.images)
    full = model.ots.decode_logits(batch.dec_tokens, batch.dec_mask, hidden)
    proj, past = model.ots.project_external(hidden), None
    for t in range(batch.dec_tokens.shape[1]):
        step, past = model.ots.decode_step(batch.dec_tokens[:, t:t + 1], proj, past)
        assert torch.allclose(step, full[:, t], atol=1e-4)


def test_teacher_dtype_is_checked_when_the_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from formulaforge.cli import app

    with pytest.raises(ValueError, match="teacher_dtype must be one of"):
        BotfipConfig.from_dict({"preset": "tiny", "model": {"teacher_dtype": "int3"}})
    p = tmp_path / "q.yaml"
    p.write_text("preset: tiny\nmodel:\n  teacher_dtype: int4\n")
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if not (has_bnb and torch.cuda.is_available()):
        with pytest.raises(ValueError, match="bitsandbytes|CUDA"):
            BotfipConfig.from_yaml(p)
        # the CLI stops before generating any data, with one line and exit code 2
        r = CliRunner().invoke(app, ["botfip", "pretrain", "--config", str(p), "--out", str(tmp_path / "run")])
        assert r.exit_code == 2 and "teacher_dtype=int4" in r.output and not (tmp_path / "run").exists()
    # bitsandbytes present but no GPU: the CUDA message
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes"
                        else real(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        BotfipConfig.from_yaml(p)
    p.write_text("preset: tiny\nmodel:\n  teacher_dtype: int8\n  teacher: none\n")  # no teacher: nothing to load
    assert BotfipConfig.from_yaml(p).model.teacher_dtype == "int8"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_teacher(tmp_path: Path, dtype: str) -> None:
    from formulaforge.models.botfip.teacher import FrozenTeacher, TeacherSpec

    spec = TeacherSpec(str(_tiny_hf_teacher(tmp_path, "bert")))
    full = FrozenTeacher(spec, max_tokens=16)
    # no skip on a RuntimeError: torch's CPU build (constraints/cpu.txt) runs BERT in both dtypes,
    # so an error here is ours (a cast in the wrong place), not a missing kernel
    half = FrozenTeacher(spec, max_tokens=16, dtype=dtype)
    hidden, mask = half(["C0*sin(x0) + C1", "x1"])
    ref, ref_mask = full(["C0*sin(x0) + C1", "x1"])
    assert next(half.model.parameters()).dtype == getattr(torch, dtype)
    assert hidden.dtype == torch.float32 and torch.equal(mask, ref_mask)  # handed on as float32
    m = mask[..., None]
    assert torch.allclose(hidden * m, ref * m, atol=0.1, rtol=0.05)
    assert half.fingerprint() != full.fingerprint()  # half-precision features are cached separately


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = _cfg()
    torch.manual_seed(0)
    model = BotfipLLM(cfg.model, cfg.loss, TEACHER_DIM).eval()
    model.q_img.enqueue(torch.ones(2, 16), torch.tensor([5, 6]))
    save_model(model, cfg, tmp_path / "run", {"stage": "test"})
    assert (tmp_path / "run" / "model.safetensors").is_file()
    loaded, cfg2, meta = load_model(tmp_path / "run")
    assert cfg2.to_dict() == cfg.to_dict() and meta["stage"] == "test"
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    batch = _batch(model)
    assert torch.equal(model.finetune_loss(batch, "formula"), loaded.eval().finetune_loss(batch, "formula"))


def test_config_yaml_overrides_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("preset: tiny\nmodel:\n  bert_layers: 3\nloss:\n  kd: 0.5\n")
    cfg = BotfipConfig.from_yaml(p)
    assert cfg.model.bert_layers == 3 and cfg.loss.kd == 0.5 and cfg.model.vit_hidden == tiny_config().model.vit_hidden
    p.write_text("preset: tiny\nmodel:\n  bert_layerz: 3\n")
    with pytest.raises(ValueError, match="model.bert_layerz"):
        BotfipConfig.from_yaml(p)
    paper = BotfipConfig.from_yaml(Path(__file__).resolve().parents[1] / "configs" / "botfip-paper.yaml")
    assert (paper.model.vit_layers, paper.model.vit_hidden, paper.model.patch_size) == (10, 768, 8)
    assert (paper.model.bert_layers, paper.model.bert_hidden) == (10, 768)


def test_momentum_encoders_follow_online_weights_slowly() -> None:
    model = _model()
    model.train()
    before = model.image_encoder_m.proj.weight.clone()
    with torch.no_grad():
        model.image_encoder.proj.weight.add_(1.0)
    model.momentum_update()
    moved = model.image_encoder_m.proj.weight - before
    assert torch.allclose(moved, torch.full_like(moved, 1.0 - model.momentum), atol=1e-5)
    assert not any(p.requires_grad for p in model.image_encoder_m.parameters())


def test_cli_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from formulaforge.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["botfip", "finetune", "--task", "poetry", "--from", str(tmp_path), "--out",
                            str(tmp_path / "o")])
    assert r.exit_code == 2 and "--task must be one of" in r.output
    r = runner.invoke(app, ["botfip", "eval", str(tmp_path)])
    assert r.exit_code == 2 and "not a Botfip run directory" in r.output
    bad = tmp_path / "c.yaml"
    bad.write_text("preset: huge\n")
    r = runner.invoke(app, ["botfip", "pretrain", "--config", str(bad), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "unknown preset" in r.output


@pytest.mark.slow
def test_cli_pretrain_finetune_eval_end_to_end(tmp_path: Path) -> None:
    """The CLI chain on a micro config with a tiny random teacher: every stage writes its outputs."""
    import json

    from typer.testing import CliRunner

    from formulaforge.cli import app

    teacher = _tiny_hf_teacher(tmp_path, "bert")
    cfg = tmp_path / "micro.yaml"
    cfg.write_text(
        "preset: tiny\n"
        f"model: {{teacher: '{teacher}', vit_layers: 1, bert_layers: 1}}\n"
        "data: {train_skeletons: 8, constants_per_skeleton: 2, val_skeletons: 4, val_constants_per_skeleton: 1,"
        " finetune_skeletons: 4, finetune_constants_per_skeleton: 2, eval_samples: 4, min_nodes: 4, max_nodes: 5}\n"
        "train: {epochs: 1, batch_size: 8, finetune_epochs: 1, warmup_steps: 1}\n"
        "eval: {sr_samples: 2, gplearn: false, fit_restarts: 1, fit_steps: 5}\n"
    )
    runner = CliRunner()
    cache = str(tmp_path / "cache")
    r = runner.invoke(app, ["botfip", "pretrain", "--config", str(cfg), "--out", str(tmp_path / "pre"),
                            "--cache-dir", cache])
    assert r.exit_code == 0, r.output
    for name in ("model.safetensors", "losses.jsonl", "similarity.json", "similarity.png", "loss_curves.png"):
        assert (tmp_path / "pre" / name).is_file(), name
    for task in ("funcimg", "formula"):
        r = runner.invoke(app, ["botfip", "finetune", "--task", task, "--from", str(tmp_path / "pre"),
                                "--out", str(tmp_path / task), "--cache-dir", cache])
        assert r.exit_code == 0, r.output
        _assert_finetuned_on_own_set(tmp_path / "pre", tmp_path / task)
        r = runner.invoke(app, ["botfip", "eval", str(tmp_path / task), "--cache-dir", cache])
        assert r.exit_code == 0, r.output
        m = json.loads((tmp_path / task / "metrics.json").read_text())
        assert m["task"] == task and m["acc_r"] == 1.0 and m["s_rl_formula"] <= 1  # eq. 12 is not clipped at 0
        assert m["by_node_count"] and m["sr_comparison"]["n"] == 2
        assert m["sr_comparison"]["skipped"]["gplearn"].startswith("disabled")
        # grammar-constrained and free decoding side by side; baselines on the same samples
        assert set(m["decoding"]) == {"constrained", "free"} and m["acc_r_free"] == m["decoding"]["free"]["acc_r"]
        assert set(m["baselines"]) == {"most_frequent", "medoid", "nearest_neighbour"}
        assert all(b["n"] == m["n_samples"] for b in m["baselines"].values())
        assert {"botfip", "medoid", "nearest_neighbour", "linear"} <= set(m["sr_comparison"]["overall"])
    # a run fine-tuned for one task refuses the other's input with one line
    points = tmp_path / "points.csv"
    points.write_text("x0,x1,y\n" + "\n".join(f"{a},{b},{1.5 * a - b * b}" for a in (-1, -0.3, 0.2, 1)
                                               for b in (-1, 0, 0.5, 1)) + "\n")
    r = runner.invoke(app, ["botfip", "predict", str(tmp_path / "formula"), "--points", str(points)])
    assert r.exit_code == 2 and "fine-tuned for formula strings" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["botfip", "predict", str(tmp_path / "funcimg"), "--formula", "C0*x0 + C1"])
    assert r.exit_code == 2 and "fine-tuned for function images" in r.output
    r = runner.invoke(app, ["botfip", "predict", str(tmp_path / "funcimg"), "--points", str(points), "--top-k", "2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["n_points"] == 16 and 1 <= len(out["candidates"]) <= 2
    for c in out["candidates"]:
        assert c["valid"] and c["latex"] and c["fitted"] and c["r2"] is not None
    # the paper's per-node-count protocol, image encoder frozen: its weights stay those of pre-training
    r = runner.invoke(app, ["botfip", "finetune", "--task", "funcimg", "--from", str(tmp_path / "pre"),
                            "--out", str(tmp_path / "frozen"), "--steps", "2", "--nodes", "4",
                            "--freeze-image-encoder", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "frozen" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["nodes"] == [4] and summary["image_encoder"] == "frozen"
    pre, _, _ = load_model(tmp_path / "pre", "cpu")
    frozen, _, _ = load_model(tmp_path / "frozen", "cpu")
    for (name, a), b in zip(pre.image_encoder.state_dict().items(), frozen.image_encoder.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(pre.ots.parameters(), frozen.ots.parameters(), strict=True))


def _assert_finetuned_on_own_set(pre: Path, ft: Path) -> None:
    """Fine-tuning read the separate fine-tuning set: other samples than pre-training, no validation skeleton."""
    import json

    from formulaforge.datasets.optrees.dataset import OptreeDataset

    data = json.loads((pre / "summary.json").read_text())["data"]
    summary = json.loads((ft / "summary.json").read_text())
    ft_ds, pre_ds, val_ds = OptreeDataset(summary["data"]), OptreeDataset(data["train"]), OptreeDataset(data["val"])
    assert ft_ds.path.name == "finetune" and ft_ds.path != pre_ds.path
    assert summary["samples"] == summary["epochs"] * len(ft_ds)  # every step drew from it

    def samples(ds: OptreeDataset) -> set:
        return {(tuple(ds[i]["ots"]), tuple(round(float(c), 6) for c in ds[i]["constants"])) for i in range(len(ds))}

    assert samples(ft_ds).isdisjoint(samples(pre_ds))
    assert not {s["key"] for s in ft_ds.skeletons} & {s["key"] for s in val_ds.skeletons}
    assert json.loads((ft / "config.json").read_text())["data"]["finetune"] == str(ft_ds.path)
