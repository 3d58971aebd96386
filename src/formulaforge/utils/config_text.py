"""Parse user-written YAML / JSON settings with one clear error for any malformed file.

``yaml.safe_load`` and ``json.loads`` recurse once per nesting level, so a few kilobytes of
``[[[[...`` end in ``RecursionError`` (a traceback, not a message); syntax errors carry
multi-line reports. Both become a one-line ``ValueError`` naming the file.
"""

from __future__ import annotations

import json
from typing import Any


def load_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply to be a settings file") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ValueError(f"{source}: not valid YAML{at} ({getattr(exc, 'problem', None) or 'syntax error'})") from None


def load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply to be a settings file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None


def load_settings(text: str, source: str) -> Any:
    """JSON for ``*.json``, YAML otherwise."""
    return load_json(text, source) if str(source).lower().endswith(".json") else load_yaml(text, source)
