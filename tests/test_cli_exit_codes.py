"""`report` and `generate` answer bad input with one line and exit status 2 (never a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from msft_helpers import save_tiny_with_tokenizer
from typer.testing import CliRunner

from formulaforge.cli import app


def _invoke(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def _one_clear_line(out: str, needle: str) -> None:
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], out
    assert "Traceback" not in out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exit-codes") / "base"
    save_tiny_with_tokenizer("llama", path)
    return path


def test_report_on_a_missing_or_empty_run_exits_2(tmp_path: Path) -> None:
    code, out = _invoke("report", tmp_path / "nowhere")
    assert code == 2
    _one_clear_line(out, "not found")
    (tmp_path / "empty").mkdir()
    code, out = _invoke("report", tmp_path / "empty")
    assert code == 2
    _one_clear_line(out, "no evaluated rows")


def test_generate_with_a_missing_model_exits_2(tmp_path: Path) -> None:
    code, out = _invoke("generate", "--model", tmp_path / "no-model", "--prompt", "x")
    assert code == 2
    _one_clear_line(out, "not found")


def test_generate_with_a_folder_that_is_not_a_run_exits_2(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "not-a-run").mkdir()
    code, out = _invoke("generate", "--model", tiny_model, "--stages", tmp_path / "not-a-run", "--prompt", "x")
    assert code == 2
    _one_clear_line(out, "not an MSFT run folder")
