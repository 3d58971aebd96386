"""What one request may cost: the web UI's guard rails against slow or hostile input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppLimits:
    max_input_chars: int = 4000
    """Longest context, problem or formula accepted from the page."""
    max_new_tokens: int = 256
    """Cap on the tokens one generation may produce (the slider cannot go higher)."""
    max_samples: int = 4
    """Cap on samples per request."""
    generation_timeout_s: float = 120.0
    """Wall-clock limit of one generate call (transformers' ``max_time``: it stops, keeps what it has)."""
    cas_timeout_s: float = 10.0
    """Limit of one computer-algebra job (problem making, tree building), in a killable worker."""
    max_batch: int = 8
    """Formula requests waiting together that are generated in one batched call."""
    concurrency: int = 1
    """Model calls that run at once; the rest wait in the queue (one CPU model at a time)."""
    queue_size: int = 32
    """Requests that may wait; more are refused with a 'queue full' message instead of piling up."""
    max_loaded_models: int = 2
    """Distinct (model, stages) combinations kept in memory; the least recently used is dropped."""
    page_rows: int = 20
    """Rows per page in the dataset explorer."""

    def clip_context(self, text: str, what: str, *, keep_end: bool) -> tuple[str, str]:
        """(text, note): a context longer than the limit keeps the characters nearest the formula
        (the end of the text before it, the start of the text after it) and the note says so."""
        text = (text or "").strip()
        if len(text) <= self.max_input_chars:
            return text, ""
        kept = text[-self.max_input_chars:] if keep_end else text[: self.max_input_chars]
        side = "start" if keep_end else "end"
        return kept, (f"{what} has {len(text):,} characters; the {self.max_input_chars:,} nearest the "
                      "formula "
                      f"were used (its {side} was left out)")

    def check_text(self, text: str, what: str, *, allow_empty: bool = False) -> str:
        """The stripped text, or ``ValueError`` with a message fit for the page."""
        text = (text or "").strip()
        if not text and not allow_empty:
            raise ValueError(f"{what} is empty")
        if len(text) > self.max_input_chars:
            raise ValueError(f"{what} is {len(text):,} characters; the limit is {self.max_input_chars:,}")
        return text
