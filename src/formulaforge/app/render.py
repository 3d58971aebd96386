"""Markdown for the page: formulas rendered by the browser's KaTeX, sources shown verbatim.

Gradio's Markdown component renders ``$$...$$`` with the KaTeX it bundles (no network) and
sanitizes HTML, so model output cannot inject markup. What we add: a formula may not close
the math delimiters early or smuggle a fence, and every rendered formula sits next to its
LaTeX source, so a KaTeX error never hides what the model wrote.
"""

from __future__ import annotations

import html

LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
]
MAX_SHOWN_CHARS = 2000


def _safe_math(latex: str) -> str:
    text = latex.strip()[:MAX_SHOWN_CHARS]
    return text.replace("$", "\\$").replace("```", "` ` `")


def math_block(latex: str) -> str:
    """A display formula, or a note when there is none."""
    text = _safe_math(latex)
    return f"$$\n{text}\n$$" if text else "*(no formula)*"


def source_block(text: str) -> str:
    """Verbatim text in a fenced block (never interpreted as Markdown or math)."""
    body = text[:MAX_SHOWN_CHARS].replace("```", "` ` `")
    return f"```latex\n{body}\n```"


def formula_card(title: str, latex: str, raw: str | None = None) -> str:
    """Heading, rendered formula, its LaTeX source (and the raw output when it differs)."""
    parts = [f"**{html.escape(title)}**", math_block(latex), source_block(latex or "")]
    if raw is not None and raw.strip() != (latex or "").strip():
        parts.append("<details><summary>raw output</summary>\n\n" + source_block(raw) + "\n\n</details>")
    return "\n\n".join(parts)


def error_markdown(message: str) -> str:
    return f"**Error:** {html.escape(message)}"
