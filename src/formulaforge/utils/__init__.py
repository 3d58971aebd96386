"""Small helpers every layer may import: atomic files, JSONL, timeouts, packaged models."""
