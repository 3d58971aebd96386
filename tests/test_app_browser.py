"""The web UI driven as a person would, in headless Chromium (Debian ``chromium`` + Playwright).

Skips, with the reason printed, only where no browser is installed; ``.ci/run`` installs one.
Screenshots land in the test's output folder (``tmp_path``), printed at the end.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from app_helpers import add_eval_rows, free_port, make_tiny_run
from conftest import built_once

# No GPU, root in CI, and a closed network: no background connections that would be refused.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("FORMULAFORGE_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None



@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("gradio", reason="the web UI needs the 'app' extra (gradio)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    exe = chromium_path()
    if exe is None:
        print("SKIP reason: no Chromium found (apt-get install chromium, or set FORMULAFORGE_CHROMIUM)")
        pytest.skip("no Chromium browser installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from formulaforge.app.context import AppContext
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.server import launch
    from formulaforge.app.workspace import Workspace

    # the run is only read by the app: one copy serves both workers' servers
    built = built_once(tmp_path_factory, "browser-run",
                       lambda d: add_eval_rows(make_tiny_run(d, tiny_llama_dir)))
    run_dir = built / "runs" / "tiny-app"
    ctx = AppContext(Workspace.open(run_dir), AppLimits(max_new_tokens=16, cas_timeout_s=60))
    port = free_port()
    demo = launch(ctx, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    ctx.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_person_generates_a_formula_and_walks_through_the_tabs(browser, app_url: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app_url)
    page.wait_for_selector("#ff-generate", timeout=60_000)

    # First use: the first test sample is already in the boxes, labelled by its formula.
    assert page.locator("#ff-before textarea").input_value().strip()
    assert "Context:" in page.locator("#ff-context-count").inner_text()

    # A long pasted context is not cut silently: the counter says which part will be used.
    page.locator("#ff-before textarea").fill("word " * 1000 + "the end nearest the formula:")
    page.wait_for_function(
        "document.querySelector('#ff-context-count').innerText.includes('nearest the formula')",
        timeout=30_000)
    assert "5,028 characters" in page.locator("#ff-context-count").inner_text()

    # Pick a test sample: its reference formula is rendered by KaTeX.
    page.locator("#ff-example input").click()
    page.get_by_role("option").first.click()
    page.locator("#ff-use-example").click()
    page.wait_for_function("document.querySelector('#ff-before textarea').value.length > 0", timeout=30_000)
    # Type our own context instead, then generate with the fine-tuned stages and the base side by side.
    page.locator("#ff-before textarea").fill("We consider a smooth function and the following identity:")
    page.locator("#ff-after textarea").fill("which we use below.")
    page.locator("#ff-generate").click()
    page.wait_for_function("document.querySelector('#ff-timing').innerText.includes('I+II+III')",
                           timeout=120_000)
    page.wait_for_function("document.querySelector('#ff-output').innerText.includes('sample 1')",
                           timeout=30_000)
    assert "base" in page.locator("#ff-output-base").inner_text()
    assert page.locator("#ff-reference").inner_text().strip() == ""  # typed context: no reference
    page.screenshot(path=str(tmp_path / "formula.png"), full_page=True)

    # Streaming: the chosen stages' greedy continuation appears token by token, then the timing line.
    page.locator("#ff-stream").click()
    page.wait_for_function("document.querySelector('#ff-timing').innerText.includes('(streamed)')",
                           timeout=120_000)
    assert "streamed" in page.locator("#ff-output").inner_text()

    # Reference rendered as math: use the sample again and generate.
    page.locator("#ff-use-example").click()
    page.wait_for_timeout(500)
    page.locator("#ff-generate").click()
    page.wait_for_selector("#ff-reference .katex", timeout=120_000)

    # Compare: every test item, label and each row's prediction side by side, rendered, with scores.
    page.get_by_role("tab", name="Compare").click()
    page.wait_for_function("document.querySelector('#ff-compare-summary').innerText.includes('test items')",
                           timeout=120_000)
    assert "6 test items" in page.locator("#ff-compare-summary").inner_text()
    page.wait_for_selector("#ff-compare-table .katex", state="attached", timeout=30_000)
    table_text = page.locator("#ff-compare-table").inner_text()
    assert "w/ LoRA+D-plugin+Q-plugin" in table_text and "Baseline (zero-shot)" in table_text
    assert "edit sim." in table_text and "CDM" in table_text
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    page.locator('#ff-compare-table [data-testid="cell-0-1"]').click()
    page.wait_for_function("document.querySelector('#ff-compare-context').innerText.includes('Context of')",
                           timeout=30_000)

    # Math problems: a generated problem, the model's answer and the checker's verdict with the reference.
    page.get_by_role("tab", name="Math problems").click()
    page.locator("#ff-new-problem").click()
    page.wait_for_selector("#ff-problem .katex", timeout=120_000)
    page.locator("#ff-ask").click()
    page.wait_for_function("document.querySelector('#ff-verdict').innerText.includes('Reference answer')",
                           timeout=120_000)
    assert "Extracted answer" in page.locator("#ff-answer").inner_text()
    page.screenshot(path=str(tmp_path / "problems.png"), full_page=True)

    # Operation trees: the default formula builds a tree, rendered skeleton and a function image.
    page.get_by_role("tab", name="Operation trees").click()
    page.locator("#ff-build-tree").click()
    page.wait_for_selector("#ff-tree-summary .katex", timeout=120_000)
    assert "OTS" in page.locator("#ff-tree-summary").inner_text()
    page.wait_for_selector("#ff-tree-image img", timeout=30_000)
    page.screenshot(path=str(tmp_path / "trees.png"), full_page=True)

    # Bad input: the message inline where the result was, the old tree gone, never a traceback.
    page.locator("#ff-tree-input textarea, #ff-tree-input input").first.fill("x0; import os")
    page.locator("#ff-build-tree").click()
    page.wait_for_function("document.querySelector('#ff-tree-summary').innerText.includes('not allowed')",
                           timeout=30_000)
    assert "Error" in page.locator("#ff-tree-summary").inner_text()
    assert page.locator("#ff-tree-summary .katex").count() == 0
    assert "Traceback" not in page.content()

    # Dataset explorer: the first page is there on open, formula first; a click on a line renders it.
    page.get_by_role("tab", name="Dataset explorer").click()
    page.wait_for_selector("#ff-rows table", timeout=30_000)
    header = page.locator("#ff-rows thead").inner_text()
    assert header.split()[0] in ("formula", "label") and "1\n2\n3" not in header
    page.locator('#ff-rows [data-testid="cell-1-0"]').click()
    page.wait_for_selector("#ff-row-detail .katex", timeout=30_000)
    page.locator("#ff-stats").click()
    page.wait_for_function("document.querySelector('#ff-stats-summary').innerText.includes('median')",
                           timeout=60_000)
    assert "{" not in page.locator("#ff-stats-summary").inner_text()  # tables, not Python dicts
    page.screenshot(path=str(tmp_path / "datasets.png"), full_page=True)

    # Run tab: filled on open with this browser session's requests.
    page.get_by_role("tab", name="Run").click()
    page.wait_for_function("document.querySelector('#ff-session-summary').innerText.includes('requests')",
                           timeout=30_000)
    assert "generate" in page.locator("#ff-session-log").inner_text()
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert not errors, errors
    print(f"screenshots: {tmp_path}")


def test_the_server_serves_no_file_outside_its_cache(app_url: str) -> None:
    """Plain HTTP, no browser needed (it runs where Chromium is missing too)."""
    import urllib.error
    import urllib.request

    for path in ("/etc/passwd", "config.yaml", "data/triplets.jsonl"):
        try:
            with urllib.request.urlopen(f"{app_url}gradio_api/file={path}", timeout=30) as response:
                status, body = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read().decode("utf-8", "replace")
        assert status in (403, 404), (path, status)
        assert "root:" not in body
