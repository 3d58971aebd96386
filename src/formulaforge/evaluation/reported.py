"""Numbers other papers *reported*: shown beside ours, never re-run, always labelled so.

Sources: the MSFT paper's Table 1 (CF50K test split; mean ± std over 5 runs; BLEU x100,
WER/CER as raw ratios that can exceed 1) and the MathBridge README's results table (a
different task: spoken English -> LaTeX, BLEU on a 0-1 scale), kept for orientation only.
"""

from __future__ import annotations

from typing import Any

REPORTED_NOTE = "reported, not re-run"

MSFT_TABLE1: list[dict[str, Any]] = [
    # model, row, trainable params, new/total %, then (mean, std) for bleu, sacrebleu, rouge1, wer, cer
    {"model": "LLaMA3-8B-Instruct", "row": "Baseline", "trainable": None, "new_total": None,
     "bleu": (7.95, 0.01), "sacrebleu": (7.01, 0.04), "rouge1": (0.15, 0.01), "wer": (5.67, 0.01), "cer": (2.45, 0.01)},
    {"model": "LLaMA3-8B-Instruct", "row": "w/ LoRA", "trainable": "55M", "new_total": "0.67%",
     "bleu": (10.20, 0.10), "sacrebleu": (10.01, 0.06), "rouge1": (0.20, 0.01), "wer": (4.32, 0.07), "cer": (2.30, 0.05)},
    {"model": "LLaMA3-8B-Instruct", "row": "w/ LoRA+D-plugin", "trainable": "63M", "new_total": "0.78%",
     "bleu": (12.78, 0.04), "sacrebleu": (11.85, 0.07), "rouge1": (0.23, 0.01), "wer": (3.24, 0.03), "cer": (1.67, 0.03)},
    {"model": "LLaMA3-8B-Instruct", "row": "w/ LoRA+D-plugin+Q-plugin", "trainable": "67M", "new_total": "0.83%",
     "bleu": (13.05, 0.04), "sacrebleu": (12.04, 0.07), "rouge1": (0.24, 0.00), "wer": (3.15, 0.04), "cer": (1.61, 0.03)},
    {"model": "Mistral-7B", "row": "Baseline", "trainable": None, "new_total": None,
     "bleu": (5.80, 0.03), "sacrebleu": (6.73, 0.03), "rouge1": (0.15, 0.00), "wer": (9.69, 0.05), "cer": (5.20, 0.01)},
    {"model": "Mistral-7B", "row": "w/ LoRA", "trainable": "55M", "new_total": "0.75%",
     "bleu": (13.32, 0.11), "sacrebleu": (10.21, 0.04), "rouge1": (0.22, 0.00), "wer": (2.60, 0.02), "cer": (1.63, 0.09)},
    {"model": "Mistral-7B", "row": "w/ LoRA+D-plugin", "trainable": "63M", "new_total": "0.86%",
     "bleu": (18.81, 0.02), "sacrebleu": (15.77, 0.16), "rouge1": (0.32, 0.00), "wer": (1.24, 0.01), "cer": (0.83, 0.01)},
    {"model": "Mistral-7B", "row": "w/ LoRA+D-plugin+Q-plugin", "trainable": "67M", "new_total": "0.92%",
     "bleu": (20.04, 0.04), "sacrebleu": (16.60, 0.10), "rouge1": (0.33, 0.01), "wer": (1.26, 0.01), "cer": (0.85, 0.01)},
    {"model": "GPT-4", "row": "single run", "trainable": None, "new_total": None,
     "bleu": (12.50, None), "sacrebleu": (7.16, None), "rouge1": (0.18, None), "wer": (2.48, None), "cer": (1.28, None)},
    {"model": "GPT-4o", "row": "single run", "trainable": None, "new_total": None,
     "bleu": (13.90, None), "sacrebleu": (8.05, None), "rouge1": (0.21, None), "wer": (2.23, None), "cer": (1.18, None)},
    {"model": "Claude-3.5-sonnet", "row": "single run", "trainable": None, "new_total": None,
     "bleu": (14.09, None), "sacrebleu": (9.05, None), "rouge1": (0.22, None), "wer": (1.58, None), "cer": (1.00, None)},
]

MATHBRIDGE: list[dict[str, Any]] = [
    # MathBridge README, first test set; BLEU on a 0-1 scale; spoken-to-LaTeX, not context-to-formula.
    {"model": "MathBridge BART-base", "row": "spoken->LaTeX", "bleu": (0.29, None), "sacrebleu": (31.3, None),
     "rouge1": (0.64, None), "cer": (0.51, None), "wer": (0.68, None)},
    {"model": "MathBridge BART-large", "row": "spoken->LaTeX", "bleu": (0.29, None), "sacrebleu": (31.0, None),
     "rouge1": (0.61, None), "cer": (0.52, None), "wer": (0.69, None)},
    {"model": "MathBridge T5-small", "row": "spoken->LaTeX", "bleu": (0.12, None), "sacrebleu": (14.9, None),
     "rouge1": (0.39, None), "cer": (1.25, None), "wer": (1.35, None)},
]
