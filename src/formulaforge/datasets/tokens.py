"""Context length in tokens: whitespace words by default, or any Hugging Face tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TokenCounter = Callable[[str], int]


def whitespace_tokens(text: str) -> int:
    return len(text.split())


_CACHE: dict[str, TokenCounter] = {}


def token_counter(tokenizer: str | None) -> TokenCounter:
    """Counter for ``tokenizer`` (a name or local path; ``None`` or "whitespace" = words).

    Loaded with ``trust_remote_code=False``; a name that is not in the local cache fails
    here with a clear error instead of mid-build.
    """
    if tokenizer in (None, "", "whitespace"):
        return whitespace_tokens
    assert tokenizer is not None
    if tokenizer not in _CACHE:
        from transformers import AutoTokenizer

        try:
            tok: Any = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=False)
        except Exception as exc:  # noqa: BLE001 - any load failure is a user error here
            raise ValueError(f"cannot load tokenizer {tokenizer!r}: {exc}") from None

        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

        _CACHE[tokenizer] = count
    return _CACHE[tokenizer]
