"""Issue 17, item 10: the web app takes no uploads (its endpoints answer 403) and an absurd dataset page
is a one-line message, not a raw Python error."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from app_helpers import free_port, make_tiny_run

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.limits import AppLimits
from formulaforge.app.workspace import Workspace


@pytest.fixture(scope="module")
def ctx(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    context = AppContext(Workspace.open(make_tiny_run(tmp_path_factory.mktemp("app-limits"), tiny_llama_dir)),
                         AppLimits(max_new_tokens=4))
    yield context
    context.close()


@pytest.mark.parametrize("page", [10**18, float("nan"), float("inf"), 0, -3])
def test_absurd_pages_are_one_line_errors(ctx: AppContext, page: float) -> None:
    from formulaforge.app.tabs import datasets

    with pytest.raises(ValueError, match=r"^page must be a whole number from 1 to 1,000,000,000$"):
        datasets.browse(ctx, "data/triplets.jsonl", page, request=Request("t", "browse"))



def test_uploads_are_refused_before_reaching_the_temp_folder(ctx: AppContext) -> None:
    from formulaforge.app.server import launch

    port = free_port()
    demo = launch(ctx, port=port, block=False)
    try:
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=30) as res:
            assert res.status == 200
        body = (b"--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n"
                b"Content-Type: text/plain\r\n\r\n" + b"A" * 1000 + b"\r\n--XX--\r\n")
        for path in ("/gradio_api/upload", "/upload", "/gradio_api/upload/", "/gradio_api/process_recording"):
            request = urllib.request.Request(base + path, data=body, method="POST",
                                             headers={"Content-Type": "multipart/form-data; boundary=XX"})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=30)
            assert err.value.code == 403, path
    finally:
        demo.close()
