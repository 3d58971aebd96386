"""Operation trees: formula or OTS in; tree, OTS, formula strings and the three-scale image out;
Botfip-LLM's formula for the image, or for measured points, when a model is loaded."""

from __future__ import annotations

from typing import Any

import numpy as np

from formulaforge.app.activity import Request
from formulaforge.app.context import AppContext
from formulaforge.app.render import LATEX_DELIMITERS, math_block, source_block


def image_panels(images: np.ndarray, scales: list[float]) -> np.ndarray:
    """The three channels side by side, as an RGB array (x0 across, x1 up: the images store x0 on rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scales), figsize=(3.2 * len(scales), 3.2), dpi=80)
    for ax, channel, scale in zip(np.atleast_1d(axes), images, scales, strict=True):
        ax.imshow(np.asarray(channel).T, cmap="viridis", origin="lower", extent=(-scale, scale, -scale, scale))
        ax.set_title(f"x0, x1 in [-{scale:g}, {scale:g}]")
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def show_tree(ctx: AppContext, text: str, constants: str, *, request: Request
              ) -> tuple[dict[str, Any], str, str, np.ndarray]:
    """(state for prediction, summary markdown, tree drawing, image panels)."""
    from formulaforge.app.trees import build_tree

    text = ctx.limits.check_text(text, "the formula or OTS")
    tree = ctx.cas.run(build_tree, text, constants or "")
    request.detail = f"{tree['nodes']} nodes"
    note = " (random constants: type some to choose)" if tree["random_constants"] else ""
    summary = "\n\n".join([
        f"**OTS** ({tree['nodes']} nodes, depth {tree['depth']}): `{', '.join(map(str, tree['ots']))}`",
        "**Skeleton**", math_block(tree["skeleton_latex"]), source_block(tree["skeleton"]),
        f"**With constants** {[round(c, 4) for c in tree['constants']]}{note}",
        math_block(tree["formula_latex"]),
        f"Defined on {tree['defined']:.0%} of the grid.",
    ])
    state = {"images": tree["images"], "scale_factors": tree["scale_factors"], "ots": tree["ots"]}
    return state, summary, tree["drawing"], image_panels(tree["images"], tree["scales"])


def predict_formula(ctx: AppContext, state: dict[str, Any] | None, beam: float, *, request: Request) -> str:
    from formulaforge.app.trees import predict_from_images

    if ctx.botfip_run is None:
        raise ValueError("no Botfip-LLM model is loaded (start the app with --botfip RUN_DIR)")
    if not state:
        raise ValueError("build a tree first: its function image is what the model reads")
    out = ctx.cas.run(predict_from_images, str(ctx.botfip_run), state["images"], state["scale_factors"],
                      int(beam), timeout_s=max(60.0, ctx.limits.cas_timeout_s))
    request.detail = "valid" if out["valid"] else "invalid"
    if not out["valid"]:
        return f"The model's OTS `{out['ots']}` does not rebuild into a tree."
    same = "✅ same skeleton as the input" if out["ots"] == state["ots"] else "different skeleton from the input"
    return "\n\n".join([
        f"**Predicted OTS**: `{', '.join(map(str, out['ots']))}` ({same})",
        "**Fitted formula**", math_block(out["latex"] or ""), source_block(out["fitted"] or ""),
        f"MSE {out['mse']:.3g}, R² {out['r2']:.4f} on 512 pixels of the image",
    ])


def predict_points(ctx: AppContext, text: str, upload: Any, top_k: float, beam: float, *, request: Request) -> str:
    """Measured points -> the top-k formulas with fitted constants and R^2."""
    from formulaforge.app.trees import predict_from_points

    if ctx.botfip_run is None:
        raise ValueError("no Botfip-LLM model is loaded (start the app with --botfip RUN_DIR)")
    text = ctx.limits.check_text(text, "the points") if (text or "").strip() else ""  # an upload alone is fine
    path = getattr(upload, "name", upload) if upload else None
    out = ctx.cas.run(predict_from_points, str(ctx.botfip_run), text, path, int(top_k), int(beam),
                      timeout_s=max(60.0, ctx.limits.cas_timeout_s))
    request.detail = f"{out['n_points']} points, {len(out['candidates'])} candidates"
    parts = [(f"{out['n_points']} points; they cover {out['grid_coverage']:.0%} of the model's grids "
              "(the rest reads as undefined).")]
    for rank, c in enumerate(out["candidates"], 1):
        if not c["valid"]:
            parts.append(f"**{rank}.** OTS `{c['ots']}` does not rebuild into a tree.")
            continue
        parts += [f"**{rank}.** R² {c['r2']:.4f}, MSE {c['mse']:.3g} — OTS `{', '.join(map(str, c['ots']))}`",
                  math_block(c["latex"] or ""), source_block(c["fitted"] or "")]
    return "\n\n".join(parts)


def build(ctx: AppContext) -> None:
    import gradio as gr

    from formulaforge.app.tabs._bind import bind

    state = gr.State(None)
    with gr.Row():
        text = gr.Textbox(label="Formula over x0, x1 (C0, C1… for constants) or an OTS",
                          value="C0*sin(x0) + x1^2", max_length=ctx.limits.max_input_chars, scale=3,
                          elem_id="ff-tree-input")
        constants = gr.Textbox(label="Constants (optional, comma-separated)", scale=1)
        go = gr.Button("Build tree", variant="primary", scale=1, elem_id="ff-build-tree")
    with gr.Row():
        summary = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-tree-summary")
        drawing = gr.Code(label="Tree", language=None, elem_id="ff-tree-drawing")
    image = gr.Image(label="Function image (three scales)", type="numpy", interactive=False,
                     elem_id="ff-tree-image")
    with gr.Row():
        beam = gr.Slider(1, 8, value=1, step=1, label="Beam size")
        predict = gr.Button("Predict the formula from this image (Botfip-LLM)",
                            interactive=ctx.botfip_run is not None, elem_id="ff-predict")
    prediction = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-prediction")

    go.click(bind(ctx, "trees", "build", show_tree), [text, constants], [state, summary, drawing, image],
             concurrency_id="cas", api_name="build_tree")
    with gr.Accordion("Points -> formula (Botfip-LLM)", open=False):
        gr.Markdown("Measurements of y over (x0, x1): paste CSV rows with the header `x0,x1,y` or upload a CSV/.npy "
                    "file. They are interpolated onto the model's three grids, the model proposes skeletons and "
                    "each gets its constants fitted to your points.")
        with gr.Row():
            points_text = gr.Textbox(label="Points (CSV: x0,x1,y)", lines=6, max_length=ctx.limits.max_input_chars,
                                     elem_id="ff-points-text")
            points_file = gr.File(label="…or a CSV / .npy file", file_types=[".csv", ".npy"])
        with gr.Row():
            top_k = gr.Slider(1, 5, value=3, step=1, label="Formulas to return")
            fit = gr.Button("Find formulas for these points", interactive=ctx.botfip_run is not None,
                            elem_id="ff-predict-points")
        points_out = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="ff-points-prediction")

    predict.click(bind(ctx, "trees", "predict", predict_formula), [state, beam], [prediction],
                  concurrency_id="cas")
    fit.click(bind(ctx, "trees", "points", predict_points), [points_text, points_file, top_k, beam], [points_out],
              concurrency_id="cas")
