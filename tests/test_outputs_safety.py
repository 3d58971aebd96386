"""Issue 17, items 1, 7, 9, 10: output folders never destroy a user's work.

Every command that writes a folder refuses a non-empty one it did not write (a marker it
writes itself says so, not a file name) unless --force, and touches nothing before it checks;
atomically written folders follow the umask; leftovers of killed runs are cleaned on rerun.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.utils.atomic import (
    MARKER,
    TMP_LOCK,
    OutputExistsError,
    atomic_dir,
    atomic_open,
    check_output,
    claim_output,
)


def _thesis(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("six years of work")
    return folder


def _untouched(folder: Path) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["thesis.tex"] and (
        (folder / "thesis.tex").read_text() == "six years of work"
    )


def test_atomic_dir_refuses_foreign_folders_and_replaces_its_own(tmp_path: Path) -> None:
    user = _thesis(tmp_path / "v")
    with pytest.raises(OutputExistsError, match="not empty and was not written here.*--force"), \
            atomic_dir(user, "dataset"):
        raise AssertionError("the body must not run")
    assert _untouched(user)
    fake = tmp_path / "fake"  # a manifest.json proves nothing
    fake.mkdir()
    (fake / "manifest.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        check_output(fake, "dataset")
    out = tmp_path / "ds"
    for n in (1, 2):  # its own kind is replaced
        with atomic_dir(out, "dataset") as tmp:
            (tmp / "n").write_text(str(n))
    assert (out / "n").read_text() == "2"
    with pytest.raises(OutputExistsError, match="holds a FormulaForge dataset output, not a synth-dataset"):
        check_output(out, "synth-dataset")
    with atomic_dir(user, "dataset", force=True) as tmp:
        (tmp / "n").write_text("forced")
    assert not (user / "thesis.tex").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        check_output(tmp_path / "afile", "dataset", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "ds", "fake", "v"]  # no temporaries left


def test_claim_output_marks_and_refuses(tmp_path: Path) -> None:
    run = claim_output(tmp_path / "r", "msft-run")
    assert (run / MARKER).is_file()
    (run / "weights").write_text("w")
    claim_output(run, "msft-run")  # a rerun resumes its own folder
    with pytest.raises(OutputExistsError, match="msft-run output, not a lora-export"):
        check_output(run, "lora-export")
    user = _thesis(tmp_path / "u")
    with pytest.raises(OutputExistsError):
        claim_output(user, "eval")
    assert _untouched(user)


def test_synth_generate_keeps_the_users_folder(tmp_path: Path) -> None:
    user = _thesis(tmp_path / "v")
    res = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "10", "--out", str(user)])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    assert _untouched(user)
    out = tmp_path / "s"
    for _ in range(2):  # its own output is replaced
        res = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "10", "--out", str(out)])
        assert res.exit_code == 0, res.output
    forced = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "10", "--out", str(user), "--force"])
    assert forced.exit_code == 0 and (user / "train.jsonl").is_file() and not (user / "thesis.tex").exists()


def test_data_build_does_not_wipe_a_pipeline_run(tmp_path: Path) -> None:
    from corpus_helpers import write_corpus

    run = claim_output(tmp_path / "runs" / "demo", "pipeline-run")
    (run / "manifest.json").write_text('{"steps": {}}')
    (run / "config.yaml").write_text("name: demo\n")
    res = CliRunner().invoke(app, ["data", "build", str(write_corpus(tmp_path)), "--out", str(run)])
    assert res.exit_code == 2 and "pipeline-run output, not a dataset" in res.output
    assert (run / "config.yaml").read_text() == "name: demo\n"


def test_export_refuses_to_overwrite_the_run_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from formulaforge.commands import export

    run = claim_output(tmp_path / "RUN", "msft-run")
    (run / "msft.json").write_text("{}")
    monkeypatch.setattr(export, "_load", lambda *a: (_ for _ in ()).throw(AssertionError("loaded a model")))
    for kind in ("lora", "merged"):
        res = CliRunner().invoke(app, ["export", kind, str(run), "--out", str(run)])
        assert res.exit_code == 2 and "msft-run output" in res.output, res.output
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "msft.json"]


def test_run_checks_before_writing_config_yaml(tmp_path: Path) -> None:
    user = _thesis(tmp_path / "DIR")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "data": {"sources": ["docstrings:math"]}}))
    res = CliRunner().invoke(app, ["run", str(recipe), "--out", str(user)])
    assert res.exit_code == 2 and "--force" in res.output, res.output
    assert _untouched(user)


@pytest.mark.parametrize("where", [".", ".."])
def test_out_dot_and_dotdot_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    inner = _thesis(tmp_path / "work")
    monkeypatch.chdir(inner)
    res = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "5", "--out", where, "--force"])
    assert res.exit_code == 2 and "current folder" in res.output and "Traceback" not in res.output
    assert _untouched(inner)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        with atomic_dir(tmp_path / "shared", "dataset") as tmp:
            (tmp / "rows.jsonl").write_text("{}\n")
        with atomic_open(tmp_path / "shared" / "note.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tmp_path / "shared" / "note.txt").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "shared" / MARKER).stat().st_mode) == 0o666 & ~mask


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "OUT"
    stale = tmp_path / ".OUT.killed.tmp"  # what a SIGKILL leaves: our lock file, nobody holding it
    stale.mkdir()
    (stale / TMP_LOCK).write_text("")
    (stale / "half.jsonl").write_text("{")
    live = tmp_path / ".OUT.live.tmp"  # another run still writing: its lock is held
    live.mkdir()
    fd = os.open(live / TMP_LOCK, os.O_CREAT | os.O_WRONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    foreign = tmp_path / ".OUT.user.tmp"  # same shape of name, not ours (no lock file)
    foreign.mkdir()
    try:
        with atomic_dir(out, "dataset") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.close(fd)
    assert not stale.exists() and live.is_dir() and foreign.is_dir() and (out / "x").is_file()
