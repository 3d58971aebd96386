"""Issue 17, item 6: ``synth check`` never loses its work at the last step, and bad rows are one line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.utils.atomic import write_json_atomic
from formulaforge.utils.jsonl import read_jsonl, write_jsonl

REC = {"id": "a", "verifier": "exact_integer", "answer_srepr": "Integer(1)", "task": "addition"}


def _check(tmp_path: Path, preds: list, recs: list | None = None, out: bool = True) -> tuple[int, str, Path]:
    r = tmp_path / "r.jsonl"
    r.write_text("".join(json.dumps(x) + "\n" for x in (recs or [REC, {**REC, "id": "b"}])))
    p = tmp_path / "p.jsonl"
    p.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in preds))
    report = tmp_path / "report.json"
    args = ["synth", "check", str(r), "--predictions", str(p)] + (["--out", str(report)] if out else [])
    res = CliRunner().invoke(app, args)
    return res.exit_code, res.output, report


def test_lone_surrogate_in_an_output_still_writes_the_report(tmp_path: Path) -> None:
    code, out, report = _check(tmp_path, [{"id": "a", "output": "\\boxed{1}"}, {"id": "b", "output": "\\boxed{2\ud800}"}])
    assert code == 0, out
    data = json.loads(report.read_text(encoding="utf-8"))  # valid UTF-8 and valid JSON
    assert data["summary"]["n"] == 2 and data["summary"]["correct"] == 1
    assert "\ud800" in json.dumps(data, ensure_ascii=False)  # the text round-trips, escape and all


def test_jsonl_and_json_writers_survive_surrogates(tmp_path: Path) -> None:
    rows = [{"x": "ok \udcff end"}]
    write_jsonl(tmp_path / "a.jsonl", rows)
    assert list(read_jsonl(tmp_path / "a.jsonl")) == rows
    write_json_atomic(tmp_path / "b.json", rows[0])
    assert json.loads((tmp_path / "b.json").read_bytes().decode("utf-8")) == rows[0]


def test_wrong_types_and_duplicates_are_one_line_errors(tmp_path: Path) -> None:
    code, out, _ = _check(tmp_path, [{"id": "a", "output": "1", "prompt": 5}])
    assert code == 2 and "'prompt' must be a string, got int" in out and "Traceback" not in out
    code, out, _ = _check(tmp_path, [{"id": "a", "output": ["1"]}])
    assert code == 2 and "'output' must be a string" in out
    code, out, _ = _check(tmp_path, ["5"])
    assert code == 2 and "expected a JSON object" in out
    code, out, report = _check(tmp_path, [{"id": "a", "output": "1"}, {"id": "a", "output": "1"}])
    assert code == 2 and "row 2 repeats id 'a' (first at row 1)" in out and not report.exists()
    code, out, _ = _check(tmp_path, [{"id": "a", "output": "1"}], recs=[REC, REC])
    assert code == 2 and "repeats id 'a'" in out
    (tmp_path / "dir").mkdir()
    res = CliRunner().invoke(app, ["synth", "check", str(tmp_path / "r.jsonl"), "--predictions",
                                   str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "dir")])
    assert res.exit_code == 2 and "is a folder" in res.output
