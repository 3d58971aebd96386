from __future__ import annotations

import pytest

from formulaforge.datasets.prompts import render_prompt


class _FakeChatTokenizer:
    chat_template = "x"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # noqa: ANN001
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def test_plain_template_for_base_models() -> None:
    assert render_prompt("ctx") == "ctx\n\n### Response:\n"
    assert render_prompt("ctx", plain_template="Q: {input}\nA:") == "Q: ctx\nA:"
    with pytest.raises(ValueError):
        render_prompt("ctx", plain_template="no slot")


def test_chat_template_when_available() -> None:
    tok = _FakeChatTokenizer()
    assert render_prompt("ctx", tok) == "<user>ctx</user><assistant>"
    assert render_prompt("ctx", tok, system="S").startswith("<system>S</system>")
    assert render_prompt("ctx", tok, use_chat_template=False) == "ctx\n\n### Response:\n"
    with pytest.raises(ValueError):
        render_prompt("ctx", None, use_chat_template=True)
