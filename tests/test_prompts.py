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


def _chat_tokenizer():
    from msft_helpers import tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    return tok


def test_fit_prompt_cuts_contexts_at_their_far_ends() -> None:
    from formulaforge.datasets.prompts import count_tokens, fit_prompt, format_with_spans
    from formulaforge.datasets.stage_templates import StageTemplates

    tok = _chat_tokenizer()
    before = " ".join(f"early{i}" for i in range(40)) + " NEAR_BEFORE"
    after = "NEAR_AFTER " + " ".join(f"late{i}" for i in range(40))
    tpl = StageTemplates().stage1
    text, spans = format_with_spans(tpl, {"context_before": "start", "context_after": "end"},
                                    context_before=before, context_after=after)
    assert [text[s:e] for s, e, _ in spans] == [before, after]
    full = count_tokens(fit_prompt(text, tok, 10**6, spans), tok)
    fixed = count_tokens(fit_prompt(text.replace(before, "").replace(after, ""), tok, 10**6), tok)
    limit = fixed + (full - fixed) // 3
    prompt = fit_prompt(text, tok, limit, spans)
    assert count_tokens(prompt, tok) <= limit
    instruction = tpl.split("{context_before}")[0]
    assert prompt.startswith("<|user|>" + instruction) and prompt.endswith("<|assistant|>")
    assert "NEAR_BEFORE" in prompt and "NEAR_AFTER" in prompt  # the text next to the formula survives
    assert "early0 " not in prompt and "late39" not in prompt  # the far ends went
    # the old behaviour (the last `limit` tokens) lost the chat header and the instruction
    ids = tok(fit_prompt(text, tok, 10**6, spans), add_special_tokens=False)["input_ids"][-limit:]
    assert not tok.decode(ids).startswith("<|user|>")


def test_fit_prompt_never_cuts_the_instruction() -> None:
    from formulaforge.datasets.prompts import fit_prompt

    tok = _chat_tokenizer()
    text = "Write the formula.\n\nContext: " + "word " * 50
    prompt = fit_prompt(text, tok, 12, [(29, len(text), "end")])
    assert prompt == "<|user|>Write the formula.\n\nContext: <|assistant|>"  # longer than 12: kept whole
    assert fit_prompt("short", tok, 100) == "<|user|>short<|assistant|>"
