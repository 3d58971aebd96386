"""Quiet, honest console output for long jobs.

Libraries (transformers, peft, accelerate, datasets, huggingface_hub, torch) log warnings
and draw their own tqdm bars; inside a pipeline step that buries the one line a person
wants. :func:`library_output` sends their logging and Python warnings to the run's log
file and turns their bars off for the block; ``verbose=True`` leaves everything as the
libraries do it. :func:`step_progress` is the single rich bar a step shows instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VERBOSE: contextvars.ContextVar[bool] = contextvars.ContextVar("formulaforge_verbose", default=False)
"""``--verbose`` for everything below a command: set once by the command, read by the layers."""

LIBRARY_LOGGERS = ("transformers", "peft", "accelerate", "datasets", "huggingface_hub", "torch",
                   "py.warnings")


@contextlib.contextmanager
def library_output(log_file: str | Path | None, *, verbose: bool | None = None) -> Iterator[None]:
    """Route library logging and warnings to ``log_file`` (appended) and hide their progress bars.
    ``verbose=None`` follows :data:`VERBOSE`."""
    if verbose or (verbose is None and VERBOSE.get()):
        yield
        return
    handler: logging.Handler
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.NullHandler()
    saved = []
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.handlers[:], lg.propagate, lg.level))
        lg.handlers = [handler]
        lg.propagate = False
        lg.setLevel(logging.INFO)
    bars = _library_bars(False)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        _library_bars(bars)
        for lg, handlers, propagate, level in saved:
            lg.handlers, lg.propagate = handlers, propagate
            lg.setLevel(level)
        handler.close()


def _library_bars(enabled: bool | Any) -> Any:
    """Turn transformers' and huggingface_hub's tqdm bars on or off; returns the previous state."""
    try:
        from transformers.utils import logging as tf_logging
    except ImportError:
        return None
    before = tf_logging.is_progress_bar_enabled()
    if enabled is None:
        return before
    (tf_logging.enable_progress_bar if enabled else tf_logging.disable_progress_bar)()
    try:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        (enable_progress_bars if enabled else disable_progress_bars)()
    except ImportError:
        pass
    return before


@contextlib.contextmanager
def step_progress(description: str, total: int | None) -> Iterator[Any]:
    """One transient rich bar on stderr with the elapsed time and ETA; yields ``(progress, task)``.

    Rich draws it only on a terminal; in a log or a CI job nothing is printed, and the
    step's one-line summary is what remains."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total, info="")
        yield progress, task
