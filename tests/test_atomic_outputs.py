"""utils.atomic details that protect a user's files, pinned after `make mutation` found them untested."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import pytest

from formulaforge import __version__
from formulaforge.utils import atomic
from formulaforge.utils.atomic import (
    MARKER,
    OutputExistsError,
    check_output,
    claim_output,
    current_umask,
    output_kind,
    write_json_atomic,
)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o027])
def test_current_umask_reads_without_changing_it(mask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        real_open = builtins.open

        def no_proc(file, *a, **k):
            if str(file) == "/proc/self/status":
                raise OSError("no /proc here")
            return real_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", no_proc)  # the portable fallback gives the same answer...
        assert current_umask() == mask
        monkeypatch.undo()
        assert os.umask(mask) == mask  # ...and leaves the umask as it was
    finally:
        os.umask(old)


@pytest.mark.parametrize("text,kind", [('{"kind": "dataset"}', "dataset"), ('["dataset"]', None), ('"dataset"', None),
                                       ('{"kind": 5}', None), ("{not json", None), ('{"other": 1}', None)])
def test_output_kind_reads_only_a_well_formed_marker(tmp_path: Path, text: str, kind: str | None) -> None:
    (tmp_path / MARKER).write_text(text, encoding="utf-8")
    assert output_kind(tmp_path) == kind


def test_marker_names_kind_and_writer(tmp_path: Path) -> None:
    claim_output(tmp_path / "run", "msft-run")
    marker = json.loads((tmp_path / "run" / MARKER).read_text())
    assert marker == {"kind": "msft-run", "written_by": f"formulaforge {__version__}"}


def test_refusal_messages_say_what_is_there_and_what_was_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(OutputExistsError, match="is not empty and was not written here; refusing to replace it"):
        check_output(foreign, "dataset", replaces=True)
    with pytest.raises(OutputExistsError, match="refusing to write into it \\(pass --force to write into it anyway\\)"):
        check_output(foreign, "dataset")
    other = tmp_path / "other"
    claim_output(other, "synth")
    (other / "x").write_text("1")
    with pytest.raises(OutputExistsError, match="holds a FormulaForge synth output, not a dataset"):
        check_output(other, "dataset")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExistsError, match="dangling symbolic link"):
        check_output(link, "dataset")
    assert (foreign / "thesis.tex").read_text() == "mine" and not (foreign / MARKER).exists()


def test_claim_with_force_takes_a_foreign_folder_and_marks_it(tmp_path: Path) -> None:
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError):
        claim_output(foreign, "eval")
    claim_output(foreign, "eval", force=True)
    assert output_kind(foreign) == "eval" and (foreign / "notes.txt").read_text() == "keep"


def test_json_is_written_readably_in_order_and_survives_lone_surrogates(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json_atomic(path, {"z": "ä∑", "a": [1], "bad": "x\ud800y"})
    text = path.read_text(encoding="utf-8")
    assert text.index('"z"') < text.index('"a"')  # insertion order, not sorted
    assert "ä∑" in text and '\n  "a"' in text  # not ASCII-escaped, indented by 2
    assert json.loads(text)["bad"] == "x\ud800y"  # a lone surrogate round-trips as its escape


def test_stale_temporaries_of_killed_runs_are_removed_live_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "out"
    stale = tmp_path / ".out.abc.tmp"
    stale.mkdir()
    (stale / atomic.TMP_LOCK).write_text("")  # lock file with no writer holding it: a killed run
    foreign = tmp_path / ".out.def.tmp"  # no lock file: not ours, never touched
    foreign.mkdir()
    assert atomic.remove_stale_temporaries(target) == [stale]
    assert not stale.exists() and foreign.exists()
