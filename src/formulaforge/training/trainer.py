"""A Hugging Face ``Trainer`` that checkpoints only the adapter weights.

The stock Trainer saves the whole model at every checkpoint (hundreds of MB to GB for a
frozen base); MSFT trains a few million parameters, so checkpoints hold only the MSFT
matrices (plus optimizer, scheduler and RNG state, which the Trainer saves itself) and
resuming loads them back.
"""

from __future__ import annotations

import os
from typing import Any

from safetensors.torch import load_file, save_file
from transformers import Trainer

from formulaforge.models.msft.layer import STAGE_PARAMS

ADAPTER_FILE = "msft_adapter.safetensors"
_ADAPTER_KEYS = tuple(f".{name}." for names in STAGE_PARAMS.values() for name in names)


def is_adapter_key(key: str) -> bool:
    return any(part in key for part in _ADAPTER_KEYS)


class AdapterOnlyTrainer(Trainer):
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        if state_dict is None:
            state_dict = self.accelerator.unwrap_model(self.model).state_dict()
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items() if is_adapter_key(k)}
        save_file(tensors, os.path.join(output_dir, ADAPTER_FILE), metadata={"format": "pt"})
        with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as fh:
            fh.write(self.args.to_json_string())  # JSON, not the stock pickle

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        path = os.path.join(resume_from_checkpoint, ADAPTER_FILE)
        if not os.path.isfile(path):
            raise ValueError(f"{resume_from_checkpoint} holds no {ADAPTER_FILE}; not an MSFT checkpoint")
        model = self.accelerator.unwrap_model(model or self.model)
        tensors = load_file(path)
        result = model.load_state_dict(tensors, strict=False)
        own = {k for k in model.state_dict() if is_adapter_key(k)}
        if result.unexpected_keys or own - set(tensors):
            raise ValueError(
                f"checkpoint {resume_from_checkpoint} does not match this model "
                f"({len(result.unexpected_keys)} unexpected, {len(own - set(tensors))} missing adapter tensors)"
            )
