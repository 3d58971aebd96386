"""Issue 17, items 9 and 10: the manifest's problem list and the contexts are capped and counted, and
"no documents found" says why. Corpora are written in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets import builder
from formulaforge.datasets.builder import MAX_CONTEXT_CHARS, BuildConfig, build_dataset

WORDS = " ".join(f"word{i}" for i in range(60))


def _doc(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    return folder


def test_manifest_problem_list_is_capped_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "\n".join(f"\\input{{missing{i}}}" for i in range(30))
    src = _doc(tmp_path / "src" / "p", f"{WORDS}\n\\begin{{equation}}x = 1\\end{{equation}}\n{WORDS}\n{missing}")
    monkeypatch.setattr(builder, "MAX_MANIFEST_ERRORS", 7)
    m = build_dataset([str(src)], tmp_path / "out", BuildConfig(min_context_tokens=1, write_hf=False)).manifest
    assert len(m["errors"]) == 7
    assert m["counts"]["problems"] == {"listed": 7, "not_listed": 23}


def test_long_contexts_are_clipped_near_the_formula_and_counted(tmp_path: Path) -> None:
    long_words = " ".join(f"w{i}" for i in range(12_000))  # ~80,000 characters in one paragraph
    src = _doc(tmp_path / "src" / "p", f"{long_words} \\begin{{equation}}y = 2\\end{{equation}} {long_words}")
    m = build_dataset([str(src)], tmp_path / "out", BuildConfig(min_context_tokens=1, write_hf=False)).manifest
    rows = (tmp_path / "out" / "triplets.jsonl").read_text().splitlines()
    import json

    row = json.loads(rows[0])
    assert len(row["context_before"]) <= MAX_CONTEXT_CHARS and len(row["context_after"]) <= MAX_CONTEXT_CHARS
    assert row["context_before"].endswith("w11999") and row["context_after"].startswith("w0 ")
    assert m["counts"]["contexts_clipped"] == 2 and m["settings"]["max_context_chars"] == MAX_CONTEXT_CHARS


def test_no_documents_found_says_why(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "bin2.tex").write_bytes(b"\\documentclass{article}\x00" + b"x" * 100)  # latin-1 files decode now
    (d / "bin.tex").write_bytes(b"\\documentclass{article}\x00")
    res = CliRunner().invoke(app, ["data", "build", str(d), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "2 file(s) unusable" in res.output
    assert res.output.count("binary file") == 2
    (tmp_path / "e").mkdir()
    res = CliRunner().invoke(app, ["data", "build", str(tmp_path / "e"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no LaTeX main file" in res.output
    single = tmp_path / "bin.tex"
    single.write_bytes(b"\x00\x01binary")
    res = CliRunner().invoke(app, ["data", "build", str(single), "--out", str(tmp_path / "o")])
    assert "binary file" in res.output
