"""The OTS vocabulary: token ids of operators, variables and the end marker.

Ids are compatible with the Botfip/Botfip-LLM tables (0 = end of a node's children,
add = 1 ... relu = 21). A vocabulary is versioned and append-only: :meth:`Vocabulary.extend`
adds operators or variables with *new* ids, so sequences written with an older version
keep their meaning. Numeric and symbolic meaning of each operator lives in
:mod:`.semantics`; this module only says what a token is and how many children and
constants it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

END = 0
"""Token that closes the children list of one node in breadth-first order."""

Level = str  # "high" | "medium" | "low" | "" (never sampled as an inner operator)


@dataclass(frozen=True)
class OpSpec:
    """One vocabulary entry.

    ``arity`` is the number of children (0 for leaves), ``n_consts`` how many entries of
    the constant vector the node owns (``linear`` owns two: C*x + C), ``level`` the
    sampling weight class for random skeletons ("" = never sampled as an inner node).
    ``variable`` is the input index for variable leaves (x0 -> 0), else ``None``.
    """

    token: int
    name: str
    arity: int
    n_consts: int = 0
    level: Level = ""
    variable: int | None = None
    description: str = ""

    @property
    def is_leaf(self) -> bool:
        return self.arity == 0


_BASE_SPECS: tuple[OpSpec, ...] = (
    OpSpec(1, "add", 2, level="high", description="a + b"),
    OpSpec(2, "sub", 2, level="high", description="a - b"),
    OpSpec(3, "mul", 2, level="high", description="a * b"),
    OpSpec(4, "div", 2, level="low", description="a / b (safe: undefined where b = 0)"),
    OpSpec(5, "sin", 1, level="medium", description="sin(x)"),
    OpSpec(6, "inv", 1, 1, level="medium", description="C / x"),
    OpSpec(7, "tan", 1, level="medium", description="tan(x)"),
    OpSpec(8, "atan", 1, level="low", description="atan(x)"),
    OpSpec(9, "tanh", 1, level="medium", description="tanh(x)"),
    OpSpec(10, "const", 0, 1, description="constant leaf C"),
    OpSpec(11, "exp", 1, level="medium", description="exp(x)"),
    OpSpec(12, "log", 1, level="low", description="log(|x|)"),
    OpSpec(13, "linear", 1, 2, level="high", description="C*x + C (also the implicit root)"),
    OpSpec(14, "pow", 1, 1, level="low", description="|x|^C"),
    OpSpec(15, "square", 1, level="high", description="x^2"),
    OpSpec(16, "sqrt", 1, level="medium", description="sqrt(|x|)"),
    OpSpec(17, "cbrt", 1, level="low", description="real cube root sign(x)*|x|^(1/3)"),
    OpSpec(18, "x0", 0, variable=0, description="input variable x0"),
    OpSpec(19, "x1", 0, variable=1, description="input variable x1"),
    OpSpec(20, "abs", 1, level="medium", description="|x|"),
    OpSpec(21, "relu", 1, level="low", description="max(0, x)"),
)


@dataclass(frozen=True)
class Vocabulary:
    """An immutable, versioned token table. Look up by id (``vocab[13]``) or name."""

    version: str
    specs: tuple[OpSpec, ...]
    root: str = "linear"
    _by_token: Mapping[int, OpSpec] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, OpSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_token: dict[int, OpSpec] = {}
        by_name: dict[str, OpSpec] = {}
        for spec in self.specs:
            if spec.token == END:
                raise ValueError(f"token {END} is reserved for the end marker")
            if spec.token in by_token or spec.name in by_name:
                raise ValueError(f"duplicate vocabulary entry {spec.name}={spec.token}")
            by_token[spec.token] = spec
            by_name[spec.name] = spec
        if self.root not in by_name or by_name[self.root].arity != 1:
            raise ValueError(f"root operator {self.root!r} must be a unary entry of the vocabulary")
        object.__setattr__(self, "_by_token", MappingProxyType(by_token))
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))

    def __getitem__(self, key: int | str) -> OpSpec:
        try:
            return self._by_token[key] if isinstance(key, int) else self._by_name[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in vocabulary {self.version}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_token or key in self._by_name

    @property
    def size(self) -> int:
        """Number of ids including END (= max id + 1): the embedding table size a model needs."""
        return max(self._by_token) + 1

    @property
    def tokens(self) -> list[int]:
        return sorted(self._by_token)

    def token(self, name: str) -> int:
        return self[name].token

    def variables(self) -> list[OpSpec]:
        return sorted((s for s in self.specs if s.variable is not None), key=lambda s: s.variable or 0)

    @property
    def n_variables(self) -> int:
        return len(self.variables())

    def leaves(self) -> list[OpSpec]:
        return [s for s in self.specs if s.arity == 0]

    def operators(self, arity: int) -> list[OpSpec]:
        return [s for s in self.specs if s.arity == arity]

    def extend(self, new: Iterable[OpSpec], version: str) -> Vocabulary:
        """A new vocabulary with extra entries; existing ids keep their meaning.

        New ids must be larger than every existing id (append-only), which is what makes
        old OTS files readable by newer code.
        """
        new = tuple(new)
        top = max(self._by_token)
        for spec in new:
            if spec.token <= top:
                raise ValueError(f"new entry {spec.name} must get an id above {top}, got {spec.token}")
        return Vocabulary(version=version, specs=self.specs + new, root=self.root)

    def to_json(self) -> dict[str, object]:
        """Self-description stored in dataset manifests."""
        return {
            "version": self.version,
            "end": END,
            "root": self.root,
            "tokens": [
                {"id": s.token, "name": s.name, "arity": s.arity, "n_consts": s.n_consts,
                 "variable": s.variable, "level": s.level, "meaning": s.description}
                for s in sorted(self.specs, key=lambda s: s.token)
            ],
        }


BOTFIP_V1 = Vocabulary(version="botfip-v1", specs=_BASE_SPECS)
"""The paper's vocabulary: ids 1-21, variables x0 (18) and x1 (19)."""

DEFAULT_VOCAB = BOTFIP_V1


def vocab_with_variables(n: int, base: Vocabulary = BOTFIP_V1) -> Vocabulary:
    """``base`` plus variables x2..x{n-1} appended after the highest existing id."""
    have = base.n_variables
    if n <= have:
        return base
    top = max(base.tokens)
    extra = [OpSpec(top + 1 + i, f"x{have + i}", 0, variable=have + i, description=f"input variable x{have + i}")
             for i in range(n - have)]
    return base.extend(extra, version=f"{base.version}+x{n}")
