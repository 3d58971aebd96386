"""Operation trees: a node is a vocabulary token with its ordered children.

The root is always the vocabulary's root operator (``linear``: C0 * f + C1) with one
child; it is implicit in the OTS. Constants are numbered in breadth-first order of
the nodes that own them, the root first, so C0 is the root's scale and C1 its offset;
``inv`` then owns the next index, ``linear`` the next two (scale, offset), ``const``
and ``pow`` one each. That order is the order of the constant vector everywhere
(datasets, fitting, formula strings).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, Vocabulary


@dataclass
class Node:
    token: int
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        """Depth-first pre-order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Step:
    """One node of a compiled tree: evaluated after its children (reverse BFS order)."""

    index: int
    token: int
    children: tuple[int, ...]
    const_offset: int


@dataclass
class OpTree:
    """A symbolic operation tree whose root is the vocabulary's root operator."""

    root: Node
    vocab: Vocabulary = DEFAULT_VOCAB

    def __post_init__(self) -> None:
        root_spec = self.vocab[self.vocab.root]
        if self.root.token != root_spec.token or len(self.root.children) != 1:
            raise ValueError(f"the root must be {root_spec.name} with exactly one child")

    @classmethod
    def from_body(cls, body: Node, vocab: Vocabulary = DEFAULT_VOCAB) -> OpTree:
        """Wrap ``body`` as the child of the implicit root: C0 * body + C1."""
        return cls(Node(vocab.token(vocab.root), [body]), vocab)

    @property
    def body(self) -> Node:
        return self.root.children[0]

    def bfs(self) -> list[Node]:
        """All nodes, root first, in breadth-first order (the OTS order)."""
        out: list[Node] = []
        queue = deque([self.root])
        while queue:
            node = queue.popleft()
            out.append(node)
            queue.extend(node.children)
        return out

    @property
    def node_count(self) -> int:
        """Number of nodes including the root; the OTS has ``2 * node_count - 1`` tokens."""
        return sum(1 for _ in self.root.walk())

    @property
    def n_constants(self) -> int:
        return sum(self.vocab[n.token].n_consts for n in self.root.walk())

    def depth(self) -> int:
        def _d(n: Node) -> int:
            return 1 + max((_d(c) for c in n.children), default=0)

        return _d(self.root)

    def variables(self) -> set[int]:
        """Indices of the input variables that occur as leaves."""
        out = set()
        for n in self.root.walk():
            var = self.vocab[n.token].variable
            if var is not None:
                out.add(var)
        return out

    def compile(self) -> list[Step]:
        """Flatten to steps in reverse BFS order, so children are computed before parents."""
        nodes = self.bfs()
        position = {id(n): i for i, n in enumerate(nodes)}
        steps: list[Step] = []
        offset = 0
        for i, node in enumerate(nodes):
            steps.append(Step(i, node.token, tuple(position[id(c)] for c in node.children), offset))
            offset += self.vocab[node.token].n_consts
        steps.reverse()
        return steps

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpTree):
            return NotImplemented
        return _same(self.root, other.root)

    def __hash__(self) -> int:
        return hash(tuple(_pre_order(self.root)))

    def describe(self) -> str:
        """Readable nested form, e.g. ``linear(square(add(x1, x0)))``."""

        def _s(n: Node) -> str:
            name = self.vocab[n.token].name
            return name if not n.children else f"{name}({', '.join(_s(c) for c in n.children)})"

        return _s(self.root)


def _same(a: Node, b: Node) -> bool:
    return a.token == b.token and len(a.children) == len(b.children) and all(
        _same(x, y) for x, y in zip(a.children, b.children, strict=True)
    )


def _pre_order(node: Node) -> Iterator[int]:
    for n in node.walk():
        yield n.token
        yield len(n.children)
