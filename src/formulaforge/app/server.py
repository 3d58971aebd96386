"""Build and launch the Gradio app (``formulaforge app``).

Safe defaults: bound to 127.0.0.1, a bounded request queue with one model call at a time,
no file uploads (Gradio's upload endpoints answer 403, see :class:`RefuseUploads`) and no file serving beyond Gradio's own cache (the tabs read files only
through :class:`~formulaforge.app.workspace.Workspace`), analytics off, errors as
one-line messages.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

from formulaforge.app.context import AppContext

log = logging.getLogger("formulaforge.app")
TABS = ("Formula from context", "Math problems", "Operation trees", "Dataset explorer", "Run")


def build_app(ctx: AppContext) -> Any:
    """The ``gr.Blocks`` app, queued (call ``.launch`` or use :func:`launch`)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from formulaforge.app.tabs import datasets, formula, problems, runs, trees

    ws = ctx.workspace
    where = f"run `{ws.run_dir.name}`" if ws.run_dir else "no run directory (base model only)"
    with gr.Blocks(title="FormulaForge", analytics_enabled=False) as demo:
        gr.Markdown(f"# FormulaForge\nModel `{ws.model_name}` · {where}", elem_id="ff-header")
        with gr.Tabs():
            for name, module in zip(TABS, (formula, problems, trees, datasets, runs), strict=True):
                with gr.Tab(name, id=name.split()[0].lower()):
                    module.build(ctx)
    demo.queue(default_concurrency_limit=ctx.limits.concurrency, max_size=ctx.limits.queue_size)
    return demo


# Gradio serves an upload endpoint (and a screen-recording one) whatever the components are; no tab
# takes files, so requests to them are refused before a byte reaches Gradio's temp folder.
UPLOAD_PATHS = ("/upload", "/process_recording")


class RefuseUploads:
    """ASGI middleware: 403 for Gradio's upload endpoints (the app takes no files)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path", "").rstrip("/").endswith(UPLOAD_PATHS):
            body = b"uploads are disabled in the FormulaForge app"
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def launch(ctx: AppContext, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> Any:
    """Start the server; ``block=False`` returns at once (tests, benchmarks) with the Blocks."""
    if not is_loopback(host):
        log.warning("serving on %s: anyone who can reach this address can use the models", host)
    demo = build_app(ctx)
    from starlette.middleware import Middleware

    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, show_error=False,
                quiet=not block, max_file_size=0, ssr_mode=False, allowed_paths=[],
                app_kwargs={"middleware": [Middleware(RefuseUploads)]})
    return demo
