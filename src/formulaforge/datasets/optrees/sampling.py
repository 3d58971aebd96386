"""Random skeletons and constants (the paper's random symbolic-operation-tree system).

A skeleton is drawn in two steps:

1. *Shape*: a tree of exactly ``n`` nodes (root included, ``n`` uniform in the node
   range) where each inner node is unary or binary; at most ``max_unary_chain``
   unary nodes follow each other (the implicit root not counted). Only shapes that can be
   completed are ever chosen (a small feasibility table), so no retries are needed here.
2. *Labels*: by default (``operator_sampling="level-first"``, the earlier Botfip
   generator) a level is drawn first, high/medium/low with ``level_probs`` 0.6/0.3/0.1,
   then an operator of that level uniformly; ``"weighted"`` (issue 7's design) draws each
   operator with the weight of its level (``level_weights`` 3/2/1, so the levels' shares
   depend on how many operators each has). Where a node could be unary or binary it is
   unary with probability ``p_unary`` (0.7 as the earlier generator; issue 7 used 0.5);
   leaves are variables or, with probability ``const_leaf_prob``, ``const``. A const
   leaf never sits under a unary operator and a binary operator never joins two
   variable-free children (those would just be another constant), no unary operator
   repeats directly inside itself (sin(sin(x)) is allowed only for ``repeatable``
   operators) and ``linear`` never sits directly under ``linear`` or the root.

:func:`check_skeleton` then rejects skeletons that are undefined almost everywhere or
flat on the image grid for random constants; the dataset layer adds the symbolic checks
(constant after simplification) and deduplication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from formulaforge.datasets.optrees.images import DEFAULT_GRID, GridSpec, function_images
from formulaforge.datasets.optrees.tree import Node, OpTree
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB, Vocabulary


@dataclass(frozen=True)
class SamplerConfig:
    min_nodes: int = 5
    max_nodes: int = 15
    p_unary: float = 0.7
    max_unary_chain: int = 3
    operator_sampling: str = "level-first"
    """``level-first``: level by ``level_probs``, then a uniform operator of it; ``weighted``: ``level_weights``."""
    level_probs: tuple[float, float, float] = (0.6, 0.3, 0.1)
    """Probabilities of the levels high / medium / low (``level-first``)."""
    level_weights: dict[str, float] = field(default_factory=lambda: {"high": 3.0, "medium": 2.0, "low": 1.0})
    const_leaf_prob: float = 0.15
    const_range: tuple[float, float] = (-2.0, 2.0)
    n_variables: int = 2
    repeatable: tuple[str, ...] = ("square",)
    exclude: tuple[str, ...] = ()
    min_defined: float = 0.5
    """A constant vector is usable when at least this share of image pixels is finite."""
    flat_tol: float = 1e-10
    """A channel whose (max - min) is below ``flat_tol * (1 + |max|)`` counts as flat."""

    def __post_init__(self) -> None:
        if not 2 <= self.min_nodes <= self.max_nodes:
            raise ValueError(f"need 2 <= min_nodes <= max_nodes, got {self.min_nodes}:{self.max_nodes}")
        if self.const_range[0] >= self.const_range[1]:
            raise ValueError("const_range must be (low, high) with low < high")
        if self.max_unary_chain < 1:
            raise ValueError("max_unary_chain must be >= 1")
        if self.operator_sampling not in ("level-first", "weighted"):
            raise ValueError(f"operator_sampling must be level-first or weighted, got {self.operator_sampling!r}")

    def to_json(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def issue7(cls, **kwargs: object) -> SamplerConfig:
        """The sampler before issue 20: unary 0.5, per-operator weights 3/2/1 by level."""
        return cls(**{"p_unary": 0.5, "operator_sampling": "weighted", **kwargs})  # type: ignore[arg-type]


@cache
def _feasible(m: int, chain: int, cap: int) -> bool:
    """Can a subtree of exactly ``m`` nodes hang below a unary chain of length ``chain``?"""
    if m == 1:
        return True
    if chain < cap and _feasible(m - 1, chain + 1, cap):
        return True
    return m >= 3 and any(_feasible(a, 0, cap) and _feasible(m - 1 - a, 0, cap) for a in range(1, m - 1))


def _shape(m: int, chain: int, cfg: SamplerConfig, rng: np.random.Generator) -> Node:
    """A node-arity skeleton (tokens filled in later) of exactly ``m`` nodes."""
    if m == 1:
        return Node(-1)
    cap = cfg.max_unary_chain
    can_unary = chain < cap and _feasible(m - 1, chain + 1, cap)
    splits = [a for a in range(1, m - 1) if _feasible(a, 0, cap) and _feasible(m - 1 - a, 0, cap)] if m >= 3 else []
    if can_unary and (not splits or rng.random() < cfg.p_unary):
        return Node(-1, [_shape(m - 1, chain + 1, cfg, rng)])
    a = int(rng.choice(splits))
    return Node(-1, [_shape(a, 0, cfg, rng), _shape(m - 1 - a, 0, cfg, rng)])


class SkeletonSampler:
    """Draws random skeletons (:class:`OpTree`) and constant vectors, reproducibly from ``rng``."""

    def __init__(self, config: SamplerConfig | None = None, vocab: Vocabulary = DEFAULT_VOCAB) -> None:
        self.config = config or SamplerConfig()
        self.vocab = vocab
        cfg = self.config
        usable = [s for s in vocab.specs if s.name not in cfg.exclude]
        self._unary = [(s.token, self._weight(s.level)) for s in usable if s.arity == 1 and s.level]
        self._binary = [(s.token, self._weight(s.level)) for s in usable if s.arity == 2 and s.level]
        self._level = {s.token: s.level for s in usable}
        self._vars = [s.token for s in vocab.variables()][: cfg.n_variables]
        if not self._unary or not self._binary or not self._vars:
            raise ValueError("the sampler needs unary and binary operators and at least one variable")
        self._const = vocab.token("const")
        self._linear = vocab.token("linear")
        self._root = vocab.token(vocab.root)
        self._repeatable = {vocab.token(n) for n in cfg.repeatable if n in vocab}

    def sample_tree(self, rng: np.random.Generator, n_nodes: int | None = None) -> OpTree:
        cfg = self.config
        n = int(rng.integers(cfg.min_nodes, cfg.max_nodes + 1)) if n_nodes is None else n_nodes
        if n < 2:
            raise ValueError("a tree needs at least 2 nodes (the root and one leaf)")
        body = _shape(n - 1, 0, cfg, rng)
        self._label(body, self._root, rng)
        self._fix_constant_subtrees(body, rng)
        return OpTree.from_body(body, self.vocab)

    def _weight(self, level: str) -> float:
        cfg = self.config
        if cfg.operator_sampling == "weighted":
            return cfg.level_weights.get(level, 0.0)
        return dict(zip(("high", "medium", "low"), cfg.level_probs, strict=True)).get(level, 0.0)

    def _pick(self, table: list[tuple[int, float]], rng: np.random.Generator, banned: set[int]) -> int:
        tokens = [t for t, w in table if t not in banned and w > 0]
        if self.config.operator_sampling == "level-first":
            # a level first (its probability, renormalised over levels with an allowed operator), then uniform
            levels = sorted({self._level[t] for t in tokens})
            probs = np.array([dict(table)[next(t for t in tokens if self._level[t] == lv)] for lv in levels])
            level = levels[int(rng.choice(len(levels), p=probs / probs.sum()))]
            tokens = [t for t in tokens if self._level[t] == level]
            return int(tokens[int(rng.integers(len(tokens)))])
        weights = np.array([w for t, w in table if t not in banned and w > 0])
        return int(tokens[int(rng.choice(len(tokens), p=weights / weights.sum()))])

    def _label(self, node: Node, parent: int, rng: np.random.Generator) -> None:
        if not node.children:
            parent_unary = parent == self._root or self.vocab[parent].arity == 1
            if not parent_unary and rng.random() < self.config.const_leaf_prob:
                node.token = self._const
            else:
                node.token = self._vars[int(rng.integers(len(self._vars)))]
            return
        if len(node.children) == 1:
            banned = set()
            if parent not in self._repeatable and self.vocab[parent].arity == 1:
                banned.add(parent)
            if parent in (self._linear, self._root):
                banned.add(self._linear)
            node.token = self._pick(self._unary, rng, banned)
        else:
            node.token = self._pick(self._binary, rng, set())
        for child in node.children:
            self._label(child, node.token, rng)

    def _fix_constant_subtrees(self, node: Node, rng: np.random.Generator) -> bool:
        """Bottom-up: make sure each binary node has a variable below; return has-variable."""
        if not node.children:
            return node.token != self._const
        flags = [self._fix_constant_subtrees(c, rng) for c in node.children]
        if not any(flags):
            leaf = node.children[int(rng.integers(len(node.children)))]
            while leaf.children:
                leaf = leaf.children[0]
            leaf.token = self._vars[int(rng.integers(len(self._vars)))]
        return True

    def sample_constants(self, tree: OpTree, k: int, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.config.const_range
        return rng.uniform(lo, hi, size=(k, tree.n_constants))

    def usable_rows(self, defined: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Which constant vectors give images that are mostly defined and not flat everywhere."""
        lo, hi = factors[..., 0], factors[..., 1]
        flat = (hi - lo) <= self.config.flat_tol * (1.0 + np.abs(hi))
        return (defined >= self.config.min_defined) & ~flat.all(axis=1)

    def check_skeleton(self, tree: OpTree, rng: np.random.Generator, grid: GridSpec = DEFAULT_GRID,
                       probes: int = 8) -> bool:
        """Numeric rejection: most random constant vectors must give a usable image."""
        if not tree.variables():
            return False
        batch = function_images(tree, self.sample_constants(tree, probes, rng), grid)
        return bool(self.usable_rows(batch.defined, batch.scale_factors).mean() >= 0.5)

    def sample_constant_sets(self, tree: OpTree, k: int, rng: np.random.Generator, grid: GridSpec = DEFAULT_GRID,
                             rounds: int = 8, noise_std: float = 0.0):
        """``k`` constant vectors with usable images (redrawing bad ones); ``None`` if that fails.

        Returns ``(constants, ImageBatch)``.
        """
        consts = self.sample_constants(tree, k, rng)
        batch = function_images(tree, consts, grid, noise_std=noise_std, rng=rng)
        good = self.usable_rows(batch.defined, batch.scale_factors)
        for _ in range(rounds):
            if good.all():
                return consts, batch
            bad = np.flatnonzero(~good)
            new = self.sample_constants(tree, len(bad), rng)
            redo = function_images(tree, new, grid, noise_std=noise_std, rng=rng)
            consts[bad] = new
            batch.images[bad] = redo.images
            batch.scale_factors[bad] = redo.scale_factors
            batch.defined[bad] = redo.defined
            good[bad] = self.usable_rows(redo.defined, redo.scale_factors)
        return (consts, batch) if good.all() else None
