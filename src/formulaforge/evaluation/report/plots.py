"""Loss curves per stage (training and validation loss against step), as PNG.

One panel per stage, every logged point drawn with a marker: a short run (the pipeline
logs every step up to 200) shows each step, and a stage with a single logged point is a
visible dot rather than an invisible zero-length line."""

from __future__ import annotations

from pathlib import Path

from formulaforge.evaluation.report.layout import read_log


def loss_curves(run_dir: str | Path, out_png: str | Path) -> Path | None:
    """One panel per trained stage; ``None`` when the run has no training log yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    logs = {s: read_log(run_dir, s) for s in (1, 2, 3)}
    logs = {s: log for s, log in logs.items() if log}
    if not logs:
        return None
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3.2), squeeze=False)
    for ax, (stage, log) in zip(axes[0], logs.items()):
        for key, style, label in (("loss", "o-", "training loss"), ("eval_loss", "s--", "validation loss")):
            points = [(r["step"], r[key]) for r in log if key in r and r.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, markersize=4 if len(points) > 1 else 7,
                        label=f"{label} ({len(points)} pts)")
        ax.set_title(f"Stage {stage}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png
