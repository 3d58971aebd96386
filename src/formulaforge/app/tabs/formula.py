"""Formula from context: the stage-I task, base and fine-tuned side by side."""

from __future__ import annotations

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.models import GenerationBatch
from formulaforge.app.render import LATEX_DELIMITERS, formula_card
from formulaforge.app.workspace import STAGE_LABELS, stage_number


def example_choices(ctx: AppContext) -> list[str]:
    return [f"{i}: {ex['before'][-70:].strip()} …" for i, ex in enumerate(ctx.workspace.test_examples())]


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


def generate_formulas(ctx: AppContext, before: str, after: str, stages_label: str, compare_base: bool,
                      samples: float, max_new_tokens: float, greedy: bool, picked: dict[str, str] | None, *,
                      request: Request) -> tuple[str, str, str, str]:
    """(reference card, chosen-model outputs, base outputs, timing line).

    The reference is shown only while the context is still the picked test sample's."""
    from formulaforge.datasets.prompts import render_prompt
    from formulaforge.models.generation import SamplingConfig

    lim = ctx.limits
    before = lim.check_text(before, "the context before the formula")
    after = (after or "").strip()
    if len(after) > lim.max_input_chars:
        raise ValueError(f"the context after the formula is {len(after):,} characters; "
                         f"the limit is {lim.max_input_chars:,}")
    stages = stage_number(stages_label)
    stages_dir = ctx.workspace.stage_dir(stages)
    n = max(1, min(int(samples), lim.max_samples))
    tokens = max(1, min(int(max_new_tokens), lim.max_new_tokens))
    prompt_text = ctx.workspace.formula_prompt(before, after)
    tokenizer = ctx.pool.tokenizer(stages_dir)
    prompt = render_prompt(prompt_text, tokenizer)
    sampling = SamplingConfig(greedy=bool(greedy), max_new_tokens=tokens, seed=len(ctx.session.rows()))
    runs = [(stages, stages_dir)]
    if compare_base and stages != 0:
        runs.append((0, None))
    shown: dict[int, str] = {}
    timing = []
    total_tokens = 0
    for s, path in runs:
        label = STAGE_LABELS[s]
        # n samples of one prompt: greedy decoding gives one distinct answer, so one row suffices.
        batch = ctx.pool.generate(path, [prompt] * (1 if greedy else n), sampling, lim.generation_timeout_s)
        shown[s] = _outputs(batch, f"{label} ({batch.description})")
        total_tokens += batch.new_tokens
        timing.append(f"**{label}**: {batch.seconds:.2f} s, {batch.new_tokens} new tokens, "
                      f"{batch.tokens_per_s:.1f} tokens/s")
    request.tokens = total_tokens
    request.detail = f"stages={stages_label} n={n} tokens={tokens}"
    unchanged = bool(picked) and (picked["before"].strip(), picked["after"].strip()) == (before, after)
    ref = formula_card("Reference", picked["label"]) if unchanged and picked["label"].strip() else ""
    return ref, shown[stages], shown.get(0, "") if stages != 0 else "", " · ".join(timing)


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.tabs._bind import bind

    ws, lim = ctx.workspace, ctx.limits
    choices = ws.stage_choices()
    picked = gr.State(None)
    with gr.Row():
        example = gr.Dropdown(example_choices(ctx), label="Test sample", scale=4, elem_id="ff-example")
        use = gr.Button("Use sample", scale=1, elem_id="ff-use-example")
    before = gr.Textbox(label="Context before the formula", lines=4, max_length=lim.max_input_chars,
                        elem_id="ff-before")
    after = gr.Textbox(label="Context after the formula", lines=3, max_length=lim.max_input_chars,
                       elem_id="ff-after")
    with gr.Row():
        stages = gr.Dropdown(choices, value=choices[-1], label="Model stages", elem_id="ff-stages")
        compare = gr.Checkbox(value=len(choices) > 1, label="Also show the base model")
        samples = gr.Slider(1, lim.max_samples, value=1, step=1, label="Samples")
        tokens = gr.Slider(1, max(2, lim.max_new_tokens), value=min(64, lim.max_new_tokens), step=1,
                           label="Max new tokens")
        greedy = gr.Checkbox(value=True, label="Greedy")
    go = gr.Button("Generate", variant="primary", elem_id="ff-generate")
    ref_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-reference")
    with gr.Row():
        main_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-output")
        base_md = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-output-base")
    timing = gr.Markdown(elem_id="ff-timing")

    use.click(bind(ctx, "formula", "pick sample", pick_example), [example], [before, after, picked],
              api_name="pick_sample")
    go.click(bind(ctx, "formula", "generate", generate_formulas),
             [before, after, stages, compare, samples, tokens, greedy, picked],
             [ref_md, main_md, base_md, timing], concurrency_id="model",
             api_name="generate_formula")


