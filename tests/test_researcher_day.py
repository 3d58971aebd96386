"""Issue 19 ("a researcher's day"): the small things a new user trips over, each pinned by a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formulaforge.datasets.stats import _describe


@pytest.mark.parametrize("values", [list(range(63, 83)), [5, 82, 3, 3, 40, 7], [1, 2], [9] * 4,
                                    [int(v) for v in np.random.default_rng(0).integers(1, 500, 37)]])
def test_percentiles_stay_within_min_max_and_match_numpy(values: list[int]) -> None:
    d = _describe(values)
    assert d["min"] <= d["p5"] <= d["p50"] <= d["p95"] <= d["max"]
    for key, q in (("p5", 5), ("p50", 50), ("p95", 95)):  # numpy's default "linear" is the reference
        assert d[key] == pytest.approx(float(np.percentile(values, q)))


def _written(out) -> list[dict]:
    import json

    return [json.loads(line) for split in ("train", "valid", "test")
            for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_synth_generate_writes_the_asked_number_of_distinct_records(tmp_path) -> None:
    from typer.testing import CliRunner

    from formulaforge.cli import app

    out = tmp_path / "deriv"
    result = CliRunner().invoke(app, ["synth", "generate", "derivatives", "--n", "40", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = _written(out)
    assert len(records) == 40
    assert len({r["problem"] for r in records}) == 40


def test_synth_generate_says_why_fewer_when_the_space_is_small(tmp_path) -> None:
    from typer.testing import CliRunner

    from formulaforge.cli import app

    out = tmp_path / "add"  # one-digit a + b: 100 distinct problems exist
    result = CliRunner().invoke(app, ["synth", "generate", "addition", "--n", "150", "--out", str(out),
                                      "-o", "max_digits=1"])
    assert result.exit_code == 0, result.output
    assert len(_written(out)) == 100
    assert "100 distinct problems, not 150" in result.output


# ------------------------------------------------------------ item 1: model names, offline hub, --dry-run
@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Hugging Face cache and HF_HUB_OFFLINE=1: the paper recipe on a closed machine."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _cli(*args: str):
    from typer.testing import CliRunner

    from formulaforge.cli import app

    return CliRunner().invoke(app, list(args))


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def test_misspelt_alias_gets_one_line_with_the_suggestion(offline, tmp_path) -> None:
    import time

    t0 = time.process_time()  # CPU time: the answer comes before any model is loaded, whatever the load
    result = _cli("train", "--stage", "1", "--model", "smolm2-135m", "--data", str(tmp_path), "--out",
                  str(tmp_path / "o"))
    assert result.exit_code == 2
    assert _error_lines(result) == ["error: unknown model 'smolm2-135m': did you mean smollm2-135m?"]
    assert time.process_time() - t0 < 10
    dry = _cli("run", "configs/demo.yaml", "--set", "model.name=smolm2-135m", "--dry-run")
    assert dry.exit_code == 2
    assert _error_lines(dry) == ["error: unknown model 'smolm2-135m': did you mean smollm2-135m?"]


def test_uncached_hub_model_offline_fails_fast_in_one_line(offline, tmp_path) -> None:
    result = _cli("train", "--stage", "1", "--model", "meta-llama/Meta-Llama-3-8B-Instruct", "--data",
                  str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and "HF_HUB_OFFLINE is set" in lines[0] and "Hugging Face cache" in lines[0]
    assert "Traceback" not in result.output


def test_dry_run_plans_without_weights_network_or_data(offline, tmp_path) -> None:
    result = _cli("run", "configs/paper-llama3-8b.yaml", "--set", f"data.sources=[{tmp_path / 'arxiv'}]",
                  "--out", str(tmp_path / "run"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert any("arxiv" in w and "does not exist" in w for w in warnings)
    assert any("Meta-Llama-3-8B-Instruct" in w and "Hugging Face cache" in w for w in warnings)
    assert "[todo] train_stage3" in result.output
    assert not (tmp_path / "run").exists()


def test_a_hub_model_in_the_local_cache_is_used_offline(offline, tiny_llama_dir) -> None:
    """The cache layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/<commit>/...}."""
    import shutil

    from formulaforge.models.loading import resolve_model

    repo = offline / "models--someorg--tiny-llama"
    snap = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_llama_dir, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    src = resolve_model("someorg/tiny-llama")
    assert Path(src.name_or_path) == snap and src.describe() == "someorg/tiny-llama"
    result = _cli("run", "configs/demo.yaml", "--set", "model.name=someorg/tiny-llama", "--set",
                  "msft.r1=4", "--set", "msft.r2=8", "--set", "msft.r3=2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "stage 1 LoRA" in result.output and "0 warning(s)" in result.output


# ------------------------------------------------------------------ item 9: the run folder above a run
@pytest.fixture(scope="module")
def tiny_run(tiny_llama_dir, tmp_path_factory):
    from app_helpers import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("tiny-run"), tiny_llama_dir)


def test_stages_pointing_at_the_train_folder_suggests_the_last_stage(tiny_run, tiny_llama_dir) -> None:
    run_dir = tiny_run
    result = _cli("generate", "--model", str(tiny_llama_dir), "--stages", str(run_dir / "train"),
                  "--prompt", "x")
    assert result.exit_code == 2
    expected = (f"error: {run_dir / 'train'} is not an MSFT run folder (no msft.json); "
                f"did you mean {run_dir / 'train' / 'stage3'}?")
    assert _error_lines(result) == [expected]


# ------------------------------------------------------------ item 9: --set for lists, generate --before
def test_set_a_list_setting_to_one_path_or_a_yaml_list(tmp_path) -> None:
    from formulaforge.pipeline.config import load_config

    cfg = load_config("configs/demo.yaml", [f"data.sources={tmp_path}"])
    assert cfg.data.sources == [str(tmp_path)]
    cfg = load_config("configs/demo.yaml",
                      ["data.sources=docstrings:torch,sympy", "msft.targets=[q_proj, v_proj]"])
    assert cfg.data.sources == ["docstrings:torch,sympy"] and cfg.msft.targets == ["q_proj", "v_proj"]
    cfg = load_config("configs/demo.yaml", [f"data.sources=[{tmp_path}/a, {tmp_path}/b]"])
    assert cfg.data.sources == [f"{tmp_path}/a", f"{tmp_path}/b"]


def test_generate_before_after_reproduces_the_training_prompt(tiny_run, tiny_llama_dir) -> None:
    import json

    from formulaforge.app.workspace import Workspace
    from formulaforge.datasets.stages import stage1_message

    run_dir = tiny_run
    ws = Workspace.open(run_dir)
    lines = (run_dir / "stages" / "stage1" / "test.jsonl").read_text().splitlines()
    for record in map(json.loads, lines[:5]):
        before, after = ws.split_prompt(record["input"])
        assert stage1_message(before, after, run_dir / "stages") == record["input"]
    both = _cli("generate", "--model", str(tiny_llama_dir), "--prompt", "x", "--before", "y")
    assert both.exit_code == 2 and "give --prompt TEXT, or --before TEXT" in both.output
    ok = _cli("generate", "--model", str(tiny_llama_dir), "--stages", str(run_dir / "train" / "stage3"),
              "--before", before, "--after", after, "--greedy", "--max-new-tokens", "3")
    assert ok.exit_code == 0, ok.output


# ------------------------------------------------------------ items 2 and 6: comparison page, run settings
REPORT_LABELS = ["E = mc^2", r"\frac{a}{b} + c", r"\sum_{i=1}^n x_i"]


def _report_run(root: Path) -> Path:
    import json

    import yaml

    from formulaforge.evaluation.metrics import summarize_runs
    from formulaforge.evaluation.metrics.standard import standard_metrics
    from formulaforge.utils.jsonl import write_jsonl

    run = root / "demo"
    (run / "stages" / "stage1").mkdir(parents=True)
    cfg = {"name": "demo", "model": {"name": "tiny-model", "dtype": "float32"},
           "data": {"sources": ["papers/"], "seed": 3}, "msft": {"r1": 4, "alpha": 8, "r2": 8, "r3": 2,
                                                                 "mode": "residual"},
           "train": {"stages": [1], "stage1": {"max_steps": 7, "batch_size": 2, "grad_accum": 1, "lr": 0.001,
                                               "max_input_tokens": 96, "max_output_tokens": 32}},
           "eval": {"runs": 2, "limit": 3, "greedy": False, "temperature": 0.7, "top_p": 0.9,
                    "max_new_tokens": 40}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    write_jsonl(run / "stages" / "stage1" / "test.jsonl",
                [{"id": f"t{i}", "input": f"the context of item {i}", "label": lab}
                 for i, lab in enumerate(REPORT_LABELS)])
    preds = {"baseline": ["x", r"\frac{a}{b", r"\sum_{i=1}^n x_i"],
             "stage1": ["m c^2 = E", r"c + \frac{a}{b}", "y"]}
    for row, rows in preds.items():
        d = run / "eval" / row
        d.mkdir(parents=True)
        metrics = summarize_runs([standard_metrics(rows, REPORT_LABELS)] * 2)
        metrics["_meta"] = {"n_samples": 3, "runs": 2, "greedy": False, "few_shot": 0, "max_new_tokens": 40}
        (d / "metrics.json").write_text(json.dumps(metrics))
        write_jsonl(d / "predictions.jsonl",
                    [{"id": f"t{i}", "run": r, "prediction": p, "label": REPORT_LABELS[i]}
                     for r in (0, 1) for i, p in enumerate(rows)])
    return run


def test_report_states_settings_and_links_a_comparison_of_every_item(tmp_path) -> None:
    import json

    from formulaforge.evaluation.report.build import build_report

    run = _report_run(tmp_path)
    result = build_report([run], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    top = md.split("### ")[0]  # the settings come before the first table
    assert "`tiny-model`" in top and "`papers/`" in top
    assert "3 test samples x 2 sampling run(s); sampling, temperature 0.7, top-p 0.9; <= 40 new tokens" in top
    assert "stage 1 training: 7 steps, batch 2 x 1, lr 0.001" in top
    assert "[comparison_demo.html](comparison_demo.html)" in md
    data = json.loads((tmp_path / "report" / "comparison_demo.json").read_text())
    assert [it["id"] for it in data["items"]] == ["t0", "t1", "t2"] and data["runs"] == 2
    t0, t1, t2 = (it["preds"]["w/ LoRA"] for it in data["items"])
    assert t0["sym"] is True and t1["sym"] is True and t2["sym"] is False  # reordered sides / terms are equal
    assert data["items"][2]["preds"]["Baseline (zero-shot)"]["edit"] == 1.0
    # a prediction is always scored (0 when it cannot be drawn); only an undrawable reference is "unrendered"
    assert 0.0 <= data["items"][1]["preds"]["Baseline (zero-shot)"]["cdm"] <= 1.0
    from formulaforge.evaluation.report.comparison import _cdm

    assert _cdm("a", "a^^5") is None and _cdm("a", "a") == 1.0
    assert data["items"][0]["context"] == "the context of item 0"
    page = (tmp_path / "report" / "comparison_demo.html").read_text()
    assert page.count('<tr class="item"') == 3
    assert 'id="filter"' in page and 'value="k1-sym"' in page and "CDM 1.00" in page
    from formulaforge.evaluation.report.comparison import _badges

    assert "CDM: unrendered" in _badges({"edit": 0.5, "sym": None, "cdm": None})
    assert "<summary>context</summary>" in page and "the context of item 2" in page
    assert result["files"]["comparison_demo"].endswith("comparison_demo.html")


# ------------------------------------------------------------ item 3: quiet, honest progress
@pytest.mark.slow
def test_pipeline_console_is_one_line_per_step_and_evaluates_once(tmp_path, tiny_llama_dir) -> None:
    import json

    import yaml
    from corpus_helpers import write_corpus

    tiny = {"max_steps": 3, "batch_size": 2, "max_input_tokens": 64, "max_output_tokens": 32}
    recipe = {"name": "quiet", "out": str(tmp_path / "runs" / "{name}"),
              "data": {"sources": [str(write_corpus(tmp_path))], "min_context_tokens": 16},
              "stages": {"stage12_subset": None, "stage3_subset": None, "max_chain": 4},
              "model": {"name": str(tiny_llama_dir)}, "msft": {"r1": 4, "alpha": 8, "r2": 8, "r3": 2},
              "train": {"stage1": tiny, "stages": [1]},
              "eval": {"runs": 1, "limit": 2, "max_new_tokens": 3, "render_metric": False}}
    path = tmp_path / "quiet.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = _cli("run", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    assert [line.split()[0] for line in steps] == [f"[{i}/6]" for i in range(1, 7)]  # one line per step
    noise = [line for line in lines if "{'loss'" in line or "\x1b[A" in line or "it/s]" in line
             or "Loading weights" in line or "Warning" in line]
    assert not noise, noise
    run_dir = tmp_path / "runs" / "quiet"
    log = [json.loads(x) for x in (run_dir / "train" / "stage1" / "log.jsonl").read_text().splitlines()]
    assert sum("eval_loss" in r for r in log) == 1  # no second evaluation after training
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3]  # a short run logs every step
    assert (run_dir / "run.log").is_file()


# ------------------------------------------------------------ items 4, 5, 7: web UI logic (no browser)
def test_long_context_keeps_the_part_nearest_the_formula_and_says_so(tiny_run) -> None:
    from formulaforge.app.context import AppContext
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.tabs import formula
    from formulaforge.app.workspace import Workspace

    ctx = AppContext(Workspace.open(tiny_run), AppLimits(max_input_chars=100))
    try:
        before = "FARSTART " + "x" * 200 + " NEARFORMULA"
        after = "NEARAFTER " + "y" * 200 + " FAREND"
        plan = formula.plan_request(ctx, before, after, "I", False, 1, 8, True, None)
        assert "NEARFORMULA" in plan.prompt_text and "NEARAFTER" in plan.prompt_text
        assert "FARSTART" not in plan.prompt_text and "FAREND" not in plan.prompt_text
        assert any("221 characters; the 100 nearest the formula were used (its start was left out)" in n
                   for n in plan.notes)
        counter = formula.context_counter(ctx, before, "short")
        assert "221 characters before, 5 after" in counter and "nearest the formula" in counter
        first = ctx.workspace.test_examples()[0]
        label = formula.example_choices(ctx)[0]
        assert label.startswith("0: ") and " ".join(first["label"].split())[:20] in label
        assert first["doc"] and label.endswith(first["doc"])
    finally:
        ctx.close()


def test_run_tab_lists_only_this_browser_sessions_requests() -> None:
    from formulaforge.app.activity import SessionLog

    log = SessionLog()
    for session in ("alice", "bob", "alice"):
        with log.record("formula", "generate", session) as req:
            req.tokens, req.detail = 1234, session
    assert [row[-1] for row in log.rows("alice")] == ["alice", "alice"]
    assert log.summary("bob")["requests"] == 1 and log.summary()["requests"] == 3
    assert log.rows("alice")[0][5] == "1,234"  # formatted, not a raw number


def test_a_page_error_is_shown_inline_and_clears_the_other_outputs(tiny_run) -> None:
    pytest.importorskip("gradio", reason="the web UI needs the 'app' extra (gradio)")
    from formulaforge.app.context import AppContext
    from formulaforge.app.tabs._bind import bind
    from formulaforge.app.workspace import Workspace

    ctx = AppContext(Workspace.open(tiny_run))
    try:
        def broken(ctx, text, *, request):
            raise ValueError(f"{text} is not allowed")

        out = bind(ctx, "trees", "build", broken, inline=(4, 1))(None, "x0; import os")
        assert out[0] is None and out[2] is None and out[3] is None
        assert out[1].startswith("**Error:**") and "not allowed" in out[1]
    finally:
        ctx.close()


def test_streaming_shows_the_continuation_growing_and_ends_like_greedy_generation(tiny_run) -> None:
    from formulaforge.app.context import AppContext
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.tabs import formula
    from formulaforge.app.workspace import Workspace

    ctx = AppContext(Workspace.open(tiny_run), AppLimits(max_new_tokens=12))
    try:
        ex = ctx.workspace.test_examples()[0]
        steps = list(formula.stream_formula(ctx, ex["before"], ex["after"], "I+II", 12, ex))
        assert "Loading the model" in steps[0][1]
        assert len(steps) >= 4 and "(streamed)" in steps[-1][3]
        batch = formula.generate_formulas(ctx, ex["before"], ex["after"], "I+II", False, 1, 12, True, ex,
                                          request=_request())
        assert steps[-1][1].split("**", 2)[2] == batch[1].split("**", 2)[2]  # same text as batched greedy
        bad = list(formula.stream_formula(ctx, " ", "", "I", 4, None))
        assert len(bad) == 1 and "Error" in bad[0][1] and "empty" in bad[0][1]
    finally:
        ctx.close()


def _request():
    from formulaforge.app.activity import Request

    return Request("test", "call")
