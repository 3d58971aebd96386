"""The run manifest: which pipeline steps finished, so a re-run skips them and resumes the rest.

A step is marked ``done`` only after its outputs are fully written (they are written
atomically), so a crash mid-step leaves it ``started`` and the next run redoes it. The
recipe's hash is kept: a step whose settings changed is not silently reused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.utils.atomic import write_json_atomic


@dataclass
class StepRecord:
    status: str  # "started" | "done" | "failed"
    settings_hash: str
    started: float
    finished: float | None = None
    seconds: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class RunManifest:
    """``RUN_DIR/manifest.json``: one record per step, rewritten atomically on every change."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / "manifest.json"
        self.steps: dict[str, StepRecord] = {}
        self.meta: dict[str, Any] = {}
        if self.path.exists():
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.meta = raw.get("meta", {})
            self.steps = {name: StepRecord(**rec) for name, rec in raw.get("steps", {}).items()}

    def is_done(self, step: str, settings_hash: str) -> bool:
        rec = self.steps.get(step)
        return rec is not None and rec.status == "done" and rec.settings_hash == settings_hash

    def start(self, step: str, settings_hash: str) -> None:
        self.steps[step] = StepRecord("started", settings_hash, time.time())
        self.save()

    def finish(self, step: str, outputs: dict[str, Any] | None = None) -> None:
        rec = self.steps[step]
        rec.status, rec.finished = "done", time.time()
        rec.seconds = rec.finished - rec.started
        rec.outputs = outputs or {}
        self.save()

    def fail(self, step: str, error: str) -> None:
        rec = self.steps[step]
        rec.status, rec.finished, rec.error = "failed", time.time(), error
        rec.seconds = rec.finished - rec.started
        self.save()

    def save(self) -> None:
        write_json_atomic(
            self.path, {"meta": self.meta, "steps": {k: vars(v) for k, v in self.steps.items()}}
        )
