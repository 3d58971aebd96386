"""The web UI's logic without a browser: file confinement, limits, model pool, CAS jobs, every tab's handlers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from app_helpers import make_tiny_run

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext, CASJobs, PageError
from formulaforge.app.limits import AppLimits
from formulaforge.app.models import ModelPool
from formulaforge.app.workspace import OutsideRunError, Workspace


@pytest.fixture(scope="module")
def tiny_run(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("app-run"), tiny_llama_dir)


@pytest.fixture(scope="module")
def ctx(tiny_run: Path):
    context = AppContext(Workspace.open(tiny_run), AppLimits(max_new_tokens=16, cas_timeout_s=60))
    yield context
    context.close()


def req() -> Request:
    return Request("test", "call")


# -- files: nothing outside the run directory ----------------------------------------------
def test_workspace_refuses_paths_outside_the_run(tiny_run: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tiny_run)
    assert ws.resolve("data/triplets.jsonl").is_file()
    for bad in ("../secret.jsonl", "/etc/passwd", "data/../../x", "~/x"):
        with pytest.raises(OutsideRunError):
            ws.resolve(bad)
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"secret": 1}\n')
    link = tiny_run / "leak.jsonl"
    os.symlink(outside, link)
    try:
        with pytest.raises(OutsideRunError):
            ws.resolve("leak.jsonl")
        files = ws.browsable_files()
        assert "leak.jsonl" not in files
        assert "data/triplets.jsonl" in files and "stages/stage1/test.jsonl" in files
    finally:
        link.unlink()
    with pytest.raises(OutsideRunError):
        Workspace.open(None).resolve("data")


def test_stage_prompt_round_trips_through_the_template(tiny_run: Path) -> None:
    ws = Workspace.open(tiny_run)
    assert ws.stage_choices() == ["base", "I", "I+II", "I+II+III"]
    assert ws.model_name == str(Path(ws.config["model"]["name"]))
    examples = ws.test_examples()
    assert examples, "the tiny run has test samples"
    ex = examples[0]
    assert ws.split_prompt(ws.formula_prompt(ex["before"], ex["after"])) == (ex["before"], ex["after"])
    assert ws.split_prompt("something else entirely") is None


def test_limits_reject_empty_and_long_input() -> None:
    lim = AppLimits(max_input_chars=10)
    assert lim.check_text("  ab ", "x") == "ab"
    with pytest.raises(ValueError, match="empty"):
        lim.check_text("   ", "the context")
    with pytest.raises(ValueError, match="limit is 10"):
        lim.check_text("x" * 11, "the context")


# -- the model pool ------------------------------------------------------------------------
class _FakeAdapter:
    def __init__(self) -> None:
        self.enabled = True

    def disabled(self):
        import contextlib

        @contextlib.contextmanager
        def cm():
            self.enabled = False
            try:
                yield
            finally:
                self.enabled = True

        return cm()


def test_model_pool_serves_base_by_switching_adapters_off_and_evicts_lru(tiny_run: Path) -> None:
    from formulaforge.models.inference import LoadedModel

    loads: list[object] = []

    def loader(model: str, stages_dir: object, trust: bool) -> LoadedModel:
        loads.append(stages_dir)
        return LoadedModel(object(), object(), _FakeAdapter() if stages_dir else None, str(stages_dir))

    ws = Workspace.open(tiny_run)
    pool = ModelPool(ws, max_loaded=2, loader=loader)
    with pool.use(ws.stage_dir(3)) as m3:
        assert m3.msft.enabled
    with pool.use(None) as base:  # no second load: the adapters are switched off
        assert base is m3 and not base.msft.enabled
    assert m3.msft.enabled and loads == [ws.stage_dir(3)]
    with pool.use(ws.stage_dir(1)):
        pass
    with pool.use(ws.stage_dir(2)):
        pass
    assert pool.loaded() == [ws.stage_dir(1), ws.stage_dir(2)]  # stage 3 was least recently used


def test_model_pool_is_released_by_another_thread_than_the_one_that_took_it(tiny_run: Path) -> None:
    """Gradio runs each step of a streaming generator in a free worker thread: a request that holds
    the model across yields must release it from whichever thread ends the stream (the web UI's
    Stream button hung with an RLock here)."""
    import threading

    from formulaforge.models.inference import LoadedModel

    ws = Workspace.open(tiny_run)
    pool = ModelPool(ws, loader=lambda m, s, t: LoadedModel(object(), object(), None, "base"))

    def stream():
        with pool.use(None):
            yield "token"
        yield "done"

    gen = stream()
    errors: list[BaseException] = []
    entered, second_done = threading.Event(), threading.Event()

    def step(wait: bool) -> None:
        try:
            next(gen)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        if wait:  # stay alive: a finished thread's id can be reused by the next one
            entered.set()
            second_done.wait(10)

    first = threading.Thread(target=step, args=(True,))
    first.start()  # enters the block
    assert entered.wait(10)
    second = threading.Thread(target=step, args=(False,))
    second.start()  # leaves it, from another live thread
    second.join(10)
    second_done.set()
    first.join(10)
    assert errors == []
    with pool.use(None):  # released: the next request gets the model
        pass


# -- CAS jobs and error handling -----------------------------------------------------------
def test_cas_job_past_its_limit_is_killed_and_the_worker_recovers() -> None:
    jobs = CASJobs(timeout_s=1.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="stopped"):
            jobs.run(time.sleep, 30)
        assert time.monotonic() - t0 < 25
        assert jobs.run(pow, 2, 10) == 1024
        with pytest.raises(ValueError, match="math domain error"):
            import math

            jobs.run(math.sqrt, -1)
    finally:
        jobs.close()


def test_handler_errors_become_one_line_page_messages(ctx: AppContext) -> None:
    def bad_input(_ctx: AppContext, *, request: Request) -> None:
        raise ValueError("the context is empty")

    def bug(_ctx: AppContext, *, request: Request) -> None:
        raise RuntimeError("boom\nTraceback (most recent call last): secret")

    with pytest.raises(PageError, match="^the context is empty$"):
        ctx.handle("t", "bad")(bad_input)(ctx)
    with pytest.raises(PageError) as info:
        ctx.handle("t", "bug")(bug)(ctx)
    assert str(info.value) == "RuntimeError: boom"
    statuses = [row[3] for row in ctx.session.rows()[:2]]
    assert statuses == ["error", "error"]


# -- tabs ----------------------------------------------------------------------------------
def test_formula_tab_generates_with_stages_and_base_side_by_side(ctx: AppContext) -> None:
    from formulaforge.app.tabs import formula

    choices = formula.example_choices(ctx)
    before, after, picked = formula.pick_example(ctx, choices[0], request=req())
    assert picked["label"] and before
    r = req()
    ref_md, main_md, base_md, timing = formula.generate_formulas(
        ctx, before, after, "I+II+III", True, 2, 8, False, picked, request=r)
    assert "$$" in ref_md and picked["label"].strip()[:10] in ref_md
    assert main_md.count("sample") == 2 and "MSFT stages" in main_md
    assert "base" in base_md and "tokens/s" in timing and r.tokens > 0
    edited, *_ = formula.generate_formulas(ctx, before + " more", after, "I", False, 1, 8, True, picked,
                                           request=req())
    assert edited == ""  # an edited context has no reference
    with pytest.raises(ValueError, match="empty"):
        formula.generate_formulas(ctx, " ", after, "I", False, 1, 8, True, None, request=req())
    with pytest.raises(ValueError, match="unknown stage"):
        formula.generate_formulas(ctx, before, after, "IV", False, 1, 8, True, None, request=req())


def test_formula_requests_waiting_together_are_generated_together(ctx: AppContext) -> None:
    from formulaforge.app.tabs import formula

    calls: list[int] = []
    original = ctx.pool.generate

    def counting(path, prompts, sampling, timeout_s):
        calls.append(len(prompts))
        return original(path, prompts, sampling, timeout_s)

    ctx.pool.generate = counting  # type: ignore[method-assign]
    try:
        befores = ["first context", "", "second, different context"]
        cols = [befores, ["after"] * 3, ["I+II"] * 3, [False] * 3, [1] * 3, [8] * 3, [True] * 3, [None] * 3]
        _, mains, _, timings = formula.generate_formulas_batch(ctx, *cols, request=req())
    finally:
        ctx.pool.generate = original  # type: ignore[method-assign]
    assert calls == [2]  # the two valid requests share one generate call; the empty one is refused
    assert "empty" in mains[1] and "Error" in mains[1] and timings[1] == ""
    assert all("sample 1" in mains[i] and "batched with 1 other" in timings[i] for i in (0, 2))
    single = formula.generate_formulas(ctx, "first context", "after", "I+II", False, 1, 8, True, None, request=req())
    assert single[1] == mains[0]  # greedy: the same continuation alone or in a batch


def test_problems_typed_and_generated_are_verified(ctx: AppContext) -> None:
    from formulaforge.app.problems import make_problem, problem_from_text

    rec = problem_from_text("integrals", "x*cos(x)")
    assert rec["verifier"] == "antiderivative" and "sin" in rec["answer"]
    assert problem_from_text("addition", "428 + 982")["answer"] == "1410"
    assert problem_from_text("derivatives", "\\sin(x^2)")["answer"] == "2*x*cos(x**2)"
    assert problem_from_text("roots", "72")["answer"] == "6*sqrt(2)"
    for bad_task, text, message in (("addition", "4 plus 5", "integers"), ("derivations", "x", "typed problems"),
                                    ("integrals", "__import__('os')", "cannot read"),
                                    ("derivatives", "x*y", "one variable")):
        with pytest.raises(ValueError, match=message):
            problem_from_text(bad_task, text)
    records = {r["id"]: r for r in (make_problem(t, seed=3) for t in ("addition", "roots", "derivatives"))}
    preds = [{"id": i, "output": f"The answer is \\boxed{{{r['answer_latex']}}}"} for i, r in records.items()]
    report = ctx.checker.check(records, preds)
    assert [row["status"] for row in report["rows"]] == ["correct"] * 3


def test_trees_tab_builds_tree_image_and_refuses_bad_input(ctx: AppContext) -> None:
    from formulaforge.app.tabs import trees

    state, summary, drawing, image, _ = trees.show_tree(ctx, "C0*(x0 + x1)^2 + C1", "2, 1", request=req())
    # linear(square(add(x, x))): which variable the OTS lists first is the encoder's choice
    assert state["ots"][:4] == [15, 0, 1, 0] and sorted(state["ots"][4:6]) == [18, 19]
    assert "square" in drawing and "add" in drawing and "$$" in summary
    assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 0
    assert state["images"].shape == (3, 64, 64)
    with pytest.raises(ValueError, match="not allowed"):
        trees.show_tree(ctx, "x0; import os", "", request=req())
    with pytest.raises(ValueError, match="constants"):
        trees.show_tree(ctx, "15,0,1,0,19,18,0,0,0", "1", request=req())
    with pytest.raises(ValueError, match="Botfip"):
        trees.predict_formula(ctx, state, 1, request=req())


def test_dataset_explorer_pages_rows_and_stats(ctx: AppContext) -> None:
    from formulaforge.app.tabs import datasets

    table, rows, note = datasets.browse(ctx, "data/triplets.jsonl", 1, request=req())
    assert len(rows) == ctx.limits.page_rows and "formula" in table.columns
    _, rows2, _ = datasets.browse(ctx, "data/triplets.jsonl", 2, request=req())
    assert rows2 and rows2[0]["id"] != rows[0]["id"]
    detail = datasets.show_row(ctx, rows, 0, request=req())
    assert "$$" in detail and "context_before" in detail
    _, empty, note = datasets.browse(ctx, "data/triplets.jsonl", 999, request=req())
    assert not empty and "past the end" in note
    with pytest.raises(OutsideRunError):
        datasets.browse(ctx, "../../etc/passwd", 1, request=req())
    summary, heatmap = datasets.statistics(ctx, request=req())
    assert "triplets" in summary and heatmap.ndim == 3


def test_run_tab_shows_session_requests_and_run_state(ctx: AppContext) -> None:
    from formulaforge.app.tabs import runs

    table, line, run_md, _ = runs.refresh(ctx, request=req())
    assert len(table) >= 1 and "requests" in line
    assert "stage" in run_md.lower() and "No evaluation results yet" in run_md


@pytest.mark.slow
def test_trees_tab_predicts_a_formula_with_a_botfip_model(tiny_run: Path, tmp_path: Path) -> None:
    import dataclasses

    import torch

    from formulaforge.app.tabs import trees
    from formulaforge.datasets.optrees.ots import is_valid
    from formulaforge.models.botfip.checkpoint import save_model
    from formulaforge.models.botfip.config import tiny_config
    from formulaforge.models.botfip.model import BotfipLLM

    cfg = tiny_config()
    cfg.model = dataclasses.replace(cfg.model, vit_hidden=32, vit_mlp=64, bert_hidden=32, bert_mlp=64,
                                    feature_dim=16, embedder_hidden=32, vit_layers=1, bert_layers=1)
    torch.manual_seed(0)
    save_model(BotfipLLM(cfg.model, cfg.loss, 24).eval(), cfg, tmp_path / "botfip", {"stage": "test"})
    context = AppContext(Workspace.open(tiny_run), AppLimits(cas_timeout_s=60), botfip_run=tmp_path / "botfip")
    try:
        state, *_ = trees.show_tree(context, "C0*sin(x0) + x1^2", "", request=req())
        out = trees.predict_formula(context, state, 2, request=req())
    finally:
        context.close()
    # An untrained model predicts some tree; grammar-constrained decoding makes it a valid one.
    ots = [int(t) for t in out.split("`")[1].split(",")]
    assert is_valid(ots) and "Fitted formula" in out and "R²" in out


def test_problems_tab_asks_the_model_and_shows_the_verdict(ctx: AppContext) -> None:
    from formulaforge.app.tabs import problems

    record, problem_md, *_ = problems.typed_problem(ctx, "addition", "428 + 982", request=req())
    assert "428 + 982" in problem_md and "$$" in problem_md
    r = req()
    answer_md, verdict_md = problems.answer_problem(ctx, record, problems.BASE, 8, request=r)
    # A random tiny model: whatever it says is graded, and the reference is always shown.
    assert "1410" in verdict_md and "Extracted answer" in answer_md and r.tokens > 0
    assert "deciding check:" in verdict_md
    with pytest.raises(ValueError, match="first"):
        problems.answer_problem(ctx, None, problems.BASE, 8, request=req())
    with pytest.raises(ValueError, match="synth run"):
        problems.answer_problem(ctx, record, problems.FINE_TUNED, 8, request=req())


def test_generation_stops_at_the_time_limit(ctx: AppContext) -> None:
    from formulaforge.models.generation import SamplingConfig

    prompt = ctx.workspace.formula_prompt("some context", "more context")
    full = ctx.pool.generate(None, [prompt], SamplingConfig(greedy=True, max_new_tokens=16), timeout_s=60)
    cut = ctx.pool.generate(None, [prompt], SamplingConfig(greedy=True, max_new_tokens=16), timeout_s=0.0)
    assert full.new_tokens > 2 and cut.new_tokens <= 2  # max_time hit after the first step


def test_binds_to_loopback_unless_told_otherwise() -> None:
    import inspect

    from formulaforge.app.server import is_loopback, launch
    from formulaforge.commands.app import app_command

    assert inspect.signature(launch).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(app_command).parameters["host"].default.default == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


@pytest.mark.parametrize(("said", "verdict", "extracted"), [
    ("Carrying 1 gives 1410.", "✅ correct", "1410"),
    ("Carrying 1 gives 1411.", "❌ wrong", "1411"),
    ("I cannot add these.", "⚠️ no extractable answer", None),
])
def test_problems_tab_shows_the_checkers_verdict_on_what_the_model_said(
        ctx: AppContext, monkeypatch: pytest.MonkeyPatch, said: str, verdict: str, extracted: str | None) -> None:
    """The model's words are fixed here, so the verdict shown is known by hand."""
    from formulaforge.app.models import GenerationBatch
    from formulaforge.app.tabs import problems
    from formulaforge.models.generation import Generation

    record, *_ = problems.typed_problem(ctx, "addition", "428 + 982", request=req())
    monkeypatch.setattr(ctx.pool, "generate", lambda *a, **k: GenerationBatch([Generation(said, 5, 0.1)], 0.1, "fixed"))
    answer_md, verdict_md = problems.answer_problem(ctx, record, problems.BASE, 8, request=req())
    assert verdict_md.startswith(f"### {verdict}\n")
    assert said in answer_md
    if extracted is not None:
        assert extracted in answer_md.split("Extracted answer")[1]
