"""How a stage record's ``input`` becomes the text a model is conditioned on.

Stage files store the *user message* only (instruction + context), never a model's chat
markup, so one dataset serves every model. Training, evaluation and the web UI all call
:func:`render_prompt`, which applies the tokenizer's chat template for instruct models
and a plain template otherwise; the label follows the rendered prompt directly.
:func:`fit_prompt` keeps a prompt within the input limit by cutting its contexts at their
far ends, never the instruction or the template.
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


Span = tuple[int, int, str]
"""(start, end, side) of a context inside a user message, in characters; ``side`` is the end it is
cut from when the prompt is too long: ``"start"`` for the context before a formula (its far end
is its start), ``"end"`` for the context after it."""


def format_with_spans(template: str, cut_sides: dict[str, str], **fields: str) -> tuple[str, list[Span]]:
    """``template.format(**fields)`` plus the character span of every field named in ``cut_sides``."""
    import string

    out: list[str] = []
    spans: list[Span] = []
    pos = 0
    for literal, name, spec, conv in string.Formatter().parse(template):
        out.append(literal)
        pos += len(literal)
        if name is None:
            continue
        value = format(fields[name], spec or "") if not conv else str(fields[name])
        if name in cut_sides:
            spans.append((pos, pos + len(value), cut_sides[name]))
        out.append(value)
        pos += len(value)
    return "".join(out), spans


def count_tokens(text: str, tokenizer: Any) -> int:
    return len(tokenizer(text, add_special_tokens=not has_chat_template(tokenizer))["input_ids"])


def _cut(text: str, tokens: int, side: str, tokenizer: Any) -> str:
    """``text`` without its first (side "start") or last (side "end") ``tokens`` tokens."""
    if tokens <= 0:
        return text
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc.get("offset_mapping")
    n = len(enc["input_ids"])
    if tokens >= n:
        return ""
    if offsets:
        return text[offsets[tokens][0]:] if side == "start" else text[: offsets[n - tokens - 1][1]]
    keep = int(len(text) * (n - tokens) / n)  # slow tokenizers: proportional to characters
    return text[len(text) - keep:] if side == "start" else text[:keep]


def fit_prompt(
    user_text: str,
    tokenizer: Any,
    max_input: int,
    spans: list[Span] | list[list[Any]] | None = None,
    *,
    system: str | None = None,
) -> str:
    """The rendered prompt of ``user_text``, cut to at most ``max_input`` tokens at the contexts' far ends.

    Only the contexts in ``spans`` are cut (the context before a formula from its start, the
    one after from its end, the longer one first), so the text next to the formula, the
    instruction and the template survive. Without spans, the user text is cut from its end.
    The instruction and the chat template are never cut: a prompt whose fixed part alone is
    longer than ``max_input`` comes back with empty contexts, longer than the limit.
    """
    rendered = render_prompt(user_text, tokenizer, system=system)
    over = count_tokens(rendered, tokenizer) - max_input
    if over <= 0:
        return rendered
    parts: list[Span] = [(int(s), int(e), str(side)) for s, e, side in spans] if spans else [
        (0, len(user_text), "end")]
    parts.sort()
    texts = [user_text[s:e] for s, e, _ in parts]
    lengths = [count_tokens(t, tokenizer) if t else 0 for t in texts]
    cuts = [0] * len(parts)
    for _ in range(8):  # re-rendering can shift a boundary token or two: tighten until it fits
        need = over
        while need > 0 and any(n - c > 0 for n, c in zip(lengths, cuts)):
            i = max(range(len(parts)), key=lambda k: lengths[k] - cuts[k])  # the longer context first
            cuts[i] += 1
            need -= 1
        pieces, pos = [], 0
        for (s, e, side), text, c in zip(parts, texts, cuts):
            pieces += [user_text[pos:s], _cut(text, c, side, tokenizer)]
            pos = e
        pieces.append(user_text[pos:])
        rendered = render_prompt("".join(pieces), tokenizer, system=system)
        over = count_tokens(rendered, tokenizer) - max_input
        if over <= 0 or all(n - c <= 0 for n, c in zip(lengths, cuts)):
            break
    return rendered
