"""Where a run keeps what the report reads.

``RUN_DIR/config.yaml``: the resolved recipe. ``RUN_DIR/eval/<row>/``: one evaluated
model variant: ``metrics.json`` (per-run values, mean, std), ``predictions.jsonl`` and
``row.json`` (``label``, ``order``, ``trainable``, ``total`` parameters). Training logs:
``RUN_DIR/train/stage<N>/log.jsonl`` (the Trainer's log history: one JSON object per
logging step with ``step`` and ``loss`` or ``eval_loss``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Row names the pipeline writes, in the MSFT Table 1 order.
TABLE1_ROWS = ("baseline", "few_shot", "stage1", "stage2", "stage3")
ROW_LABELS = {
    "baseline": "Baseline (zero-shot)",
    "few_shot": "Baseline (few-shot)",
    "stage1": "w/ LoRA",
    "stage2": "w/ LoRA+D-plugin",
    "stage3": "w/ LoRA+D-plugin+Q-plugin",
}


@dataclass
class EvalRow:
    run_dir: Path
    name: str
    label: str
    order: int
    trainable: int | None
    total: int | None
    metrics: dict[str, Any]

    @property
    def new_total_pct(self) -> float | None:
        if not self.trainable or not self.total:
            return None
        return 100.0 * self.trainable / self.total


def read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_rows(run_dir: str | Path) -> list[EvalRow]:
    """Every evaluated variant of a run, in table order."""
    run_dir = Path(run_dir)
    rows = []
    for metrics_path in sorted((run_dir / "eval").glob("*/metrics.json")):
        name = metrics_path.parent.name
        meta_path = metrics_path.parent / "row.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        default_order = TABLE1_ROWS.index(name) if name in TABLE1_ROWS else 100
        rows.append(
            EvalRow(
                run_dir=run_dir,
                name=name,
                label=meta.get("label", ROW_LABELS.get(name, name)),
                order=int(meta.get("order", default_order)),
                trainable=meta.get("trainable"),
                total=meta.get("total"),
                metrics=json.loads(metrics_path.read_text()),
            )
        )
    return sorted(rows, key=lambda r: (r.order, r.name))


def read_log(run_dir: Path, stage: int) -> list[dict[str, Any]]:
    path = run_dir / "train" / f"stage{stage}" / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
