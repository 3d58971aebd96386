"""Stage data -> token ids with the loss on label tokens only.

``STAGES_DIR/stageN/{train,valid,test}.jsonl`` records have ``input`` (the user message),
``label`` (the target text) and ``id``. The prompt is rendered with
:func:`formulaforge.datasets.prompts.render_prompt` (chat template for instruct models),
cut to ``max_input`` tokens by :func:`formulaforge.datasets.prompts.fit_prompt` (the contexts
at their far ends, never the instruction or the template); the label plus EOS is truncated
to ``max_output`` tokens (paper App. C: 512 / 384).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from formulaforge.datasets.prompts import fit_prompt, has_chat_template
from formulaforge.utils.jsonl import read_jsonl

IGNORE_INDEX = -100
REQUIRED_FIELDS = ("input", "label")


def stage_file(stages_dir: str | Path, stage: int, split: str) -> Path:
    return Path(stages_dir) / f"stage{stage}" / f"{split}.jsonl"


def load_split(stages_dir: str | Path, stage: int, split: str, *, required: bool = True) -> list[dict[str, Any]]:
    """Records of one split; a clear error for a missing file or a record without input/label."""
    path = stage_file(stages_dir, stage, split)
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"no {split} data for stage {stage}: expected {path}")
        return []
    records = list(read_jsonl(path))
    for i, rec in enumerate(records, 1):
        missing = [f for f in REQUIRED_FIELDS if not isinstance(rec.get(f), str)]
        if missing:
            raise ValueError(f"{path}:{i}: record lacks string field(s) {', '.join(missing)}")
    if required and not records:
        raise ValueError(f"{path} is empty")
    return records


def prompt_ids(text: str, tokenizer: Any, max_input: int = 512, spans: list[Any] | None = None) -> list[int]:
    """Token ids of the rendered prompt, fitted to ``max_input`` (the same ids generation conditions on)."""
    prompt = fit_prompt(text, tokenizer, max_input, spans)
    return tokenizer(prompt, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]


def encode_record(rec: dict[str, Any], tokenizer: Any, max_input: int = 512, max_output: int = 384) -> dict[str, list[int]]:
    p = prompt_ids(rec["input"], tokenizer, max_input, rec.get("context_spans"))
    y = tokenizer(rec["label"], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; cannot mark the end of a label")
    y = (y + [tokenizer.eos_token_id])[:max_output]
    return {"input_ids": p + y, "labels": [IGNORE_INDEX] * len(p) + y}


class EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, records: list[dict[str, Any]], tokenizer: Any, max_input: int = 512, max_output: int = 384):
        self.items = [encode_record(r, tokenizer, max_input, max_output) for r in records]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


@dataclass
class PadCollator:
    """Right-pads a batch; padded label positions are ignored by the loss."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        n = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            n = -(-n // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(features), n), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), n), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), n), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.tensor(f["input_ids"])
            labels[i, :k] = torch.tensor(f["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
