"""Symbolic operation trees (the Botfip data system): OTS, function images, formula strings.

Import the pieces from their modules; the most used ones are re-exported here.
``fit`` (torch) and ``dataset`` (generation) are imported on demand.
"""

from formulaforge.datasets.optrees.evaluate import evaluate
from formulaforge.datasets.optrees.ots import OTSDecodeError, decode, encode, is_valid, parse_ots
from formulaforge.datasets.optrees.tree import Node, OpTree
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, END, OpSpec, Vocabulary

__all__ = [
    "DEFAULT_VOCAB", "END", "Node", "OTSDecodeError", "OpSpec", "OpTree", "Vocabulary",
    "decode", "encode", "evaluate", "is_valid", "parse_ots",
]
