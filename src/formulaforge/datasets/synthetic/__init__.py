"""Verified synthetic math problems: addition, roots, derivatives, integrals, derivations.

Every generator yields :class:`~formulaforge.datasets.synthetic.records.SynthRecord`;
:func:`~formulaforge.datasets.synthetic.pipeline.generate_dataset` deduplicates them,
assigns leak-free splits and writes ``train/valid/test.jsonl`` plus a manifest.
"""

from formulaforge.datasets.synthetic.records import VERIFIERS, SynthRecord

TASKS = ("addition", "roots", "derivatives", "integrals", "derivations")

__all__ = ["TASKS", "VERIFIERS", "SynthRecord"]
