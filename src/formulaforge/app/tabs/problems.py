"""Math problems: a verified problem (generated or typed), the model's answer, the checker's verdict."""

from __future__ import annotations

import random
from typing import Any

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.render import LATEX_DELIMITERS, formula_card, math_block, source_block

BASE = "base"
FINE_TUNED = "fine-tuned (synth run)"


def model_choices(ctx: AppContext) -> list[str]:
    return [BASE] + ([FINE_TUNED] if ctx.synth_run is not None else [])


def _problem_markdown(record: dict[str, Any]) -> str:
    heading = (f"**{record['task']}** (difficulty {record.get('difficulty', '?')}, "
               f"checked by `{record['verifier']}`)")
    return "\n\n".join([heading, record["problem"], math_block(record["problem_latex"])])


def new_problem(ctx: AppContext, task: str, *, request: Request) -> tuple[dict[str, Any], str, str, str]:
    from formulaforge.app.problems import make_problem

    record = ctx.cas.run(make_problem, task, random.randrange(2**31))
    request.detail = record["id"]
    return record, _problem_markdown(record), "", ""


def typed_problem(ctx: AppContext, task: str, text: str, *, request: Request
                  ) -> tuple[dict[str, Any], str, str, str]:
    from formulaforge.app.problems import problem_from_text

    text = ctx.limits.check_text(text, "the problem")
    record = ctx.cas.run(problem_from_text, task, text)
    request.detail = record["id"]
    return record, _problem_markdown(record), "", ""


def answer_problem(ctx: AppContext, record: dict[str, Any] | None, model: str, max_new_tokens: float, *,
                   request: Request) -> tuple[str, str]:
    """(the model's answer, the verdict with the reference)."""
    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.datasets.synthetic.sft import user_message
    from formulaforge.models.generation import SamplingConfig

    if not record:
        raise ValueError("make or type a problem first")
    if model == FINE_TUNED and ctx.synth_run is None:
        raise ValueError("no synth run is loaded (start the app with --synth-run RUN_DIR)")
    stages_dir = ctx.synth_run if model == FINE_TUNED else None
    tokens = max(1, min(int(max_new_tokens), ctx.limits.max_new_tokens))
    message = user_message(record)
    prompt = render_prompt(message, ctx.pool.tokenizer(stages_dir))
    batch = ctx.pool.generate(stages_dir, [prompt], SamplingConfig(greedy=True, max_new_tokens=tokens),
                              ctx.limits.generation_timeout_s)
    output = batch.generations[0].text
    request.tokens = batch.new_tokens
    report = ctx.checker.check({record["id"]: record}, [{"id": record["id"], "output": output, "prompt": message}])
    row = report["rows"][0]  # the checker's own extraction: what it graded is what we show
    status = row.get("status", "?")
    verdict = {"correct": "✅ correct", "wrong": "❌ wrong", "no_answer": "⚠️ no extractable answer"}.get(
        status, f"⚠️ {status}")
    request.detail = f"{record['id']} {status}"
    answer_md = "\n\n".join([
        f"**{model}** ({batch.description}): {batch.seconds:.2f} s, {batch.tokens_per_s:.1f} tokens/s",
        source_block(output),
        f"Extracted answer ({row.get('extraction') or 'none'}):",
        math_block(row.get("extracted") or ""),
    ])
    verdict_md = "\n\n".join([f"### {verdict}", f"deciding check: `{row.get('check', '?')}`",
                              formula_card("Reference answer", record["answer_latex"])])
    return answer_md, verdict_md


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.problems import TYPED_TASKS
    from formulaforge.app.tabs._bind import bind
    from formulaforge.datasets.synthetic import TASKS

    record = gr.State(None)
    with gr.Row():
        task = gr.Dropdown(list(TASKS), value=TASKS[0], label="Task", elem_id="ff-task")
        new = gr.Button("New problem", elem_id="ff-new-problem")
    with gr.Row():
        typed = gr.Textbox(label=f"…or type one ({', '.join(TYPED_TASKS)}), e.g. 428 + 982 or x*sin(x)",
                           max_length=ctx.limits.max_input_chars, scale=4, elem_id="ff-typed-problem")
        use_typed = gr.Button("Use typed problem", scale=1, elem_id="ff-use-typed")
    problem_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-problem")
    with gr.Row():
        choices = model_choices(ctx)
        model = gr.Dropdown(choices, value=choices[-1], label="Model")
        tokens = gr.Slider(1, max(2, ctx.limits.max_new_tokens), value=min(96, ctx.limits.max_new_tokens), step=1,
                           label="Max new tokens")
    ask = gr.Button("Ask the model", variant="primary", elem_id="ff-ask")
    with gr.Row():
        answer_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-answer")
        verdict_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-verdict")

    # Errors show inline, in the box the result would fill; every action replaces all its outputs.
    outputs = [record, problem_md, answer_md, verdict_md]
    new.click(bind(ctx, "problems", "new problem", new_problem, inline=(4, 1)), [task], outputs,
              concurrency_id="cas")
    use_typed.click(bind(ctx, "problems", "typed problem", typed_problem, inline=(4, 1)), [task, typed],
                    outputs,
                    concurrency_id="cas")
    hint = ("*Generating… (the first request loads the model)*", "")
    ask.click(lambda: hint, None, [answer_md, verdict_md], queue=False).then(
        bind(ctx, "problems", "answer", answer_problem, inline=(2, 0)), [record, model, tokens],
        [answer_md, verdict_md], concurrency_id="model")
