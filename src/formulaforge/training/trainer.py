"""A Hugging Face ``Trainer`` that checkpoints only the adapter weights.

The stock Trainer saves the whole model at every checkpoint (hundreds of MB to GB for a
frozen base); MSFT trains a few million parameters, so checkpoints hold only the MSFT
matrices (plus optimizer, scheduler and RNG state, which the Trainer saves itself) and
resuming loads them back.
"""

from __future__ import annotations

import json
import os
from typing import Any

from safetensors.torch import save_file
from transformers import Trainer
from transformers.trainer_callback import TrainerState

from formulaforge.models.msft.layer import STAGE_PARAMS
from formulaforge.models.weights import load_safetensors

ADAPTER_FILE = "msft_adapter.safetensors"
LOSS_FILE = "msft_loss.json"  # the summed training loss up to the checkpoint (whole run, across resumes)
_ADAPTER_KEYS = tuple(f".{name}." for names in STAGE_PARAMS.values() for name in names)


def is_adapter_key(key: str) -> bool:
    return any(part in key for part in _ADAPTER_KEYS)


class AdapterOnlyTrainer(Trainer):
    """Checkpoints hold the adapter only; the reported training loss covers the whole run.

    The stock Trainer reports the mean loss of the steps run in *this* ``train()`` call, so a
    resumed run would report the loss of its tail only. Each checkpoint therefore records the
    summed loss so far, and :meth:`whole_run_metrics` adds the part before the resume back.
    """

    _base_loss_sum = 0.0  # summed per-step loss of the steps before the checkpoint we resumed from
    _base_step = 0

    def _loss_sum_so_far(self) -> float:
        tr = getattr(self, "_tr_loss", None)
        return self._base_loss_sum + getattr(self, "_total_loss_scalar", 0.0) + (float(tr.item()) if tr is not None else 0.0)

    def whole_run_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """``train_loss`` as the mean over every step of the run, not only those of this call."""
        step = self.state.global_step
        if self._base_step and "train_loss" in metrics and step:
            done_now = step - self._base_step
            metrics["train_loss"] = (self._base_loss_sum + metrics["train_loss"] * done_now) / step
            metrics["resumed_at_step"] = self._base_step
        return metrics

    def finished_checkpoint(self, checkpoint: str | None, total_steps: int) -> tuple[int, dict[str, Any]] | None:
        """When ``checkpoint`` already ends the schedule: load it, return (steps, metrics); else None.

        Resuming there would run the Trainer's loop for zero steps and report a meaningless loss.
        """
        if checkpoint is None:
            return None
        state_file = os.path.join(checkpoint, "trainer_state.json")
        if not os.path.isfile(state_file):
            return None
        state = TrainerState.load_from_json(state_file)
        if state.global_step < total_steps:
            return None
        self._load_from_checkpoint(checkpoint)
        self.state = state
        metrics: dict[str, Any] = {}
        if self._base_step:
            metrics["train_loss"] = self._base_loss_sum / self._base_step
        return state.global_step, metrics

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        if state_dict is None:
            state_dict = self.accelerator.unwrap_model(self.model).state_dict()
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items() if is_adapter_key(k)}
        save_file(tensors, os.path.join(output_dir, ADAPTER_FILE), metadata={"format": "pt"})
        with open(os.path.join(output_dir, LOSS_FILE), "w", encoding="utf-8") as fh:
            json.dump({"global_step": self.state.global_step, "loss_sum": self._loss_sum_so_far()}, fh)
        with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as fh:
            fh.write(self.args.to_json_string())  # JSON, not the stock pickle

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        path = os.path.join(resume_from_checkpoint, ADAPTER_FILE)
        if not os.path.isfile(path):
            raise ValueError(f"{resume_from_checkpoint} holds no {ADAPTER_FILE}; not an MSFT checkpoint")
        model = self.accelerator.unwrap_model(model or self.model)
        loss_file = os.path.join(resume_from_checkpoint, LOSS_FILE)
        if os.path.isfile(loss_file):
            with open(loss_file, encoding="utf-8") as fh:
                saved = json.load(fh)
            self._base_loss_sum, self._base_step = float(saved["loss_sum"]), int(saved["global_step"])
        tensors = load_safetensors(path)
        result = model.load_state_dict(tensors, strict=False)
        own = {k for k in model.state_dict() if is_adapter_key(k)}
        if result.unexpected_keys or own - set(tensors):
            raise ValueError(
                f"checkpoint {resume_from_checkpoint} does not match this model "
                f"({len(result.unexpected_keys)} unexpected, {len(own - set(tensors))} missing adapter tensors)"
            )
