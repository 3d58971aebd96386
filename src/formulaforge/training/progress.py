"""The Trainer's progress as one rich bar with the loss on it, instead of printed log dicts
and nested tqdm bars (transformers' ``PrinterCallback`` / ``ProgressCallback``)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


class RichBarCallback(TrainerCallback):
    def __init__(self, description: str) -> None:
        self.description = description
        self._ctx: Any = None
        self._bar: Any = None
        self._task: Any = None
        self._loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from formulaforge.utils.quiet import step_progress

        if state.is_world_process_zero:
            self._ctx = step_progress(self.description, state.max_steps)
            self._bar, self._task = self._ctx.__enter__()
            self._bar.update(self._task, completed=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if self._bar is None or not logs:
            return
        if "loss" in logs:
            self._loss = float(logs["loss"])
        info = f"loss {self._loss:.4f}" if self._loss is not None else ""
        if "eval_loss" in logs:
            info += f" · valid {float(logs['eval_loss']):.4f}"
        self._bar.update(self._task, info=info)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = self._bar = None
