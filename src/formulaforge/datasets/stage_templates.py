"""Instruction templates of the three MSFT stage datasets (user messages, no chat markup).

Each template is a ``str.format`` string; the fields it may use are listed in
:data:`FIELDS`. Users override any of them with a YAML/JSON file (``--templates``).
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path
from typing import Any

FIELDS: dict[str, frozenset[str]] = {
    "stage1": frozenset({"context_before", "context_after"}),
    "stage2": frozenset({"formula"}),
    "stage2_denoise": frozenset({"formula"}),
    "stage3": frozenset({"previous"}),
}


@dataclasses.dataclass(frozen=True)
class StageTemplates:
    """User-message templates; see the module docstring."""

    stage1: str = (
        "Write the LaTeX formula that belongs between these two passages of a mathematical text.\n\n"
        "Context before the formula:\n{context_before}\n\n"
        "Context after the formula:\n{context_after}"
    )
    stage2: str = "Write out this LaTeX formula.\n\nFormula: {formula}"
    stage2_denoise: str = (
        "This LaTeX formula has been corrupted (some tokens masked or moved). Write the original formula.\n\n"
        "Corrupted formula: {formula}"
    )
    stage3: str = (
        "Here is a sub-expression of a formula, computed in order of priority. "
        "Write the next larger sub-expression.\n\nSub-expression: {previous}"
    )

    def __post_init__(self) -> None:
        for name, allowed in FIELDS.items():
            template = getattr(self, name)
            used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            unknown = used - allowed
            if unknown:
                raise ValueError(
                    f"template {name!r} uses unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
                )

    @classmethod
    def from_file(cls, path: str | Path) -> StageTemplates:
        """Read overrides from a YAML or JSON mapping ``{stage1: ..., stage3: ...}``."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data: Any
        from formulaforge.utils.config_text import load_json, load_yaml

        if path.suffix.lower() == ".json":
            data = load_json(text, str(path))
        else:
            data = load_yaml(text, str(path))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of template names to strings")
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise ValueError(f"{path}: unknown template name(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
        if not all(isinstance(v, str) for v in data.values()):
            raise ValueError(f"{path}: every template must be a string")
        return cls(**data)

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)
