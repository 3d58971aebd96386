"""The settings a reader needs before the numbers: model, data, training budget, decoding,
test samples and sampling runs, read from the run's resolved recipe and its evaluations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from formulaforge.evaluation.report.layout import EvalRow, read_config


def _stage_budget(t: dict[str, Any]) -> str:
    steps = f"{t['max_steps']} steps" if t.get("max_steps") else f"{t.get('epochs')} epochs"
    limit = f", first {t['train_limit']} pairs" if t.get("train_limit") else ""
    return (f"{steps}, batch {t.get('batch_size')} x {t.get('grad_accum', 1)}, lr {t.get('lr')}, "
            f"<= {t.get('max_input_tokens')} input / {t.get('max_output_tokens')} output tokens{limit}")


def settings_markdown(name: str, rows: Sequence[EvalRow]) -> str:
    """A bulleted block for the top of the report (no ``###`` headings: the CLI prints the
    first ``###`` table of the report)."""
    cfg = read_config(rows[0].run_dir) if rows else {}
    meta = next((r.metrics.get("_meta", {}) for r in rows if r.metrics.get("_meta")), {})
    lines = [f"**Run `{name}`**", ""]
    model = cfg.get("model") or {}
    if model:
        lines.append(f"- model: `{model.get('name')}` ({model.get('dtype', 'float32')})")
    data = cfg.get("data") or {}
    if data:
        lines.append(f"- data: {', '.join(f'`{s}`' for s in data.get('sources') or [])}, "
                     f"seed {data.get('seed', 0)}")
    msft = cfg.get("msft") or {}
    if msft:
        lines.append(f"- MSFT: r1 {msft.get('r1')}, alpha {msft.get('alpha')}, r2 {msft.get('r2')}, "
                     f"r3 {msft.get('r3')}, mode {msft.get('mode')}"
                     + (", joint" if msft.get("joint") else "")
                     + (", from scratch" if msft.get("from_scratch") else ""))
    train = cfg.get("train") or {}
    for n in train.get("stages") or []:
        if train.get(f"stage{n}"):
            lines.append(f"- stage {n} training: {_stage_budget(train[f'stage{n}'])}")
    ev = cfg.get("eval") or {}
    if meta or ev:
        greedy = meta.get("greedy", ev.get("greedy"))
        decoding = "greedy" if greedy else (f"sampling, temperature {ev.get('temperature', '?')}, "
                                            f"top-p {ev.get('top_p', '?')}")
        lines.append(f"- evaluation: {meta.get('n_samples', ev.get('limit') or 'all')} test samples x "
                     f"{meta.get('runs', ev.get('runs'))} sampling run(s); {decoding}; "
                     f"<= {meta.get('max_new_tokens', ev.get('max_new_tokens'))} new tokens"
                     + (f"; {meta['few_shot']}-shot row" if meta.get("few_shot") else ""))
        lines.append("- every number below is the mean ± std over the sampling runs of that row")
    if not cfg:
        lines.append("- (no config.yaml in the run folder: settings unknown)")
    return "\n".join(lines) + "\n"
