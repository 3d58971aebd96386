"""Wire a handler to Gradio: request logging, and errors as page messages (never tracebacks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from formulaforge.app.context import AppContext, PageError


def bind(ctx: AppContext, tab: str, action: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A callable for ``event(fn=...)``: ``fn(ctx, *inputs, request=...)`` under ``ctx.handle``."""
    import gradio as gr

    handled = ctx.handle(tab, action)(fn)

    def run(*args: Any) -> Any:
        try:
            return handled(ctx, *args)
        except PageError as exc:
            raise gr.Error(str(exc), title=f"{tab}: {action}", print_exception=False) from None

    run.__name__ = f"{tab}_{action}".replace(" ", "_").lower()
    return run
