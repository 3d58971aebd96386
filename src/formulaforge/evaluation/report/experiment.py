"""The report page of the equal-compute MSFT experiment: table, per-seed plot, one-sentence conclusion.

Inputs are plain data (per-item NLL per arm and seed, generation metrics per arm), so the page
can be rebuilt from the files an experiment left behind. The conclusion sentence is composed
from :func:`formulaforge.evaluation.paired.verdict` of each comparison: it says "lower" only
when the item-bootstrap interval of the seed-averaged difference excludes 0 and every seed
agrees in sign, and otherwise reports no detectable difference next to the minimum detectable
effect, whichever way the numbers fall.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from formulaforge.evaluation.paired import across_seeds, per_token, verdict
from formulaforge.utils.atomic import write_json_atomic, write_text_atomic

NLL = list[tuple[float, int]]
GEN_COLUMNS = (("bleu", "BLEU"), ("sacrebleu", "sBLEU"), ("cer", "CER"), ("norm_exact", "norm. exact"),
               ("sym_equiv", "sym. equiv"))


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:+.{digits}f}"


def conclusion(results: dict[str, dict[str, Any]], items: int, seeds: int) -> str:
    """One sentence over the comparisons C-B and D-E (and D-F when present), from the numbers."""
    phrases = {"C-B": ("stage II", "stage I continued for the same steps"),
               "D-E": ("stage III", "stage II continued for the same steps"),
               "D-F": ("D+Q", "one D-plugin of matched parameters")}
    parts = []
    for key, (x, y) in phrases.items():
        r = results.get(key)
        if r is None:
            continue
        v = verdict(r)
        numbers = (f"{key.replace('-', ' - ')} = {_fmt(r['mean'])} nats/token, 95 % CI [{_fmt(r['lo'])}, "
                   f"{_fmt(r['hi'])}], lower on {r['negative']}/{r['seeds']} seeds")
        if v == "lower":
            parts.append(f"{x} beat {y} ({numbers})")
        elif v == "higher":
            parts.append(f"{x} was worse than {y} ({numbers})")
        else:
            parts.append(f"{x} showed no detectable difference from {y} ({numbers}; minimum detectable effect "
                         f"{r['mde_items']:.4f} over items, {r['mde_seeds']:.4f} over seeds)")
    return f"On {items} held-out stage-I items and {seeds} seeds, " + "; ".join(parts) + "."


def _plot(results: dict[str, dict[str, Any]], seeds: Sequence[int], out_png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(keys), 3.4))
    for j, key in enumerate(keys):
        r = results[key]
        for i, (seed, p) in enumerate(zip(seeds, r["per_seed"], strict=True)):
            x = j + (i - (len(seeds) - 1) / 2) * 0.12
            ax.errorbar([x], [p["diff"]], yerr=[[p["diff"] - p["lo"]], [p["hi"] - p["diff"]]], fmt="o", ms=4,
                        capsize=2, color=f"C{i % 10}", label=f"seed {seed}" if j == 0 else None)
        ax.hlines(r["mean"], j - 0.3, j + 0.3, colors="black", linewidth=2)
    ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(keys)), keys)
    ax.set_ylabel("paired difference, NLL nats/token\n(< 0: first arm better)")
    ax.set_title("Per-seed paired differences (95 % item-bootstrap CI); bar: mean")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png


def write_experiment_report(
    out_dir: str | Path,
    nll: dict[tuple[str, int | None], NLL],
    seeds: Sequence[int],
    comparisons: Sequence[tuple[str, str, str]],
    gen: dict[str, dict[str, Any]],
    meta: dict[str, Any],
    *,
    n_boot: int = 2000,
) -> dict[str, Path]:
    """Write ``experiment.md``, ``experiment.json`` and ``per_seed.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arms = sorted({a for a, s in nll if s is not None}, key=lambda a: (len(a), a))
    items = len(nll["A", None])
    results = {f"{x}-{y}": across_seeds([(nll[x, s], nll[y, s]) for s in seeds], n_boot=n_boot)
               for x, y, _ in comparisons}
    sentence = conclusion(results, items, len(seeds))
    steps = meta.get("steps", {})
    setup = (f"Model {meta.get('model')}, mode `{meta.get('mode')}`, r1 {meta.get('r1')}, r2 {meta.get('r2')}, "
             f"r3 {meta.get('r3')}, matched r2 {meta.get('matched_r2')}; steps I / II / III = "
             f"{steps.get('I')} / {steps.get('II')} / {steps.get('III')}, pairs per step {meta.get('batch')}; "
             f"{len(seeds)} seeds; {items} held-out stage-I test items.")
    lines = ["# Equal-compute MSFT experiment", "", setup, "",
             f"**Conclusion.** {sentence}", "",
             "## Label NLL per token (teacher-forced, nats; lower is better)", "",
             "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
             "|---|" + "---|" * (len(seeds) + 1)]
    a = per_token(nll["A", None])
    lines.append("| A (stage I, shared) | " + " | ".join(f"{a:.4f}" for _ in seeds) + f" | {a:.4f} |")
    for arm in arms:
        vals = [per_token(nll[arm, s]) for s in seeds]
        lines.append(f"| {arm} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {sum(vals) / len(vals):.4f} |")
    lines += ["", "## Paired differences (first minus second; < 0: first better)", "",
              "| comparison | what | " + " | ".join(f"seed {s} [95 % CI]" for s in seeds)
              + " | mean [95 % CI] | sign (lower/higher) | MDE items / seeds | verdict |",
              "|---|---|" + "---|" * (len(seeds) + 4)]
    for x, y, what in comparisons:
        r = results[f"{x}-{y}"]
        cells = [f"{_fmt(p['diff'])} [{_fmt(p['lo'])}, {_fmt(p['hi'])}]" for p in r["per_seed"]]
        lines.append(f"| {x} - {y} | {what} | " + " | ".join(cells)
                     + f" | {_fmt(r['mean'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}] | {r['negative']}/{r['positive']}"
                     f" | {r['mde_items']:.4f} / {r['mde_seeds']:.4f} | {verdict(r)} |")
    lines += ["", "![per-seed paired differences](per_seed.png)", ""]
    if gen:
        lines += [f"## Greedy generation (seed {meta.get('first_seed')}, {meta.get('gen_items')} items)", "",
                  "| arm | " + " | ".join(h for _, h in GEN_COLUMNS) + " |", "|---|" + "---|" * len(GEN_COLUMNS)]
        for arm, metrics in gen.items():
            cells = [f"{metrics[k]['mean']:.4f}" if k in metrics else "-" for k, _ in GEN_COLUMNS]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    note = ("Intervals: percentile bootstrap over items (the same resampled items for both arms). "
            "Verdict `lower`/`higher` only when the interval of the seed-averaged difference excludes 0 and "
            "every seed agrees in sign. MDE: 2.8 x the bootstrap SE over items; over seeds "
            "(t_0.975 + t_0.80) x sd / sqrt(seeds).")
    lines += [note, ""]
    md = out / "experiment.md"
    write_text_atomic(md, "\n".join(lines))
    png = _plot(results, seeds, out / "per_seed.png")
    data = {"conclusion": sentence, "results": results, "meta": meta, "items": items,
            "per_token": {f"{arm}/{s}": per_token(v) for (arm, s), v in nll.items()}}
    write_json_atomic(out / "experiment.json", json.loads(json.dumps(data, default=float)))
    return {"markdown": md, "json": out / "experiment.json", "plot": png}
