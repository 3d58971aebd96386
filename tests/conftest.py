"""Shared fixtures: tiny random causal LMs with a real tokenizer, built in code (no downloads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core: each keeps to one thread so that two workers
    # do not fight over two cores (subprocesses the tests start inherit the setting).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first (in file order otherwise).

    With two xdist workers the suite ends when the later worker does; a 40-second test handed
    out last keeps one worker busy while the other idles. Starting the long ones first lets the
    many short tests fill in behind them. The order is the same on every worker, as xdist needs.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:  # noqa: ANN001
    """A folder ``build(folder)`` fills once per test session, shared by the xdist workers.

    A module fixture is built once per worker that runs one of its tests; for a fixture that
    costs seconds (generated data, a saved model) the second worker reads the first one's
    folder instead. The workers' temp folders share a parent; a file lock there makes the
    second wait while the first builds. Without xdist it is the session's own temp folder.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / f"built-once-{name}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".built").is_file():
            if folder.exists():  # a build of ours that failed half-way: start it again
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (or $FORMULAFORGE_SHARED/data); None when absent."""
    candidates = [os.environ.get("FORMULAFORGE_SHARED"), REPO.parent / "shared", Path("/work/shared")]
    for c in candidates:
        if c and (Path(c) / "data").is_dir():
            return Path(c) / "data"
    return None


def build_tiny_tokenizer():  # noqa: ANN201 - transformers type
    """A byte-level BPE tokenizer trained in code on a little LaTeX, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        r"The energy is $E = mc^2$ where \frac{a}{b} + \sum_{i=1}^n x_i^2 = \int_0^1 f(x) dx.",
        "Given the context, write the formula. ### Response: \\alpha + \\beta = \\gamma",
    ] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "</s>", "<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", bos_token="<s>")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama saved with save_pretrained (safetensors) plus its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    def build(out: Path) -> None:
        tokenizer = build_tiny_tokenizer()
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
        )
        LlamaForCausalLM(config).save_pretrained(out)
        tokenizer.save_pretrained(out)

    return built_once(tmp_path_factory, "tiny-llama", build)
