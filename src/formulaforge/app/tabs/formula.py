"""Formula from context: the stage-I task, base and fine-tuned side by side."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.models import GenerationBatch
from formulaforge.app.render import LATEX_DELIMITERS, error_markdown, formula_card
from formulaforge.app.workspace import STAGE_LABELS, stage_number


def example_label(i: int, ex: dict[str, str]) -> str:
    """``3: \\frac{a}{b} · doc-name``: a sample is known by its formula and where it comes from."""
    formula = " ".join(ex["label"].split())
    formula = formula if len(formula) <= 60 else formula[:59] + "…"
    return f"{i}: {formula}" + (f" · {ex['doc']}" if ex.get("doc") else "")


def example_choices(ctx: AppContext) -> list[str]:
    return [example_label(i, ex) for i, ex in enumerate(ctx.workspace.test_examples())]


def context_counter(ctx: AppContext, before: str, after: str) -> str:
    """The live character count under the context boxes, with what a long context will lose."""
    limit = ctx.limits.max_input_chars
    b, a = len((before or "").strip()), len((after or "").strip())
    line = f"Context: {b:,} characters before, {a:,} after (each side up to {limit:,})."
    clip = ctx.limits.clip_context
    notes = [note for note in (clip(before, "The context before the formula", keep_end=True)[1],
                               clip(after, "The context after the formula", keep_end=False)[1]) if note]
    return line + "".join(f" **{n}.**" for n in notes)


def loading_hint(ctx: AppContext, stages_label: str) -> tuple[str, str, str, str]:
    """Shown at once when Generate is clicked: old results go, and a first use says it loads weights."""
    path = ctx.workspace.stage_dir(stage_number(stages_label))
    loaded = ctx.pool.loaded()
    if path in loaded or (path is None and loaded):
        return "", "*Generating…*", "", ""
    return "", ("*Loading the model (first use: reading the weights takes a while on a CPU), "
                "then generating…*"), "", ""


def pick_example(ctx: AppContext, choice: str | None, *, request: Request) -> tuple[str, str, dict[str, str]]:
    """(before, after, the sample itself) of the chosen test sample."""
    if not choice:
        raise ValueError("pick a test sample first")
    index = int(choice.split(":", 1)[0])
    examples = ctx.workspace.test_examples()
    if not 0 <= index < len(examples):
        raise ValueError(f"no test sample {index}")
    ex = examples[index]
    request.detail = f"sample {ex['id']}"
    return ex["before"], ex["after"], ex


def _outputs(batch: GenerationBatch, title: str) -> str:
    from formulaforge.evaluation.extract import extract_formula

    cards = []
    for i, gen in enumerate(batch.generations, 1):
        cards.append(formula_card(f"{title} — sample {i}", extract_formula(gen.text), gen.text))
    return "\n\n---\n\n".join(cards)


@dataclass
class FormulaRequest:
    """One visitor's validated request: what to generate, with which models."""

    prompt_text: str
    stages: int
    runs: list[tuple[int, Path | None]]  # (stage count, MSFT run folder or None for base)
    rows: int  # continuations per model (1 when greedy: they would all be the same)
    tokens: int
    greedy: bool
    reference: str  # shown only while the context is still the picked sample's
    notes: list[str] = field(default_factory=list)  # what was clipped from a long context


def plan_request(ctx: AppContext, before: str, after: str, stages_label: str, compare_base: bool,
                 samples: float, max_new_tokens: float, greedy: bool,
                 picked: dict[str, str] | None) -> FormulaRequest:
    """Validate the page's inputs (``ValueError`` with a message for the page)."""
    lim = ctx.limits
    before, note_b = lim.clip_context(before, "the context before the formula", keep_end=True)
    after, note_a = lim.clip_context(after, "the context after the formula", keep_end=False)
    if not before:
        raise ValueError("the context before the formula is empty")
    notes = [n for n in (note_b, note_a) if n]
    stages = stage_number(stages_label)
    runs = [(stages, ctx.workspace.stage_dir(stages))]
    if compare_base and stages != 0:
        runs.append((0, None))
    unchanged = bool(picked) and (picked["before"].strip(), picked["after"].strip()) == (before, after)
    return FormulaRequest(
        prompt_text=ctx.workspace.formula_prompt(before, after), stages=stages, runs=runs,
        rows=1 if greedy else max(1, min(int(samples), lim.max_samples)),
        tokens=max(1, min(int(max_new_tokens), lim.max_new_tokens)), greedy=bool(greedy),
        reference=picked["label"] if unchanged and picked else "", notes=notes)


Outputs = tuple[str, str, str, str]
"""(reference card, chosen-model outputs, base outputs, timing line)."""


def run_requests(ctx: AppContext, requests: list[FormulaRequest]) -> tuple[list[Outputs], int]:
    """Serve several visitors' requests with as few generate calls as possible.

    Rows that share a model and decoding settings go into one batched call (the queue hands
    us the requests that arrived together), which is ~3x the throughput of one call each on
    a CPU. Returns the outputs per request and the new tokens generated.
    """
    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.models.generation import SamplingConfig

    groups: dict[tuple[Path | None, bool, int], list[tuple[int, int]]] = {}  # key -> (request, stage)
    for i, req in enumerate(requests):
        for stage, path in req.runs:
            groups.setdefault((path, req.greedy, req.tokens), []).append((i, stage))
    shown: list[dict[int, str]] = [{} for _ in requests]
    timing: list[list[str]] = [[] for _ in requests]
    total = 0
    for (path, greedy, tokens), members in groups.items():
        tokenizer = ctx.pool.tokenizer(path)
        prompts, spans = [], []
        for i, _ in members:
            prompt = render_prompt(requests[i].prompt_text, tokenizer)
            spans.append((len(prompts), len(prompts) + requests[i].rows))
            prompts += [prompt] * requests[i].rows
        sampling = SamplingConfig(greedy=greedy, max_new_tokens=tokens, seed=len(ctx.session.rows()))
        batch = ctx.pool.generate(path, prompts, sampling, ctx.limits.generation_timeout_s)
        total += batch.new_tokens
        shared = f", batched with {len(members) - 1} other request(s)" if len(members) > 1 else ""
        for (i, stage), (a, b) in zip(members, spans, strict=True):
            own = GenerationBatch(batch.generations[a:b], batch.seconds, batch.description)
            label = STAGE_LABELS[stage]
            shown[i][stage] = _outputs(own, f"{label} ({batch.description})")
            timing[i].append(f"**{label}**: {batch.seconds:.2f} s, {own.new_tokens} new tokens, "
                             f"{batch.tokens_per_s:.1f} tokens/s{shared}")
    outputs = []
    for req, out, times in zip(requests, shown, timing, strict=True):
        ref = formula_card("Reference", req.reference) if req.reference.strip() else ""
        notes = "".join(f"\n\n**Note:** {n[0].upper() + n[1:]}." for n in req.notes)
        base = out.get(0, "") if req.stages != 0 else ""
        outputs.append((ref, out[req.stages], base, " · ".join(times) + notes))
    return outputs, total


def generate_formulas(ctx: AppContext, before: str, after: str, stages_label: str, compare_base: bool,
                      samples: float, max_new_tokens: float, greedy: bool, picked: dict[str, str] | None, *,
                      request: Request) -> Outputs:
    """One request (the Python API; the page goes through :func:`generate_formulas_batch`)."""
    plan = plan_request(ctx, before, after, stages_label, compare_base, samples, max_new_tokens, greedy, picked)
    (outputs,), tokens = run_requests(ctx, [plan])
    request.tokens = tokens
    request.detail = f"stages={stages_label} rows={plan.rows} tokens={plan.tokens}"
    return outputs


def generate_formulas_batch(ctx: AppContext, *columns: list[Any], request: Request) -> list[list[str]]:
    """Gradio's batched form: one list per input, one list per output.

    A request with bad input gets its message in its own output (the others still run);
    an error in generation itself fails the batch and shows as the page's error message.
    """
    plans: list[FormulaRequest | str] = []
    for args in zip(*columns, strict=True):
        try:
            plans.append(plan_request(ctx, *args))
        except (ValueError, FileNotFoundError) as exc:
            plans.append(str(exc).splitlines()[0])
    valid = [p for p in plans if isinstance(p, FormulaRequest)]
    served, tokens = run_requests(ctx, valid) if valid else ([], 0)
    served_iter = iter(served)
    rows: list[Outputs] = [next(served_iter) if isinstance(p, FormulaRequest)
                           else ("", error_markdown(p), "", "") for p in plans]
    request.tokens = tokens
    request.detail = f"{len(plans)} request(s), {len(plans) - len(valid)} refused"
    return [list(col) for col in zip(*rows, strict=True)]


def stream_formula(ctx: AppContext, before: str, after: str, stages_label: str, max_new_tokens: float,
                   picked: dict[str, str] | None, *, session: str = "") -> Iterator[Outputs]:
    """One greedy continuation of the chosen stages, shown token by token (the page's
    "Stream" button). Errors come back as the page message, like every other action."""
    from formulaforge.app.context import USER_ERRORS, _message
    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.evaluation.extract import extract_formula
    from formulaforge.models.generation import stream_greedy

    try:
        with ctx.session.record("formula", "stream", session) as req:
            plan = plan_request(ctx, before, after, stages_label, False, 1, max_new_tokens, True, picked)
            stages, path = plan.runs[0]
            ref = formula_card("Reference", plan.reference) if plan.reference.strip() else ""
            title = f"{STAGE_LABELS[stages]} (greedy, streamed)"
            hint = "Generating…" if path in ctx.pool.loaded() else "Loading the model, then generating…"
            yield ref, f"*{hint}*", "", ""
            t0 = time.perf_counter()
            with ctx.pool.use(path) as loaded:
                prompt = render_prompt(plan.prompt_text, loaded.tokenizer)
                text = ""
                for text in stream_greedy(loaded.model, loaded.tokenizer, prompt, plan.tokens,
                                          max_time=ctx.limits.generation_timeout_s):
                    yield ref, formula_card(title, extract_formula(text), text), "", "*streaming…*"
                req.tokens = len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
            seconds = time.perf_counter() - t0
            notes = "".join(f"\n\n**Note:** {n[0].upper() + n[1:]}." for n in plan.notes)
            yield (ref, formula_card(title, extract_formula(text), text), "",
                   f"**{STAGE_LABELS[stages]}**: {seconds:.2f} s, {req.tokens} new tokens (streamed){notes}")
    except USER_ERRORS as exc:
        yield "", error_markdown(_message(exc)), "", ""


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.tabs._bind import bind

    ws, lim = ctx.workspace, ctx.limits
    choices = ws.stage_choices()
    examples = ws.test_examples()
    first = examples[0] if examples else None  # pre-filled, so the first click works
    picked = gr.State(first)
    labels = example_choices(ctx)
    with gr.Row():
        example = gr.Dropdown(labels, value=labels[0] if labels else None, scale=4, elem_id="ff-example",
                              label="Test sample (its formula · document)")
        use = gr.Button("Use sample", scale=1, elem_id="ff-use-example")
    # No max_length: the browser would cut a pasted context silently at the start-side limit,
    # losing the text next to the formula. The counter says what a long context will lose.
    before = gr.Textbox(label="Context before the formula", lines=4, elem_id="ff-before",
                        value=first["before"] if first else "")
    after = gr.Textbox(label="Context after the formula", lines=3, elem_id="ff-after",
                       value=first["after"] if first else "")
    counter = gr.Markdown(context_counter(ctx, before.value, after.value), elem_id="ff-context-count")
    with gr.Row():
        stages = gr.Dropdown(choices, value=choices[-1], label="Model stages", elem_id="ff-stages")
        compare = gr.Checkbox(value=len(choices) > 1, label="Also show the base model")
        samples = gr.Slider(1, lim.max_samples, value=1, step=1, label="Samples")
        tokens = gr.Slider(1, max(2, lim.max_new_tokens), value=min(64, lim.max_new_tokens), step=1,
                           label="Max new tokens")
        greedy = gr.Checkbox(value=True, label="Greedy")
    with gr.Row():
        go = gr.Button("Generate", variant="primary", elem_id="ff-generate", scale=3)
        stream = gr.Button("Stream (greedy, chosen stages only)", elem_id="ff-stream", scale=1)
    ref_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-reference")
    with gr.Row():
        main_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-output")
        base_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-output-base")
    timing = gr.Markdown(elem_id="ff-timing")

    def streamed(visitor: Any, b: str, a: str, label: str, n: float, sample: Any) -> Iterator[Outputs]:
        yield from stream_formula(ctx, b, a, label, n, sample,
                                  session=str(getattr(visitor, "session_hash", "") or ""))

    streamed.__annotations__ = {"visitor": gr.Request}  # Gradio passes the visitor's request here
    stream.click(streamed, [before, after, stages, tokens, picked], [ref_md, main_md, base_md, timing],
                 concurrency_id="model")
    use.click(bind(ctx, "formula", "pick sample", pick_example), [example], [before, after, picked],
              api_name="pick_sample")
    for box in (before, after):
        box.change(lambda b, a: context_counter(ctx, b, a), [before, after], [counter], queue=False,
                   show_progress="hidden")
    # Clear the last results and say what happens now (loading on first use), then generate;
    # requests that wait in the queue together are generated together (batch=True).
    go.click(lambda label: loading_hint(ctx, label), [stages], [ref_md, main_md, base_md, timing],
             queue=False).then(
        bind(ctx, "formula", "generate", generate_formulas_batch),
        [before, after, stages, compare, samples, tokens, greedy, picked],
        [ref_md, main_md, base_md, timing], concurrency_id="model",
        api_name="generate_formula", batch=True, max_batch_size=lim.max_batch)


