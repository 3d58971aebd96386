"""ContextFormulas at arXiv scale: bulk reader, metadata join, datatrove executors, resume, MinHash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from bulk_helpers import bulk_tar, gz_bundle, gz_single, paper_tex, sample_members, words
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.builder import BuildConfig, build_dataset
from formulaforge.datasets.splits import split_of
from formulaforge.sources.arxiv_bulk import arxiv_id, is_bulk_tar, iter_bulk_tar
from formulaforge.sources.arxiv_metadata import PaperFilter, load_metadata

pytest.importorskip("datatrove", reason="datatrove not installed: pip install 'formulaforge[scale]'")

from formulaforge.datasets.scale.engine import EngineConfig, build_at_scale, work_dir
from formulaforge.utils.atomic import OutputExistsError

CONTENT = ("formula", "context_before", "context_after", "env", "source_file", "offsets")
SMALL = BuildConfig(min_context_tokens=8, write_hf=False, subsets=(("CF5K", 4), ("CF50K", 8)))


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "triplets.jsonl").read_text().splitlines()]


def _content(out: Path) -> list[tuple]:
    return [tuple(json.dumps(r[k], sort_keys=True) for k in CONTENT) for r in _rows(out)]


def _bulk_dir(tmp_path: Path, n: int = 6) -> Path:
    bulk_tar(tmp_path / "bulk" / "arXiv_src_2401_001.tar", sample_members(n))
    return tmp_path / "bulk"


# ---- the bulk format --------------------------------------------------------------------


def test_arxiv_ids_from_member_names() -> None:
    assert arxiv_id("2401/2401.00001.gz") == ("2401.00001", "gz")
    assert arxiv_id("0704/0704.0001v2.pdf") == ("0704.0001", "pdf")
    assert arxiv_id("0501/math0501001.gz") == ("math/0501001", "gz")
    assert arxiv_id("9901/hep-th9901001.gz") == ("hep-th/9901001", "gz")
    assert arxiv_id("2401/README.txt") is None and arxiv_id("2401/2401.00001.tex") is None
    assert is_bulk_tar("s3://arxiv/src/arXiv_src_2401_001.tar") and not is_bulk_tar("2401.00001.tar")


def test_bulk_reader_refuses_links_pdfs_and_oversize_papers(tmp_path: Path) -> None:
    path = bulk_tar(
        tmp_path / "arXiv_src_2401_001.tar",
        [("2401/2401.00001.gz", gz_single(paper_tex(1))), ("2401/2401.00002.pdf", b"%PDF")],
    )
    with tarfile.open(path, "a") as tar:  # append hostile members
        link = tarfile.TarInfo("2401/2401.00003.gz")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        big = gz_single("x" * 5000 + paper_tex(4))
        info = tarfile.TarInfo("2401/2401.00004.gz")
        info.size = len(big)
        import io

        tar.addfile(info, io.BytesIO(big))
    got = list(iter_bulk_tar(str(path), max_paper_bytes=len(big) - 1))
    assert [(m.index, m.paper_id) for m in got] == [
        (0, "2401.00001"),
        (1, "2401.00002"),
        (2, "2401.00003"),
        (3, "2401.00004"),
    ]
    assert got[0].data is not None and got[0].skipped is None
    assert "PDF only" in got[1].skipped and "links" in got[2].skipped and "cap" in got[3].skipped
    # a task's share: members i % n == k, skipped without reading the others
    assert [m.index for m in iter_bulk_tar(str(path), select=lambda i: i % 2 == 1)] == [1, 3]


def test_bulk_paper_with_traversal_member_is_refused_per_paper(tmp_path: Path) -> None:
    evil = gz_bundle({"main.tex": paper_tex(7).encode(), "../escape.tex": b"\\def\\x{1}"})
    bulk_tar(tmp_path / "b" / "arXiv_src_2401_002.tar", [("2401/2401.00009.gz", evil)])
    out = tmp_path / "out"
    rep = build_at_scale([str(tmp_path / "b")], out, SMALL, EngineConfig(near_dup="off"))
    assert rep is not None and rep.manifest["counts"]["triplets"] == 2
    assert any("escapes" in e["reason"] and e["doc_id"] == "2401.00009" for e in rep.manifest["errors"])
    assert not (tmp_path / "escape.tex").exists() and not work_dir(out).exists()


# ---- the done-when test: same triplets as the old way ----------------------------------


def test_cli_bulk_build_equals_old_builder_on_the_same_papers(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path)
    old_dir = tmp_path / "papers"
    old_dir.mkdir()
    for name, data in sample_members(6):
        if name.endswith(".gz"):
            (old_dir / Path(name).name).write_bytes(data)
    build_dataset([str(old_dir)], tmp_path / "old", BuildConfig(min_context_tokens=8, write_hf=False))
    args = ["data", "build", str(bulk), "--out", str(tmp_path / "new"), "--min-context-tokens", "8"]
    res = CliRunner().invoke(app, [*args, "--executor", "local", "--near-dup", "off"])
    assert res.exit_code == 0, res.output
    assert "wrote 14 triplets from 7/8 papers" in res.output
    assert _content(tmp_path / "new") == _content(tmp_path / "old") and len(_content(tmp_path / "old")) == 14
    rows = _rows(tmp_path / "new")
    assert {r["doc_id"] for r in rows} == {f"2401.{i:05d}" for i in range(1, 7)} | {"math/0501001"}
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    moved = {d["doc_id"] for d in manifest["documents"] if "split_note" in d}
    for r in rows:  # per-document hashed splits on the arXiv id (small-corpus fallback aside)
        assert r["doc_id"] in moved or r["split"] == split_of(r["doc_id"], 0)
    assert any(d.get("skipped", "").startswith("PDF only") for d in manifest["documents"])
    from datasets import load_from_disk

    hf = load_from_disk(str(tmp_path / "new" / "hf"))
    assert sum(len(hf[s]) for s in ("train", "validation", "test")) == 14
    # a folder of bulk tars goes to the engine without --executor too, MinHash on (nothing to remove here)
    res = CliRunner().invoke(app, [*args[:4], str(tmp_path / "auto"), *args[5:]])
    assert res.exit_code == 0, res.output
    assert _content(tmp_path / "auto") == _content(tmp_path / "old")
    near = json.loads((tmp_path / "auto" / "manifest.json").read_text())["near_duplicates"]
    assert near["method"] == "minhash" and near["removed"] == 0 and near["triplets_in"] == 14


def test_tasks_workers_and_parquet_do_not_change_the_dataset(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path, 8)
    a = build_at_scale([str(bulk)], tmp_path / "a", SMALL, EngineConfig(tasks=1, near_dup="off"))
    b = build_at_scale(
        [str(bulk)],
        tmp_path / "b",
        SMALL,
        EngineConfig(tasks=3, workers=2, near_dup="off", stage_format="parquet"),
    )
    assert a is not None and b is not None
    assert (tmp_path / "a" / "triplets.jsonl").read_text() == (tmp_path / "b" / "triplets.jsonl").read_text()
    stats = b.manifest["engine"]["stats"]["extract"]
    assert stats["tasks"] == 3
    assert b.manifest["subsets"]["CF5K"]["actual"] == 4 and b.manifest["subsets"]["CF50K"]["actual"] == 8


def test_fsspec_url_source(tmp_path: Path) -> None:
    import fsspec

    data = bulk_tar(tmp_path / "arXiv_src_2402_001.tar", sample_members(2, "2402")).read_bytes()
    with fsspec.open("memory://bucket/src/arXiv_src_2402_001.tar", "wb") as fh:
        fh.write(data)
    rep = build_at_scale(["memory://bucket/src"], tmp_path / "m", SMALL, EngineConfig(near_dup="off"))
    assert rep is not None and {d["doc_id"] for d in rep.manifest["documents"]} == {
        "2402.00001",
        "2402.00002",
        "2402.00003",
        "math/0501001",
    }


def test_folder_of_latex_on_the_engine_is_byte_identical_to_data_build(tmp_path: Path) -> None:
    root = tmp_path / "books"
    for i in range(5):
        (root / f"book{i}").mkdir(parents=True)
        (root / f"book{i}" / "main.tex").write_text(paper_tex(i))
    cfg = BuildConfig(min_context_tokens=8, write_hf=False)
    old = build_dataset([str(root)], tmp_path / "old", cfg)
    new = build_at_scale([str(root)], tmp_path / "new", cfg, EngineConfig(tasks=2, near_dup="off"))
    assert new is not None
    assert (tmp_path / "new" / "triplets.jsonl").read_text() == (
        tmp_path / "old" / "triplets.jsonl"
    ).read_text()
    assert new.manifest["documents"] == old.manifest["documents"]
    assert new.manifest["counts"]["triplets"] == old.manifest["counts"]["triplets"] == 10


def test_cli_engine_option_errors_are_one_line(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path, 1)
    base = ["data", "build", str(bulk), "--out", str(tmp_path / "o")]
    for extra, msg in [
        (["--executor", "slurm"], "needs --slurm-partition"),
        (["--categories", "math.*"], "need --metadata"),
        (["--executor", "spark"], "--executor must be one of"),
    ]:
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output


# ---- metadata join ---------------------------------------------------------------------


def _metadata(tmp_path: Path) -> Path:
    recs = [
        {
            "id": "2401.00001",
            "categories": "math.AG math.NT",
            "license": "http://creativecommons.org/licenses/by/4.0/",
        },
        {"id": "2401.00002v2", "categories": "cs.LG stat.ML", "license": None},
        {
            "id": "2401.00003",
            "categories": "physics.optics",
            "license": "http://creativecommons.org/licenses/by/4.0/",
        },
        {
            "id": "2401.00004",
            "categories": "math.PR",
            "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
        },
        {"id": "math/0501001", "categories": "math.CO", "license": None},
    ]
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return path


_NONEX = "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def test_metadata_snapshot_and_filter_rules(tmp_path: Path) -> None:
    meta = load_metadata(str(_metadata(tmp_path)))
    assert meta["2401.00002"].categories == ("cs.LG", "stat.ML") and meta["2401.00002"].license is None
    f = PaperFilter(categories=("math.*",), licenses=("*creativecommons.org/licenses/by/*", "none"))
    assert f.reason(meta["2401.00001"]) is None
    assert f.reason(meta["2401.00002"]) == "category" and f.reason(meta["2401.00004"]) == "license"
    assert f.reason(meta["math/0501001"]) is None and f.reason(None) == "not_in_metadata"
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "1"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        load_metadata(str(bad))


def test_metadata_join_filters_papers_and_records_licences(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "data",
            "build",
            str(bulk),
            "--out",
            str(tmp_path / "o"),
            "--min-context-tokens",
            "8",
            "--near-dup",
            "off",
        ]
        + ["--metadata", str(_metadata(tmp_path)), "--categories", "math.*", "--licenses", "*/by/*,none"],
    )
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    docs = {d["doc_id"]: d for d in m["documents"]}
    assert set(docs) == {"2401.00001", "math/0501001"}  # cs.LG, physics, wrong licence, unknown ids dropped
    assert docs["2401.00001"]["license"].endswith("/by/4.0/") and docs["math/0501001"]["license"] is None
    assert docs["2401.00001"]["categories"] == ["math.AG", "math.NT"]
    assert m["counts"]["per_license"] == {"http://creativecommons.org/licenses/by/4.0/": 1, "none": 1}
    # without filters every paper is kept and the ones the snapshot lacks are counted as such
    res = CliRunner().invoke(
        app,
        [
            "data",
            "build",
            str(bulk),
            "--out",
            str(tmp_path / "all"),
            "--min-context-tokens",
            "8",
            "--near-dup",
            "off",
        ]
        + ["--metadata", str(_metadata(tmp_path))],
    )
    assert res.exit_code == 0, res.output
    per = json.loads((tmp_path / "all" / "manifest.json").read_text())["counts"]["per_license"]
    assert per == {
        "http://creativecommons.org/licenses/by/4.0/": 2,
        "none": 2,
        "not_in_metadata": 3,
        _NONEX: 1,
    }
    assert m["counts"]["papers_filtered"] == {"category": 2, "license": 1, "not_in_metadata": 3}
    blocks = {b["name"].split(": ")[-1]: b["stats"] for b in m["engine"]["stats"]["extract"]["blocks"]}
    assert blocks["arXiv category / licence"]["forwarded"] == 2  # datatrove's own per-task stats, merged
    assert {r["doc_id"] for r in _rows(tmp_path / "o")} == {"2401.00001", "math/0501001"}


# ---- near duplicates -------------------------------------------------------------------


def test_minhash_removes_planted_near_duplicate_contexts(tmp_path: Path) -> None:
    base = paper_tex(1)
    # paper 2 copies paper 1's paragraphs with two words changed and other formulas: only MinHash sees it
    w = words(10).split()
    near = base.replace(w[5], "changed").replace(w[20], "edited")
    near = near.replace("x^{3} + 1", "x^{3} - 7").replace(r"\frac{y}{2}", r"\frac{y}{9}")
    members = [
        ("2401/2401.00001.gz", gz_single(base)),
        ("2401/2401.00002.gz", gz_single(near)),
        ("2401/2401.00003.gz", gz_single(paper_tex(3))),
    ]
    bulk_tar(tmp_path / "bulk" / "arXiv_src_2401_001.tar", members)
    on = build_at_scale([str(tmp_path / "bulk")], tmp_path / "on", SMALL, EngineConfig(tasks=2))
    off = build_at_scale(
        [str(tmp_path / "bulk")], tmp_path / "off", SMALL, EngineConfig(tasks=2, near_dup="off")
    )
    assert on is not None and off is not None
    assert off.manifest["counts"]["triplets"] == 6
    nd = on.manifest["near_duplicates"]
    assert (
        nd["removed"] == 2
        and nd["triplets_in"] == 6
        and nd["share_removed"] == pytest.approx(2 / 6, abs=1e-6)
    )
    assert on.manifest["counts"]["dropped"]["near_duplicate_context"] == 2
    kept = {r["doc_id"] for r in _rows(tmp_path / "on")}
    assert kept == {"2401.00001", "2401.00003"}  # the first copy in corpus order stays


# ---- resume ----------------------------------------------------------------------------


def test_killed_run_resumes_to_the_same_dataset(tmp_path: Path) -> None:
    members = [(f"2401/2401.{i:05d}.gz", gz_single(paper_tex(i))) for i in range(1, 41)]
    bulk_tar(tmp_path / "bulk" / "arXiv_src_2401_001.tar", members)
    ref = build_at_scale(
        [str(tmp_path / "bulk")], tmp_path / "ref", SMALL, EngineConfig(tasks=8, near_dup="off")
    )
    assert ref is not None
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "formulaforge.cli",
        "data",
        "build",
        str(tmp_path / "bulk"),
        "--out",
        str(out),
    ]
    cmd += ["--executor", "local", "--tasks", "8", "--near-dup", "off", "--min-context-tokens", "8"]
    cmd += ["--cf5k-size", "4", "--cf50k-size", "8", "--keep-work"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])}
    completions = work_dir(out) / "logs" / "extract" / "completions"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not (completions / "00000").exists():
            time.sleep(0.01)
        assert proc.poll() is None, "the build ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done_before = sorted(p.name for p in completions.iterdir())
    assert 1 <= len(done_before) < 8 and not out.exists()
    first_stage = work_dir(out) / "stage" / "00000.jsonl"
    stamp = first_stage.stat().st_mtime_ns
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    assert first_stage.stat().st_mtime_ns == stamp  # the finished task was not run again
    assert (out / "triplets.jsonl").read_text() == (tmp_path / "ref" / "triplets.jsonl").read_text()


def test_changed_settings_never_reuse_the_work_dir(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path, 4)
    keep = EngineConfig(near_dup="off", keep_work=True)
    build_at_scale([str(bulk)], tmp_path / "o", SMALL, keep)
    marker = work_dir(tmp_path / "o") / "formulaforge-work.json"
    first = marker.read_text()
    other = BuildConfig(min_context_tokens=8, write_hf=False, seed=5, subsets=SMALL.subsets)
    build_at_scale([str(bulk)], tmp_path / "o", other, keep)
    assert marker.read_text() != first
    build_at_scale([str(bulk)], tmp_path / "fresh", other, EngineConfig(near_dup="off"))
    assert (tmp_path / "o" / "triplets.jsonl").read_text() == (
        tmp_path / "fresh" / "triplets.jsonl"
    ).read_text()
    foreign = tmp_path / ".x.work"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="not made by FormulaForge"):
        build_at_scale([str(bulk)], tmp_path / "x", SMALL, EngineConfig(near_dup="off"))
    assert (foreign / "mine.txt").read_text() == "keep"


def test_engine_refuses_a_foreign_out_unless_forced(tmp_path: Path) -> None:
    """``data build --engine --force`` must reach the engine's own check and the assembling step."""
    bulk = _bulk_dir(tmp_path, 3)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="pass --force"):
        build_at_scale([str(bulk)], out, SMALL, EngineConfig(near_dup="off"))
    assert (out / "notes.txt").read_text() == "mine"
    rep = build_at_scale([str(bulk)], out, SMALL, EngineConfig(near_dup="off"), force=True)
    assert rep is not None and (out / "triplets.jsonl").is_file() and not (out / "notes.txt").exists()


# ---- Ray ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_executor_gives_the_local_output(tmp_path: Path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        print("SKIP reason: ray is not installed (pip install 'formulaforge[ray]')")
        pytest.skip("ray is not installed (pip install 'formulaforge[ray]')")
    # near_dup off: the MinHash stages are datatrove's own blocks, run on the local executor by the
    # tests above; on Ray each of their 16 tasks pays a worker start (~2 s on 2 busy cores). What
    # this test owns is our blocks (reader, extractor, writer, assembler) crossing Ray's pickling.
    bulk = _bulk_dir(tmp_path)
    local = build_at_scale([str(bulk)], tmp_path / "local", SMALL, EngineConfig(tasks=2, workers=2, near_dup="off"))
    onray = build_at_scale(
        [str(bulk)], tmp_path / "ray", SMALL, EngineConfig(executor="ray", tasks=2, workers=2, near_dup="off")
    )
    assert local is not None and onray is not None
    assert onray.manifest["engine"]["executor"] == "ray"
    assert (tmp_path / "ray" / "triplets.jsonl").read_text() == (
        tmp_path / "local" / "triplets.jsonl"
    ).read_text()


# ---- Slurm (a stand-in sbatch that runs each array task at once) ----------------------------

FAKE_SBATCH = r"""#!/usr/bin/env python3
import os, re, subprocess, sys
script = sys.argv[-1]
text = open(script).read()
m = re.search(r"#SBATCH --array=(\d+)-(\d+)", text)
env = dict(os.environ, SLURM_NODELIST="localhost", SLURM_JOB_ID="7")
for a in sys.argv[1:-1]:
    if a.startswith("--export=ALL,"):
        env.update(kv.split("=", 1) for kv in a[len("--export=ALL,"):].split(","))
with open(os.environ["FAKE_SLURM_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:-1]) + "\n")
for i in range(int(m.group(1)), int(m.group(2)) + 1) if m else [None]:
    if i is not None:
        env["SLURM_ARRAY_TASK_ID"] = str(i)
    subprocess.run(["bash", script], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("Submitted batch job 7")
"""


def test_slurm_executor_submits_dependent_jobs_that_build_the_same_dataset(tmp_path: Path) -> None:
    bulk = _bulk_dir(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, body in {
        "sbatch": FAKE_SBATCH,
        "srun": '#!/bin/bash\nwhile [ "$1" != launch_pickled_pipeline ]; do shift; done\nexec "$@"\n',
        "scontrol": "#!/bin/bash\necho localhost\n",
    }.items():
        (fake / name).write_text(body)
        (fake / name).chmod(0o755)
    src = str(Path(__file__).parents[1] / "src")
    env = {
        "PATH": os.pathsep.join([str(fake), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([src, *sys.path]),
        "FAKE_SLURM_LOG": str(tmp_path / "sbatch.log"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ecfg = EngineConfig(executor="slurm", tasks=2, near_dup="off", slurm_partition="cpu", keep_work=True)
        assert build_at_scale([str(bulk)], tmp_path / "s", SMALL, ecfg) is None  # submitted, not waited for
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    calls = (tmp_path / "sbatch.log").read_text().splitlines()
    assert any("--dependency=afterok:7" in c for c in calls)  # assemble waits for extract
    local = build_at_scale([str(bulk)], tmp_path / "l", SMALL, EngineConfig(tasks=2, near_dup="off"))
    assert local is not None
    assert (tmp_path / "s" / "triplets.jsonl").read_text() == (tmp_path / "l" / "triplets.jsonl").read_text()
