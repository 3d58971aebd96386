"""Issue 17, item 5: corrupt or non-finite weights are refused with one line (exit 2), never a
``SafetensorError`` traceback or silent empty output. The hostile files are made in the test."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
import torch
from msft_helpers import randomize_adapters, save_tiny_with_tokenizer
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.models.loading import load_model
from formulaforge.models.msft import MSFTAdapter, MSFTConfig
from formulaforge.models.msft.io import export_lora, save_run
from formulaforge.models.weights import WeightsError, load_safetensors

STAGE1 = "stage1/adapter_model.safetensors"
PLUGIN = "stage2/plugin.safetensors"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("weights")
    base = save_tiny_with_tokenizer("llama", tmp / "base")
    model = load_model(str(base))
    adapter = MSFTAdapter.inject(model, MSFTConfig(r1=4, alpha=8, r2=8, r3=2, dropout=0.0), [1, 2])
    randomize_adapters(adapter)
    save_run(tmp / "run", adapter, str(base))
    export_lora(adapter, tmp / "peft", str(base))
    return tmp


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _huge_header(p: Path) -> None:
    p.write_bytes(struct.pack("<Q", 3 * 1024**3) + b"{" + b" " * 64)


def _garbled_header(p: Path) -> None:
    body = b'{"x": not json}'
    p.write_bytes(struct.pack("<Q", len(body)) + body)


def _nan(p: Path) -> None:
    tensors = load_file(str(p))
    name = min(tensors)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(p), metadata={"format": "pt"})


BREAKS = {"truncated": _truncate, "empty": _empty, "huge header": _huge_header, "garbled": _garbled_header}


@pytest.mark.parametrize("how", list(BREAKS))
def test_load_safetensors_one_line_errors(tmp_path: Path, how: str) -> None:
    p = tmp_path / "w.safetensors"
    save_file({"a": torch.ones(64, 64)}, str(p))
    BREAKS[how](p)
    with pytest.raises(WeightsError, match=str(p)) as err:
        load_safetensors(p)
    assert "\n" not in str(err.value)


def _cli(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


@pytest.mark.parametrize("how", [*BREAKS, "nan"])
@pytest.mark.parametrize("which", [STAGE1, PLUGIN])
def test_generate_and_export_refuse_bad_run_weights(good: Path, tmp_path: Path, how: str, which: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(good / "run", run)
    (BREAKS.get(how) or _nan)(run / which)
    code, out = _cli("generate", "--model", good / "base", "--stages", run, "--prompt", "x", "--max-new-tokens", 2)
    assert code == 2 and "Traceback" not in out and which.split("/")[1] in out, out
    if how == "nan":
        assert "NaN" in out and "tensor " in out
    code, out = _cli("export", "lora", run, "--out", tmp_path / "exported")
    assert code == 2 and which.split("/")[1] in out and "Traceback" not in out, out
    assert not (tmp_path / "exported").exists()


@pytest.mark.parametrize("how", ["truncated", "nan"])
def test_generate_refuses_bad_peft_adapter(good: Path, tmp_path: Path, how: str) -> None:
    peft = tmp_path / "peft"
    shutil.copytree(good / "peft", peft)
    (BREAKS.get(how) or _nan)(peft / "adapter_model.safetensors")
    code, out = _cli("generate", "--model", good / "base", "--adapter", peft, "--prompt", "x", "--max-new-tokens", 2)
    assert code == 2 and "adapter_model.safetensors" in out and "Traceback" not in out, out
