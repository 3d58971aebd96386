"""Teacher-forced label NLL per item: the primary metric of the equal-compute experiment.

Each record is encoded exactly as training encodes it (:func:`formulaforge.training.data.encode_record`:
fitted prompt, label + EOS, loss on label tokens only); the model scores the label given the
prompt in one forward pass. Returns per item the summed negative log-likelihood (nats) and the
number of label tokens, so callers can pool per token and resample items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from formulaforge.training.data import IGNORE_INDEX, PadCollator, encode_record


def label_nll(
    model: Any,
    tokenizer: Any,
    records: Sequence[dict[str, Any]],
    *,
    max_input: int = 512,
    max_output: int = 384,
    batch_size: int = 8,
) -> list[tuple[float, int]]:
    """(summed NLL in nats, label tokens) per record, in order; the model is put in eval mode."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = [encode_record(r, tokenizer, max_input, max_output) for r in records]
    collate = PadCollator(tokenizer.pad_token_id)
    out: list[tuple[float, int]] = []
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            batch = collate(encoded[start : start + batch_size])
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits.float()
            labels = batch["labels"][:, 1:].to(device)
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            mask = labels != IGNORE_INDEX
            picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            nll = -(picked * mask).sum(dim=1)
            out.extend((float(n), int(k)) for n, k in zip(nll.tolist(), mask.sum(dim=1).tolist()))
    return out
