"""Dataset statistics and the operator co-occurrence heatmap (paper, App. B / Fig. 4).

For each formula we take the *set* of operators and symbols it uses (relations, arithmetic
operators, big operators, named functions, Greek letters ...; not grouping braces or
font/spacing commands, nor ``_``/``^``, which are structure rather than operators). Over the most frequent ``top_k`` symbols we plot
``P(b | a) = #formulas with a and b / #formulas with a`` (row a, column b).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from formulaforge.utils.atomic import atomic_open
from formulaforge.utils.jsonl import read_jsonl

_SYMBOL = re.compile(r"\\[A-Za-z]+|\\[|{}]|[=+\-<>*/|!]")
_SPACING_SYMBOLS = re.compile(r"\\[,;:! >]")
_NOT_OPERATORS = frozenset(
    [
        r"\left",
        r"\right",
        r"\big",
        r"\Big",
        r"\bigg",
        r"\Bigg",
        r"\bigl",
        r"\bigr",
        r"\Bigl",
        r"\Bigr",
        r"\mathrm",
        r"\mathbf",
        r"\mathit",
        r"\mathsf",
        r"\mathcal",
        r"\mathbb",
        r"\mathfrak",
        r"\mathscr",
        r"\text",
        r"\textrm",
        r"\textit",
        r"\textbf",
        r"\operatorname",
        r"\begin",
        r"\end",
        r"\label",
        r"\quad",
        r"\qquad",
        r"\displaystyle",
        r"\textstyle",
        r"\scriptstyle",
        r"\limits",
        r"\nolimits",
        r"\mathop",
        r"\mathbin",
        r"\mathrel",
        r"\mathord",
        r"\hbox",
        r"\mbox",
        r"\boldsymbol",
        r"\bm",
        r"\hat",
        r"\bar",
        r"\tilde",
        r"\widetilde",
        r"\widehat",
        r"\overline",
        r"\underline",
        r"\vec",
        r"\dot",
        r"\ddot",
        r"\prime",
        r"\cdots",
        r"\ldots",
        r"\dots",
        r"\vdots",
        r"\ddots",
        r"\hspace",
        r"\vspace",
        r"\phantom",
        r"\,",
        r"\{",
        r"\}",
        r"\|",
        r"\mathopen",
        r"\mathclose",
        r"\nonumber",
        r"\notag",
    ]
)


def formula_symbols(formula: str) -> set[str]:
    """The operators and symbols of one formula (a set: co-occurrence counts formulas)."""
    return {s for s in _SYMBOL.findall(_SPACING_SYMBOLS.sub(" ", formula)) if s not in _NOT_OPERATORS}


def cooccurrence(
    formulas: Iterable[str] | Callable[[], Iterable[str]], top_k: int = 20
) -> tuple[list[str], list[list[float]], Counter[str]]:
    """Labels (most frequent first), the P(b|a) matrix, and per-symbol formula counts.

    ``formulas`` may be a callable returning a fresh iterable: then two streaming passes
    are made and memory stays bounded however large the dataset is.
    """
    if not callable(formulas):
        items = list(formulas)
        formulas = lambda: items
    counts: Counter[str] = Counter()
    for f in formulas():
        counts.update(formula_symbols(f))
    labels = [s for s, _ in counts.most_common(top_k)]
    index = {s: i for i, s in enumerate(labels)}
    joint = [[0] * len(labels) for _ in labels]
    for f in formulas():
        present = [index[x] for x in formula_symbols(f) if x in index]
        for a in present:
            row = joint[a]
            for b in present:
                row[b] += 1
    matrix = [
        [joint[a][b] / counts[labels[a]] if counts[labels[a]] else 0.0 for b in range(len(labels))]
        for a in range(len(labels))
    ]
    return labels, matrix, counts


def _describe(values: list[int]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    # "inclusive" interpolates between observed values (numpy's default "linear"), so every
    # percentile lies within [min, max]; the default "exclusive" method extrapolates on small
    # samples (p95 above the maximum on 20 values).
    qs = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 2),
        "min": min(values),
        "p5": qs[0],
        "p50": qs[9],
        "p95": qs[18],
        "max": max(values),
    }


def dataset_stats(data_dir: str | Path, top_k: int = 20) -> dict[str, Any]:
    """Counts and length distributions from ``DIR/triplets.jsonl`` (streamed)."""
    path = Path(data_dir) / "triplets.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (build the dataset with `formulaforge data build`)")
    per_split: Counter[str] = Counter()
    per_subset: Counter[str] = Counter()
    per_env: Counter[str] = Counter()
    per_collection: Counter[str] = Counter()
    f_chars: list[int] = []
    ctx_words: list[int] = []
    for row in read_jsonl(path):
        per_split[row["split"]] += 1
        per_subset[row.get("subset") or "(none)"] += 1
        per_env[row["env"]] += 1
        per_collection[row.get("collection") or row["doc_id"].split("/", 1)[0]] += 1
        f_chars.append(len(row["formula"]))
        ctx_words.append(len(row["context_before"].split()) + len(row["context_after"].split()))
    labels, matrix, counts = cooccurrence(lambda: (r["formula"] for r in read_jsonl(path)), top_k)
    return {
        "triplets": sum(per_split.values()),
        "per_split": dict(per_split),
        "per_subset": dict(per_subset),
        "per_env": dict(per_env.most_common()),
        "per_collection": dict(per_collection.most_common()),
        "formula_chars": _describe(f_chars),
        "context_words": _describe(ctx_words),
        "top_symbols": [[s, counts[s]] for s in labels],
        "cooccurrence": {"labels": labels, "p_b_given_a": [[round(v, 4) for v in r] for r in matrix]},
    }


def plot_cooccurrence(
    labels: list[str], matrix: list[list[float]], out_png: str | Path, title: str = ""
) -> Path:
    """Save the P(b|a) heatmap as a PNG (Agg backend, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n + 2), max(5.0, 0.45 * n + 1.5)), dpi=120)
    im = ax.imshow(matrix if n else [[0.0]], cmap="viridis", vmin=0.0, vmax=1.0)
    shown = list(labels)  # plain text: mathtext would choke on commands it does not know
    ax.set_xticks(range(n), shown, rotation=90)
    ax.set_yticks(range(n), shown)
    ax.set_xlabel("b")
    ax.set_ylabel("a")
    ax.set_title(title or "Operator co-occurrence P(b | a)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_open(out_png, "wb", encoding=None) as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
    return out_png
