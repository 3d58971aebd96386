"""Operation-tree datasets (generation, resume, reader), metrics and constant fitting, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.optrees.dataset import GenerateConfig, OptreeDataset, generate
from formulaforge.datasets.optrees.evaluate import evaluate
from formulaforge.datasets.optrees.fit import fit_constants, fit_to_image
from formulaforge.datasets.optrees.images import GridSpec, function_images
from formulaforge.datasets.optrees.metrics import acc_r, ots_metrics, relative_similarity, s_rl, s_rl_formula
from formulaforge.datasets.optrees.ots import decode
from formulaforge.datasets.optrees.sampling import SamplerConfig

SMALL = dict(n_skeletons=12, constants_per_skeleton=4, shard_size=5, chunk_size=6,
             sampler=SamplerConfig(min_nodes=4, max_nodes=8), grid=GridSpec(size=16), seed=3,
             simplify="light")  # cheap and deterministic; full simplify is covered in test_optrees.py


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trees") / "ds"
    generate(GenerateConfig(**SMALL), out)
    return out


def test_generated_layout_and_manifest(dataset_dir: Path) -> None:
    m = json.loads((dataset_dir / "manifest.json").read_text())
    assert m["n_skeletons"] == 12 and m["n_samples"] == 48 and len(m["shards"]) == 3
    assert m["vocab"]["version"] == "botfip-v1" and m["grid"]["size"] == 16
    assert m["max_ots_length"] <= 2 * 8 - 1 and m["max_constants"] >= 2
    skeletons = [json.loads(line) for line in (dataset_dir / "skeletons.jsonl").read_text().splitlines()]
    assert len({s["key"] for s in skeletons}) == 12  # deduplicated by formula
    for s in skeletons:
        tree = decode(s["ots"])
        assert tree.node_count == s["node_count"] and 4 <= s["node_count"] <= 8
        assert "x0" in s["formula"] or "x1" in s["formula"]


def test_samples_are_consistent_with_their_ots_and_constants(dataset_dir: Path) -> None:
    ds = OptreeDataset(dataset_dir)
    assert len(ds) == 48
    grid = GridSpec(size=16)
    for idx in (0, 7, 25, 47):
        item = ds[idx]
        tree = decode(item["ots"])
        again = function_images(tree, np.array([item["constants"]]), grid)
        assert np.allclose(item["image"], again.images[0], atol=2e-3)  # stored as float16
        assert np.allclose(item["scale_factors"], again.scale_factors[0])
        assert np.all(np.abs(np.array(item["constants"])) <= 2)


def test_reader_batches_for_the_model(dataset_dir: Path) -> None:
    ds = OptreeDataset(dataset_dir)
    batches = list(ds.iter_batches(10, seed=1))
    assert sum(len(b.formulas) for b in batches) == 48
    b = batches[0]
    assert b.images.shape == (10, 3, 16, 16) and b.images.dtype == np.float32
    assert b.ots.shape[0] == 10 and b.ots_mask.sum(1).tolist() == [2 * n - 1 for n in b.node_counts]
    assert np.all(b.ots[~b.ots_mask] == 22)
    assert b.constants_mask.sum(1).min() >= 2
    t = b.to_torch()
    assert tuple(t["images"].shape) == (10, 3, 16, 16)
    seen = [i for bb in ds.iter_batches(48, seed=1) for i in bb.skeleton_ids]
    assert sorted(set(seen)) == list(range(12))
    # scattered indices across shards, with a repeat: the batch row i is sample indices[i]
    indices = [47, 3, 22, 3, 10]
    b = ds.batch(indices)
    for row, i in enumerate(indices):
        item = ds[i]
        n = len(item["ots"])
        assert b.ots[row, :n].tolist() == item["ots"] and b.formulas[row] == item["formula"]
        assert np.array_equal(b.images[row], item["image"])
        assert np.allclose(b.constants[row, : len(item["constants"])], item["constants"])
        assert b.constants_mask[row].sum() == len(item["constants"]) and b.skeleton_ids[row] == item["skeleton_id"]
    noisy = ds.batch(indices, noise_std=0.01, rng=np.random.default_rng(0))
    assert 0.005 < float(np.std(noisy.images - b.images)) < 0.02


def test_generation_resumes_only_unfinished_shards(tmp_path: Path, dataset_dir: Path) -> None:
    out = tmp_path / "again"
    shutil.copytree(dataset_dir, out)
    # (compare arrays, not bytes: safetensors writes its metadata map in varying order)
    ref = load_file(str(dataset_dir / "shards" / "shard-00001.safetensors"))
    # simulate an interrupted run: shard 1 never finished -> only that shard is rebuilt, identically
    (out / "shards" / "shard-00001.json").unlink()
    (out / "shards" / "shard-00001.safetensors").unlink()
    (out / "manifest.json").unlink()
    before = (out / "shards" / "shard-00000.safetensors").stat().st_mtime_ns
    generate(GenerateConfig(**SMALL), out)
    assert (out / "shards" / "shard-00000.safetensors").stat().st_mtime_ns == before
    got = load_file(str(out / "shards" / "shard-00001.safetensors"))
    assert got.keys() == ref.keys() and all(np.array_equal(got[k], ref[k]) for k in ref)
    assert OptreeDataset(out).manifest["n_samples"] == 48
    with pytest.raises(ValueError, match="different generation run"):
        generate(GenerateConfig(**{**SMALL, "seed": 4}), out)


@pytest.mark.slow
def test_generation_is_reproducible_and_worker_independent(tmp_path: Path, dataset_dir: Path) -> None:
    cfg = GenerateConfig(**SMALL)
    par = tmp_path / "par"
    generate(cfg, par, workers=2)
    assert (par / "skeletons.jsonl").read_text() == (dataset_dir / "skeletons.jsonl").read_text()
    assert (par / "shards" / "shard-00002.jsonl").read_text() == (dataset_dir / "shards" / "shard-00002.jsonl").read_text()


def test_exclude_keeps_validation_skeletons_disjoint(tmp_path: Path, dataset_dir: Path) -> None:
    out = tmp_path / "val"
    generate(GenerateConfig(**{**SMALL, "seed": 3, "n_skeletons": 3}), out,
             exclude_skeletons=[dataset_dir / "skeletons.jsonl"])
    train = {json.loads(x)["key"] for x in (dataset_dir / "skeletons.jsonl").read_text().splitlines()}
    val = {json.loads(x)["key"] for x in (out / "skeletons.jsonl").read_text().splitlines()}
    assert len(val) == 3 and not train & val

# ----------------------------------------------------------------------------- metrics


def test_metrics_follow_the_paper_equations() -> None:
    target = [15, 0, 1, 0, 19, 18, 0, 0, 0]
    same = list(target)
    swapped = [15, 0, 1, 0, 18, 19, 0, 0, 0]     # 2 substitutions, same formula
    broken = [15, 0, 1, 0, 19, 0]                  # invalid
    other = [5, 0, 1, 0, 19, 18, 0, 0, 0]          # sin instead of square
    preds = [same, swapped, broken, other]
    targets = [target] * 4
    assert acc_r(preds) == 0.75
    expected_s = np.mean([1, (9 - 2) / 9, (9 - 3) / 9, (9 - 1) / 9])
    assert s_rl(preds, targets) == pytest.approx(expected_s)
    # "C0*sin(x0 + x1) + C1" against "C0*(x0 + x1)**2 + C1" (20 characters each): delete "sin",
    # insert "**2", so D = 6 and eq. 11 gives (20 - 6) / 20 = 0.7; an invalid tree scores 0
    expected_f = np.mean([1, 1, 0, 0.7])
    assert s_rl_formula(preds, targets) == pytest.approx(expected_f)
    res = ots_metrics(preds, targets, node_counts=[5, 5, 5, 6])
    assert res["acc_r"] == 0.75 and res["by_node_count"]["6"]["n"] == 1
    assert res["by_node_count"]["5"]["acc_r"] == pytest.approx(2 / 3)
    assert relative_similarity([1, 2, 3, 4, 5, 6], [1]) == -4  # not clipped, as eq. 11 is written


# ----------------------------------------------------------------------------- fitting


@pytest.mark.parametrize(("ots", "true"), [
    ([15, 0, 1, 0, 19, 18, 0, 0, 0], [0.7, -1.3]),
    ([5, 0, 2, 0, 18, 19, 0, 0, 0], [1.5, 0.4]),
    ([1, 0, 9, 19, 0, 18, 0, 0, 0], [-1.1, 0.2]),
    ([11, 0, 13, 0, 18, 0, 0], [0.9, 0.3, -0.6, 0.5]),        # C0*exp(C2*x0 + C3) + C1 (C0, C3 redundant)
    ([3, 0, 6, 5, 0, 1, 0, 19, 0, 18, 19, 0, 0, 0, 0], [1.2, -0.5, 1.7]),  # C0*(C2/(x0+x1))*sin(x1) + C1
])
def test_fit_recovers_the_function_on_noise_free_data(ots: list[int], true: list[float]) -> None:
    tree = decode(ots)
    rng = np.random.default_rng(0)
    xs = [rng.uniform(0.5, 2.0, 150), rng.uniform(0.5, 2.0, 150)]
    y = evaluate(tree, true, xs)
    res = fit_constants(tree, xs, y, n_starts=4, seed=1)
    assert res.mse < 1e-10 and res.r2 > 0.999999 and res.defined == 1.0
    if ots[:3] in ([15, 0, 1], [5, 0, 2], [1, 0, 9]):  # identifiable: the constants themselves come back
        assert np.allclose(res.constants, true, atol=1e-5)


def test_fit_to_a_function_image() -> None:
    grid = GridSpec(size=16)
    tree = decode([9, 0, 1, 0, 18, 19, 0, 0, 0])
    batch = function_images(tree, np.array([[1.3, -0.4]]), grid)
    res = fit_to_image(tree, batch.images[0], batch.scale_factors[0], grid, n_starts=3)
    assert np.allclose(res.constants, [1.3, -0.4], atol=1e-3)

# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_decode_encode_round_trip() -> None:
    r = runner.invoke(app, ["trees", "decode", "15,0,1,0,19,18,0,0,0"])
    assert r.exit_code == 0 and r.stdout.strip() == "C0*(x0 + x1)**2 + C1"
    r = runner.invoke(app, ["trees", "encode", "C0*(x0 + x1)**2 + C1", "--json"])
    assert r.exit_code == 0
    enc = json.loads(r.stdout)
    r2 = runner.invoke(app, ["trees", "decode", ",".join(map(str, enc["ots"]))])
    assert r2.stdout.strip() == "C0*(x0 + x1)**2 + C1"


def test_cli_errors_are_one_line_exit_2() -> None:
    r = runner.invoke(app, ["trees", "decode", "15,0,1,0,19,0"])
    assert r.exit_code == 2 and "invalid OTS at token 5" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["trees", "encode", "x0**x1"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["trees", "generate", "--out", "x", "--skeletons", "3", "--nodes", "9:5"])
    assert r.exit_code == 2


def test_cli_fit_and_generate(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x0, x1 = rng.uniform(-1, 1, 80), rng.uniform(-1, 1, 80)
    y = 2.0 * np.sin(x0 - x1) + 0.5
    csv = tmp_path / "pts.csv"
    csv.write_text("x0,x1,y\n" + "\n".join(f"{a},{b},{c}" for a, b, c in zip(x0, x1, y)))
    r = runner.invoke(app, ["trees", "fit", str(csv), "--ots", "5,0,2,0,18,19,0,0,0", "--json", "--starts", "3"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert np.allclose(res["constants"], [2.0, 0.5], atol=1e-5) and res["mse"] < 1e-10
    out = tmp_path / "gen"
    r = runner.invoke(app, ["trees", "generate", "--nodes", "4:7", "--skeletons", "3", "--constants-per-skeleton", "2",
                            "--out", str(out), "--image-size", "8", "--shard-size", "2", "--simplify", "light"])
    assert r.exit_code == 0, r.output
    assert OptreeDataset(out).manifest["n_samples"] == 6


def test_fit_handles_redundant_constants_and_a_pole_in_the_data() -> None:
    """C0*C2/(C3*(x0 - x1) + C4) + C1 with its pole inside the sampled square (variable projection)."""
    tree = decode([6, 0, 13, 0, 2, 0, 18, 19, 0, 0, 0])
    true = [-1.621, -1.98, -0.708, 1.963, -0.941]
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, 200), rng.uniform(-2, 2, 200)]
    res = fit_constants(tree, xs, evaluate(tree, true, xs), n_starts=8)
    assert res.mse < 1e-10 and res.r2 > 0.999999


def test_generation_in_process_computes_only_the_chunks_it_uses(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a worker pool nothing runs ahead: a set the first chunk fills computes one chunk
    (it used to compute a second one and throw it away)."""
    import formulaforge.datasets.optrees.dataset as ds

    computed: list[int] = []
    real = ds.skeleton_candidates
    monkeypatch.setattr(ds, "skeleton_candidates", lambda chunk, cfg: computed.append(chunk) or real(chunk, cfg))
    cfg = GenerateConfig(**{**SMALL, "n_skeletons": 1})
    assert len(real(0, cfg)) >= 1  # chunk 0 alone holds a skeleton (so one chunk must be enough)
    generate(cfg, tmp_path / "one")
    assert computed == [0]
    assert len((tmp_path / "one" / "skeletons.jsonl").read_text().splitlines()) == 1
