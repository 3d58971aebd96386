"""Issue 17, items 8 and 9: a single .tex reads only what TeX would read for it, and include fan-out
is bounded. The trees are built in the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from formulaforge.sources import latex_docs
from formulaforge.sources.fileset import FileSet
from formulaforge.sources.latex_flatten import MAX_ERRORS_LISTED, MAX_INCLUDES, flatten

DOC = "\\documentclass{article}\n\\begin{document}\n%s\n\\end{document}\n"


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "sections").mkdir(parents=True)
    (home / "paper.tex").write_text(DOC % "Start\n\\input{sections/intro}\n\\input{notes}\n\\input{../outside}\nEnd")
    (home / "sections" / "intro.tex").write_text("Intro text\n\\input{sections/deeper}\n")
    (home / "sections" / "deeper.tex").write_text("Deeper text\n")
    deep = home / "other" / "project" / "deep"
    deep.mkdir(parents=True)
    (deep / "notes.tex").write_text("UNRELATED PRIVATE NOTES\n")
    (tmp_path / "outside.tex").write_text("OUTSIDE THE FOLDER\n")
    return home


def test_single_file_resolves_includes_as_tex_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path)
    monkeypatch.setattr(FileSet, "from_dir", classmethod(lambda *a, **k: pytest.fail("scanned the folder tree")))
    specs, errors = latex_docs.discover(str(home / "paper.tex"), home / "paper.tex")
    assert errors == [] and len(specs) == 1
    doc = latex_docs.load_document(specs[0])
    text = doc.flat.text
    assert "Intro text" in text and "Deeper text" in text
    assert "UNRELATED PRIVATE NOTES" not in text and "OUTSIDE THE FOLDER" not in text
    reasons = [why for _, why in doc.errors]
    assert any("'notes' not found" in r for r in reasons) and any("'../outside' not found" in r for r in reasons)
    assert set(doc.flat.files) == {"paper.tex", "sections/intro.tex", "sections/deeper.tex"}


def test_directory_sources_keep_their_suffix_fallback(tmp_path: Path) -> None:
    fs = FileSet.from_dir(_home(tmp_path))
    assert fs.resolve("notes", "paper.tex", "paper.tex") == "other/project/deep/notes.tex"


def test_include_fan_out_is_bounded(tmp_path: Path) -> None:
    levels = 21  # 2^21 inclusions requested
    for i in range(levels):
        (tmp_path / f"f{i}.tex").write_text(f"text {i}\n\\input{{f{i + 1}}} \\input{{f{i + 1}}}\n")
    (tmp_path / f"f{levels}.tex").write_text("leaf\n")
    (tmp_path / "main.tex").write_text(DOC % "\\input{f0}")
    t0 = time.process_time()
    res = flatten(FileSet.from_dir(tmp_path), "main.tex")
    cpu = time.process_time() - t0
    assert len(res.errors) <= MAX_ERRORS_LISTED + 2  # + the cap notice + the count of the rest
    assert any(f"more than {MAX_INCLUDES} inclusions" in why for _, why in res.errors)
    assert "more inclusion problems not listed" in res.errors[-1][1]
    assert res.flat.text.count("leaf") <= MAX_INCLUDES
    assert cpu < 20, cpu
