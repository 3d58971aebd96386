"""Atomic writes and output folders that never overwrite someone else's work.

Everything is written to a temporary sibling first and renamed into place; rename is
atomic on POSIX filesystems, so readers see either the old output or the new one.

An output folder carries a marker (:data:`MARKER`, a small JSON file naming the kind of
output that wrote it). A command replaces or writes into a non-empty folder only when the
marker says it is that command's own kind of output, or when the user passes ``--force``;
the check runs before anything is touched (:func:`check_output`). File names alone prove
nothing: any folder may hold a ``manifest.json``.

Temporary files and folders follow the user's umask (``mkstemp``/``mkdtemp`` would leave
them 0600/0700, which a group sharing a dataset cannot read). A temporary folder holds a
lock for as long as its writer lives, so a rerun can tell a leftover of a killed run
(lock free) from a folder another live run is writing (lock held) and removes only the former.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:  # POSIX; elsewhere stale temporary folders are simply not cleaned
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

MARKER = ".formulaforge-output.json"
# Encoding-error policy of JSON outputs: inside a JSON string, Python's backslash escape of a lone
# surrogate (\ud800) *is* its JSON escape, so the file stays valid UTF-8 and valid JSON and reads
# back to the same string, where strict encoding would lose a whole report at the last step.
SAFE_ERRORS = "backslashreplace"
TMP_LOCK = ".formulaforge-tmp.lock"


class OutputExistsError(ValueError):
    """The output path holds something this command did not write (and ``--force`` was not given)."""


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _follow_umask(path: str | os.PathLike[str], is_dir: bool) -> None:
    os.chmod(path, (0o777 if is_dir else 0o666) & ~current_umask())


def output_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind recorded in a folder's marker, or None (no marker, unreadable marker)."""
    try:
        data = json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def _marker_text(kind: str) -> str:
    from formulaforge import __version__

    return json.dumps({"kind": kind, "written_by": f"formulaforge {__version__}"}) + "\n"


def check_output(path: str | os.PathLike[str], kind: str, *, force: bool = False, replaces: bool = False) -> Path:
    """Refuse (``OutputExistsError``) unless ``path`` may receive a ``kind`` output; touches nothing.

    Allowed: a missing path, an empty folder, a folder whose marker says ``kind``, or, with
    ``force``, any folder. A file is never replaced by a folder. A folder that is being
    replaced (``replaces``) may not be the working directory or one of its parents.
    """
    target = Path(path)
    resolved = target.resolve()
    if replaces:
        here = Path.cwd().resolve()
        if resolved == here or resolved in here.parents or resolved.parent == resolved:
            raise OutputExistsError(f"--out {path} is the current folder or one of its parents; name a new folder")
    if not target.exists():
        if target.is_symlink():
            raise OutputExistsError(f"{path} is a dangling symbolic link; refusing to write through it")
        return resolved
    if not target.is_dir():
        raise OutputExistsError(f"{path} exists and is a file, not a folder; refusing to replace it")
    if force or output_kind(target) == kind:
        return resolved
    with os.scandir(target) as entries:
        if next(entries, None) is None:
            return resolved
    other = output_kind(target)
    what = f"holds a FormulaForge {other} output, not a {kind}" if other else "is not empty and was not written here"
    verb = "replace" if replaces else "write into"
    raise OutputExistsError(f"{path} {what}; refusing to {verb} it (pass --force to {verb} it anyway)")


def claim_output(path: str | os.PathLike[str], kind: str, *, force: bool = False) -> Path:
    """For outputs written in place (runs that resume): check, create, and mark the folder."""
    check_output(path, kind, force=force)
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    if output_kind(target) != kind:
        write_text_atomic(target / MARKER, _marker_text(kind))
    return target


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8",
                errors: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "errors": errors}
    try:
        _follow_umask(tmp, is_dir=False)
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    with atomic_open(path, "w", errors=SAFE_ERRORS) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False, sort_keys=False)
        fh.write("\n")


def _is_stale(folder: Path) -> bool:
    """A temporary folder of ours whose writer is gone: its lock file exists and can be locked."""
    if fcntl is None:
        return False
    try:
        fd = os.open(folder / TMP_LOCK, os.O_RDONLY)
    except OSError:
        return False  # not ours, or its writer has not made the lock yet
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete ``.NAME.*.tmp`` folders next to ``target`` left by killed runs of ours; return them."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            name = entry.name
            if name.startswith(f".{target.name}.") and name.endswith(".tmp") and entry.is_dir() and _is_stale(entry):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], kind: str, *, force: bool = False) -> Iterator[Path]:
    """Build a ``kind`` output folder under a temporary name; swap it into place on success.

    Refuses first (see :func:`check_output`) when ``path`` holds anything but a ``kind``
    output, unless ``force``. The previous output is replaced only once the new one is complete.
    """
    target = check_output(path, kind, force=force, replaces=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    lock_fd = os.open(tmp / TMP_LOCK, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        _follow_umask(tmp, is_dir=True)
        yield tmp
        write_text_atomic(tmp / MARKER, _marker_text(kind))
        os.unlink(tmp / TMP_LOCK)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock_fd)
