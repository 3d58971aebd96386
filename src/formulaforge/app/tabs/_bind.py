"""Wire a handler to Gradio: request logging, and errors as page messages (never tracebacks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from formulaforge.app.context import AppContext, PageError


def bind(ctx: AppContext, tab: str, action: str, fn: Callable[..., Any], *,
         inline: tuple[int, int] | None = None) -> Callable[..., Any]:
    """A callable for ``event(fn=...)``: ``fn(ctx, *inputs, request=...)`` under ``ctx.handle``.

    ``inline=(n_outputs, i)``: an error becomes the message in output ``i`` and every other
    output is cleared, so the message sits where the result would have been and no stale
    result from an earlier action stays on the page. Without it the error is a toast.
    """
    import gradio as gr

    handled = ctx.handle(tab, action)(fn)

    def run(visitor: Any, *args: Any) -> Any:
        from formulaforge.app.render import error_markdown

        session = str(getattr(visitor, "session_hash", "") or "")
        try:
            return handled(ctx, *args, _session=session)
        except PageError as exc:
            if inline is not None:
                n, i = inline
                cleared: list[Any] = [None] * n
                cleared[i] = error_markdown(str(exc))
                return tuple(cleared) if n > 1 else cleared[0]
            raise gr.Error(str(exc), title=f"{tab}: {action}", print_exception=False) from None

    run.__annotations__ = {"visitor": gr.Request}  # Gradio passes the visitor's request here
    run.__name__ = f"{tab}_{action}".replace(" ", "_").lower()
    return run
