"""stream_greedy never leaves its reader waiting: a generate that fails ends the stream with its error."""

from __future__ import annotations

import time

import pytest

from msft_helpers import save_tiny_with_tokenizer


def test_a_failing_generate_ends_the_stream_with_its_error(tmp_path) -> None:  # noqa: ANN001
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from formulaforge.models.generation import stream_greedy

    save_tiny_with_tokenizer("llama", tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert list(stream_greedy(model, tok, "a b", 3))  # the working case yields text

    def broken(**kwargs):  # noqa: ANN003, ANN202
        raise RuntimeError("out of memory on the device")

    model.generate = broken
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="out of memory"):
        list(stream_greedy(model, tok, "a b", 3, max_time=5))
    assert time.perf_counter() - t0 < 5  # not the streamer's timeout

