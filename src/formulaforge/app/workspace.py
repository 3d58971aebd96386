"""The run directory the web UI serves, and the only files it may read.

Every path the page names is resolved here, relative to the run directory, and refused
if it leaves it (``..``, absolute paths, symlinks pointing out). The UI never opens a file
any other way, so a visitor cannot read the rest of the machine.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formulaforge.datasets.stage_templates import StageTemplates
from formulaforge.datasets.stages import clip_context

DEFAULT_MODEL = "smollm2-135m"
STAGE_LABELS = {0: "base", 1: "I", 2: "I+II", 3: "I+II+III"}
"""Stage choices in the page; the number is how many MSFT stages are composed."""
BROWSABLE_SUFFIXES = (".jsonl",)
MAX_BROWSE_FILES = 200
MAX_EXAMPLES = 50
"""Test samples offered in the formula tab."""


class OutsideRunError(ValueError):
    """A path that would leave the run directory."""


def stage_number(label: str) -> int:
    for n, name in STAGE_LABELS.items():
        if name == label:
            return n
    raise ValueError(f"unknown stage choice {label!r}; choose from {', '.join(STAGE_LABELS.values())}")


@dataclass
class Workspace:
    """A pipeline run folder (``formulaforge run`` output) or nothing (base model only)."""

    run_dir: Path | None = None
    model_override: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, run_dir: str | Path | None, model: str | None = None) -> Workspace:
        if run_dir is None:
            return cls(None, model)
        root = Path(run_dir).expanduser().resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"run directory {run_dir} does not exist")
        config: dict[str, Any] = {}
        cfg_path = root / "config.yaml"
        if cfg_path.is_file():
            import yaml

            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
            config = loaded if isinstance(loaded, dict) else {}
        return cls(root, model, config)

    # -- paths -------------------------------------------------------------------------
    def resolve(self, relative: str | Path) -> Path:
        """``relative`` inside the run directory, or :class:`OutsideRunError`."""
        if self.run_dir is None:
            raise OutsideRunError("no run directory is open (start the app with --run RUN_DIR)")
        rel = Path(str(relative).strip())
        if rel.is_absolute() or ".." in rel.parts or str(relative).startswith("~"):
            raise OutsideRunError(f"{relative!s} is not a path inside the run directory")
        path = (self.run_dir / rel).resolve()
        if path != self.run_dir and self.run_dir not in path.parents:
            raise OutsideRunError(f"{relative!s} points outside the run directory")
        return path

    def browsable_files(self) -> list[str]:
        """JSONL files of the run (triplets, stage sets, synthetic sets), relative paths."""
        if self.run_dir is None:
            return []
        found: list[str] = []
        for path in sorted(self.run_dir.rglob("*")):
            if path.suffix in BROWSABLE_SUFFIXES and path.is_file() and "checkpoints" not in path.parts:
                try:
                    found.append(str(self.resolve(path.relative_to(self.run_dir))
                                     .relative_to(self.run_dir)))
                except OutsideRunError:
                    continue  # a symlink out of the run: not shown
            if len(found) >= MAX_BROWSE_FILES:
                break
        return found

    # -- model and stages --------------------------------------------------------------
    @property
    def model_name(self) -> str:
        if self.model_override:
            return self.model_override
        model = self.config.get("model") or {}
        return str(model.get("name") or DEFAULT_MODEL)

    @property
    def trust_remote_code(self) -> bool:
        return bool((self.config.get("model") or {}).get("trust_remote_code", False))

    def stage_dir(self, stages: int) -> Path | None:
        """The MSFT run folder holding stages I..``stages`` (None for the base model)."""
        if stages == 0:
            return None
        path = self.resolve(Path("train") / f"stage{stages}")
        if not (path / "msft.json").is_file():
            raise FileNotFoundError(f"this run has no trained stage {STAGE_LABELS[stages]} ({path.name})")
        return path

    def stage_choices(self) -> list[str]:
        choices = [STAGE_LABELS[0]]
        if self.run_dir is not None:
            for n in (1, 2, 3):
                if (self.run_dir / "train" / f"stage{n}" / "msft.json").is_file():
                    choices.append(STAGE_LABELS[n])
        return choices

    # -- the stage-I prompt, exactly as training saw it --------------------------------
    @functools.cached_property
    def _stage_manifest(self) -> dict[str, Any]:
        """Read once: every prompt the page builds needs the run's template and clipping."""
        if self.run_dir is None:
            return {}
        path = self.run_dir / "stages" / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @functools.cached_property
    def templates(self) -> StageTemplates:
        saved = self._stage_manifest.get("templates")
        return StageTemplates(**saved) if saved else StageTemplates()

    @property
    def max_context_chars(self) -> int | None:
        return (self._stage_manifest.get("options") or {}).get("max_context_chars")

    def formula_prompt(self, before: str, after: str) -> str:
        """The stage-I user message for a context pair (clipped as the stage builder clips)."""
        before, after = clip_context(before, after, self.max_context_chars)
        return self.templates.stage1.format(context_before=before, context_after=after)

    def split_prompt(self, prompt: str) -> tuple[str, str] | None:
        """(before, after) read back out of a stage-I input; None if it does not fit the template."""
        tpl = self.templates.stage1
        pattern = re.escape(tpl).replace(re.escape("{context_before}"), "(?P<b>.*?)")
        pattern = pattern.replace(re.escape("{context_after}"), "(?P<a>.*)")
        m = re.fullmatch(pattern, prompt, flags=re.DOTALL)
        return (m.group("b"), m.group("a")) if m else None

    @functools.cached_property
    def _examples(self) -> list[dict[str, str]]:
        """The first :data:`MAX_EXAMPLES` stage-I test samples, read once."""
        if self.run_dir is None:
            return []
        path = self.run_dir / "stages" / "stage1" / "test.jsonl"
        out: list[dict[str, str]] = []
        if not path.is_file():
            return out
        from formulaforge.utils.jsonl import read_jsonl

        for row in read_jsonl(path):
            parts = self.split_prompt(str(row.get("input", "")))
            if parts is None:
                continue
            out.append({"id": str(row.get("id", len(out))), "before": parts[0], "after": parts[1],
                        "label": str(row.get("label", "")), "doc": str(row.get("doc_id") or "")})
            if len(out) >= MAX_EXAMPLES:
                break
        return out

    def test_examples(self, limit: int = MAX_EXAMPLES) -> list[dict[str, str]]:
        """The first ``limit`` stage-I test samples as {id, before, after, label}."""
        return self._examples[:limit]
