"""OTS: the breadth-first Operation Tree Skeleton sequence of an operation tree.

Each dequeued node contributes its children's tokens followed by ``END`` (0); leaves
contribute a lone ``END``. The root (``linear``) is implied and left out, so the paper's
C0*(x0 + x1)^2 + C1 is ``[15, 0, 1, 0, 19, 18, 0, 0, 0]``: root -> [square] 0,
square -> [add] 0, add -> [x1, x0] 0, x1 -> 0, x0 -> 0. A tree of ``n`` nodes
(root included) has ``2n - 1`` tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from formulaforge.datasets.optrees.tree import Node, OpTree
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, END, Vocabulary


class OTSDecodeError(ValueError):
    """A token sequence that is not a valid OTS; ``position`` is the 0-based index where it breaks."""

    def __init__(self, message: str, position: int, sequence: Sequence[int]) -> None:
        self.position = position
        self.sequence = list(sequence)
        shown = ", ".join(str(t) if i != position else f">>{t}<<" for i, t in enumerate(self.sequence[:64]))
        if position >= len(self.sequence):
            shown += ", >>(end)<<"
        super().__init__(f"invalid OTS at token {position}: {message} [{shown}]")


def encode(tree: OpTree) -> list[int]:
    """The OTS of ``tree`` (root left out)."""
    out: list[int] = []
    queue = deque([tree.root])
    while queue:
        node = queue.popleft()
        for child in node.children:
            out.append(child.token)
            queue.append(child)
        out.append(END)
    return out


def parse_ots(text: str) -> list[int]:
    """``"15,0,1,0"`` / ``"[15, 0, 1, 0]"`` / ``"15 0 1 0"`` -> list of ints."""
    cleaned = text.strip().strip("[]()").replace(",", " ").split()
    try:
        return [int(tok) for tok in cleaned]
    except ValueError:
        raise ValueError(f"an OTS is a list of integers, got {text!r}") from None


def decode(ots: Sequence[int], vocab: Vocabulary = DEFAULT_VOCAB) -> OpTree:
    """Rebuild the tree of an OTS; :class:`OTSDecodeError` says where an invalid one breaks.

    The sequence must be exact: no padding or tokens after the last node is closed (strip
    padding with :func:`strip_padding` first).
    """
    seq = [int(t) for t in ots]
    root = Node(vocab.token(vocab.root))
    pending: deque[Node] = deque([root])
    for pos, token in enumerate(seq):
        if not pending:
            raise OTSDecodeError("tokens after the last node was closed", pos, seq)
        parent = pending[0]
        arity = vocab[parent.token].arity
        if token == END:
            if len(parent.children) != arity:
                raise OTSDecodeError(
                    f"{vocab[parent.token].name} closed with {len(parent.children)} of its {arity} children",
                    pos, seq)
            pending.popleft()
            continue
        if token not in vocab:
            raise OTSDecodeError(f"unknown token {token} (vocabulary {vocab.version})", pos, seq)
        if len(parent.children) >= arity:
            raise OTSDecodeError(
                f"{vocab[parent.token].name} takes {arity} children; expected end marker {END}", pos, seq)
        child = Node(token)
        parent.children.append(child)
        pending.append(child)
    if pending:
        open_node = vocab[pending[0].token].name
        raise OTSDecodeError(f"sequence ends while {len(pending)} node(s) are still open (next: {open_node})",
                             len(seq), seq)
    return OpTree(root, vocab)


def is_valid(ots: Sequence[int], vocab: Vocabulary = DEFAULT_VOCAB) -> bool:
    try:
        decode(ots, vocab)
    except OTSDecodeError:
        return False
    return True


def strip_padding(ots: Sequence[int], pad_id: int) -> list[int]:
    """Drop trailing ``pad_id`` tokens (model outputs are padded to a fixed length)."""
    if pad_id == END:
        raise ValueError(f"the end marker {END} cannot be the padding id: trailing end markers are part of the OTS")
    seq = list(ots)
    while seq and seq[-1] == pad_id:
        seq.pop()
    return seq


def ots_length(node_count: int) -> int:
    """Length of the OTS of a tree with ``node_count`` nodes (root included)."""
    return 2 * node_count - 1
