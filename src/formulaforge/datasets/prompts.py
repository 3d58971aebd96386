"""How a stage record's ``input`` becomes the text a model is conditioned on.

Stage files store the *user message* only (instruction + context), never a model's chat
markup, so one dataset serves every model. Training, evaluation and the web UI all call
:func:`render_prompt`, which applies the tokenizer's chat template for instruct models
and a plain template otherwise; the label follows the rendered prompt directly.
"""

from __future__ import annotations

from typing import Any, Protocol

PLAIN_TEMPLATE = "{input}\n\n### Response:\n"
"""Template for base (non-chat) models. ``{input}`` is the stage record's input."""


class _ChatTokenizer(Protocol):
    chat_template: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


def has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def render_prompt(
    user_text: str,
    tokenizer: Any = None,
    *,
    use_chat_template: bool | None = None,
    system: str | None = None,
    plain_template: str = PLAIN_TEMPLATE,
) -> str:
    """Render ``user_text`` as the prompt string that precedes the label.

    ``use_chat_template=None`` means: use the tokenizer's chat template when it has one.
    ``plain_template`` must contain ``{input}``.
    """
    if "{input}" not in plain_template:
        raise ValueError("plain_template must contain '{input}'")
    chat = has_chat_template(tokenizer) if use_chat_template is None else use_chat_template
    if chat:
        if not has_chat_template(tokenizer):
            raise ValueError("use_chat_template=True but the tokenizer has no chat template")
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user_text}
        ]
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    text = plain_template.format(input=user_text)
    return f"{system}\n\n{text}" if system else text
