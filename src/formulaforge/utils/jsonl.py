"""JSON Lines reading and (atomic) writing, streaming so memory stays bounded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from formulaforge.utils.atomic import SAFE_ERRORS, atomic_open


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line; a broken line raises with its line number."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            except RecursionError:
                raise ValueError(f"{path}:{lineno}: JSON nested too deeply") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")  # noqa: TRY004
            yield row


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; return how many were written.

    Text that is not valid Unicode (a lone UTF-16 surrogate in a model's output) is written as
    its JSON escape (``\\ud800``) instead of failing the whole file: see :data:`SAFE_ERRORS`.
    """
    n = 0
    with atomic_open(Path(path), "w", errors=SAFE_ERRORS) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n
