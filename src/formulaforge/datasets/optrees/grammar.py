"""Incremental OTS grammar for constrained decoding: which tokens may come next.

In an OTS the position of every end marker is fixed by the arities already seen: the
node at the head of the breadth-first queue needs exactly ``arity`` child tokens, then
``END``. So at each step the allowed set is either ``{END}`` or "any node token", and a
node budget (``max_nodes``) narrows the latter so the tree can always be closed in time:
every unfilled child slot still needs at least one node. A decoder that masks its
logits with :meth:`OTSGrammarState.allowed` can only produce sequences that
:func:`~formulaforge.datasets.optrees.ots.decode` accepts.
"""

from __future__ import annotations

from collections import deque

from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, END, Vocabulary


class OTSGrammarState:
    """Prefix state. ``max_nodes`` counts the implicit root, like ``OpTree.node_count``."""

    def __init__(self, vocab: Vocabulary = DEFAULT_VOCAB, max_nodes: int | None = None) -> None:
        self.vocab = vocab
        self.max_nodes = max_nodes
        self._remaining: deque[int] = deque([1])  # children still owed by queued nodes; root owes 1
        self.nodes = 1
        self.open_slots = 1
        self.length = 0
        self._node_tokens = [(s.token, s.arity) for s in vocab.specs]

    @property
    def finished(self) -> bool:
        return not self._remaining

    def allowed(self) -> list[int]:
        """Tokens that keep the prefix completable within the node budget."""
        if self.finished:
            return []
        if self._remaining[0] == 0:
            return [END]
        if self.max_nodes is None:
            return [t for t, _ in self._node_tokens]
        # after placing a node of arity a: nodes + 1 placed, open_slots - 1 + a still to fill
        budget = self.max_nodes - self.nodes - 1
        return [t for t, a in self._node_tokens if self.open_slots - 1 + a <= budget]

    def step(self, token: int) -> None:
        if token not in self.allowed():
            raise ValueError(f"token {token} not allowed at position {self.length}")
        if token == END:
            self._remaining.popleft()
        else:
            arity = self.vocab[token].arity
            self._remaining[0] -= 1
            self._remaining.append(arity)
            self.nodes += 1
            self.open_slots += arity - 1
        self.length += 1

    def copy(self) -> OTSGrammarState:
        new = OTSGrammarState.__new__(OTSGrammarState)
        new.vocab, new.max_nodes = self.vocab, self.max_nodes
        new._remaining = deque(self._remaining)
        new.nodes, new.open_slots, new.length = self.nodes, self.open_slots, self.length
        new._node_tokens = self._node_tokens
        return new

    def allowed_mask(self, size: int | None = None) -> list[bool]:
        """Boolean mask over ids ``0..size-1`` (default: the vocabulary size)."""
        size = size or self.vocab.size
        mask = [False] * size
        for t in self.allowed():
            mask[t] = True
        return mask
