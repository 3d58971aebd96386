"""ContextFormulas builder: triplet rules, dedup, splits, subsets, outputs, docstrings, CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import shared_data_dir
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.builder import BuildConfig, build_dataset
from formulaforge.datasets.dedup import Deduplicator, canonical_formula_key
from formulaforge.datasets.extract import DocStats, Settings, latex_triplets
from formulaforge.datasets.splits import plan_subsets, split_of
from formulaforge.datasets.stats import cooccurrence, formula_symbols
from formulaforge.datasets.tokens import whitespace_tokens
from formulaforge.datasets.validate import context_problems, formula_problems
from formulaforge.sources.docstrings import inline_roles, read_docstrings, rst_blocks
from formulaforge.sources.latex_docs import LatexDocSpec, load_document


def shared_latex() -> Path | None:
    data = shared_data_dir()
    return data / "latex" if data is not None and (data / "latex").is_dir() else None


WORDS = " ".join(f"word{i}" for i in range(40))

PAPER = textwrap.dedent(rf"""
    \documentclass{{article}}
    \newcommand{{\R}}{{\mathbb{{R}}}}
    \newcommand{{\norm}}[1]{{\lVert #1\rVert}}
    \begin{{document}}
    \section{{Intro}}
    First paragraph about $x \in \R$ only, {WORDS}.

    Second paragraph, before A, {WORDS}
    \begin{{equation}}\label{{eq:a}}
      \norm{{x}} = 1 \nonumber
    \end{{equation}}
    text between A and B
    $$ y = 2 \tag{{*}} $$
    after B, end of paragraph two {WORDS}.

    Lonely paragraph {WORDS}.

    \[ z = 3 \]

    Following paragraph for z {WORDS}.

    Short:
    \begin{{align*}} a &= b \end{{align*}}
    tiny.

    \end{{document}}
""")


def _doc(tmp_path: Path, text: str = PAPER) -> LatexDocSpec:
    (tmp_path / "paper").mkdir(exist_ok=True)
    (tmp_path / "paper" / "main.tex").write_text(text)
    return LatexDocSpec("paper/main.tex", "s", "tree", str(tmp_path / "paper"), "main.tex")


def test_paper_context_rule_and_cleaning(tmp_path: Path) -> None:
    doc = load_document(_doc(tmp_path))
    stats = DocStats()
    rows = list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, stats, []))
    by = {r["formula"]: r for r in rows}
    assert set(by) == {r"\lVert x\rVert = 1", "y = 2", "z = 3", "a &= b"}
    a, b, z = by[r"\lVert x\rVert = 1"], by["y = 2"], by["z = 3"]
    # A shares its paragraph with B: its after-context stops at B, B's before-context starts after A
    assert a["context_before"].startswith("Second paragraph") and "First paragraph" not in a["context_before"]
    assert a["context_after"] == "text between A and B"
    assert b["context_before"] == "text between A and B"
    assert b["context_after"].startswith("after B") and "Lonely" not in b["context_after"]
    # z is set off by blank lines: it takes the adjacent paragraphs
    assert z["context_before"].startswith("Lonely paragraph")
    assert z["context_after"].startswith("Following paragraph for z")
    assert "\\label" not in a["formula"] and "\\nonumber" not in a["formula"] and "\\tag" not in b["formula"]
    assert a["env"] == "equation" and b["env"] == "$$" and z["env"] == "\\["
    assert a["source_file"] == "main.tex" and a["offsets"]["line_start"] == 10
    # with the default threshold the short-context formula is dropped
    rows32 = list(latex_triplets(doc, Settings(), whitespace_tokens, DocStats(), []))
    assert "a &= b" not in {r["formula"] for r in rows32}
    for r in rows32:
        assert whitespace_tokens(r["context_before"]) + whitespace_tokens(r["context_after"]) >= 32


def test_formula_and_context_validators() -> None:
    assert formula_problems("") == ["empty formula"]
    assert "\\label/\\tag/\\nonumber left in formula" in formula_problems(r"x \label{a}")
    assert formula_problems(r"a \\[2pt] b") == []
    assert formula_problems(r"a \[ b") and formula_problems("a $$ b") and formula_problems("{a")
    assert context_problems("inline $x$ fine") == []
    assert context_problems(r"has \begin{equation} x \end{equation}")


def test_dedup_exact_and_normalised() -> None:
    d = Deduplicator("formula")
    assert canonical_formula_key(r"a + b\,.") == canonical_formula_key("a+b")
    # the formula normalizer is the key: spelling variants of one formula collide
    assert canonical_formula_key(r"\dfrac{a}{b} \le x^{2}") == canonical_formula_key(r"\frac{a}{b}\leq x^2")
    assert canonical_formula_key("a+b") != canonical_formula_key("a-b")
    assert not d.seen("a + b", "c1", "c2")
    assert d.seen("a + b", "c1", "c2") and d.dropped_exact == 1
    assert d.seen(r"a+b \, .", "other", "ctx") and d.dropped_normalised == 1
    t = Deduplicator("triplet")
    assert not t.seen("a+b", "c1", "c2") and not t.seen("a + b", "other", "ctx")
    assert t.seen("a + b", "c1  ", "c2")


def test_splits_deterministic_and_subsets_disjoint() -> None:
    docs = [f"doc{i}" for i in range(500)]
    s1 = [split_of(d, 7) for d in docs]
    assert s1 == [split_of(d, 7) for d in docs]
    assert s1 != [split_of(d, 8) for d in docs]
    assert {"train", "validation", "test"} == set(s1)
    assert 0.8 < s1.count("train") / 500 < 0.97
    keys = list(range(0, 1000 * 7919, 7919))
    plan = plan_subsets(keys, (("CF50K", 300), ("CF5K", 100)))
    got = [plan.subset_of(k) for k in keys]
    assert got.count("CF5K") == 100 and got.count("CF50K") == 300 and got.count(None) == 600
    small = plan_subsets(keys[:50], (("CF50K", 300), ("CF5K", 100)))
    assert small.actual == [50, 0]  # the smaller subset fills first; a small corpus says what it has


def test_cooccurrence_conditional_probabilities() -> None:
    assert formula_symbols(r"\frac{a}{b} = \mathrm{x} + 1") == {r"\frac", "=", "+"}
    labels, m, counts = cooccurrence(["a=b", "a=b+c", "a+b"], top_k=5)
    i, j = labels.index("="), labels.index("+")
    assert m[i][j] == pytest.approx(0.5) and m[j][i] == pytest.approx(0.5) and m[i][i] == 1.0


def _tree(tmp_path: Path, n_docs: int) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "macros.tex").write_text(r"\newcommand{\E}{\mathbb{E}}" + "\n")
    for i in range(n_docs):
        body = "\n\n".join(
            f"Paragraph {i}.{k} about the estimator $\\hat\\theta_{k}$ {WORDS}\n\\[ \\E[X_{{{i}}}] = {k} \\cdot \\mu_{{{i}}} \\]\n"
            f"and the remaining discussion of case {k} {WORDS}"
            for k in range(4)
        )
        (root / f"doc{i:02d}.tex").write_text(
            f"\\documentclass{{article}}\n\\input{{macros}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"
        )
    (root / "broken.tex").write_bytes(
        b"\\documentclass{article}\n\\begin{document}\ncaf\xe9\n\\end{document}\n"
    )
    return root


def test_build_outputs_manifest_hf_and_rerun(tmp_path: Path) -> None:
    from datasets import load_from_disk

    root = _tree(tmp_path, 12)
    out = tmp_path / "out"
    cfg = BuildConfig(seed=3, subsets=(("CF50K", 30), ("CF5K", 10)))
    rep = build_dataset([str(root)], out, cfg)
    rows = [json.loads(line) for line in (out / "triplets.jsonl").read_text().splitlines()]
    assert len(rows) == 48 == rep.manifest["counts"]["triplets"]
    for r in rows:
        assert {
            "id",
            "doc_id",
            "source_file",
            "env",
            "formula",
            "context_before",
            "context_after",
            "split",
            "offsets",
            "subset",
        } <= set(r)
        assert r"\mathbb{E}" in r["formula"] and "\\E[" not in r["formula"]
    by_doc: dict[str, set[str]] = {}
    for r in rows:
        by_doc.setdefault(r["doc_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_doc.values())  # no document in two splits
    subsets = [r["subset"] for r in rows]
    assert subsets.count("CF5K") == 10 and subsets.count("CF50K") == 30
    m = json.loads((out / "manifest.json").read_text())
    assert m["settings"]["seed"] == 3 and m["counts"]["per_source"] == {str(root): 48}
    # a latin-1/cp1252 file is decoded, not skipped, and its encoding recorded (issue 15, item 7)
    broken = [d for d in m["documents"] if d["doc_id"].endswith("broken.tex")]
    assert broken and broken[0]["encodings"] == {"broken.tex": "cp1252"} and m["counts"]["documents_not_utf8"] == 1
    assert all(len(d["sha256"]) == 64 for d in m["documents"])
    hf = load_from_disk(str(out / "hf"))
    assert sum(len(hf[s]) for s in ("train", "validation", "test")) == 48
    # same seed -> identical output; re-run replaces atomically and leaves no temp dirs
    first = (out / "triplets.jsonl").read_text()
    build_dataset([str(root)], out, cfg)
    assert (out / "triplets.jsonl").read_text() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_interrupted_build_leaves_previous_dataset(tmp_path: Path) -> None:
    root = _tree(tmp_path, 3)
    out = tmp_path / "out"
    build_dataset([str(root)], out, BuildConfig(write_hf=False))
    before = (out / "triplets.jsonl").read_text()

    def boom(done: int, total: int, doc: str) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset([str(root)], out, BuildConfig(write_hf=False, seed=9), progress=boom)
    assert (out / "triplets.jsonl").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_to_overwrite_foreign_directory(tmp_path: Path) -> None:
    root = _tree(tmp_path, 1)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(ValueError, match="refusing"):
        build_dataset([str(root)], foreign, BuildConfig(write_hf=False))
    assert (foreign / "keep.txt").read_text() == "precious"


def test_workers_give_identical_output(tmp_path: Path) -> None:
    root = _tree(tmp_path, 6)
    build_dataset([str(root)], tmp_path / "a", BuildConfig(write_hf=False, workers=1))
    build_dataset([str(root)], tmp_path / "b", BuildConfig(write_hf=False, workers=2))
    assert (tmp_path / "a" / "triplets.jsonl").read_text() == (tmp_path / "b" / "triplets.jsonl").read_text()


def test_runaway_macro_drops_formula_and_is_listed(tmp_path: Path) -> None:
    text = PAPER.replace(r"\newcommand{\R}{\mathbb{R}}", r"\def\boom{\boom\boom}").replace(
        "y = 2", r"y = \boom"
    )
    root = tmp_path / "c"
    root.mkdir()
    (root / "main.tex").write_text(text)
    rep = build_dataset([str(root)], tmp_path / "o", BuildConfig(write_hf=False, min_context_tokens=0))
    formulas = [
        json.loads(x)["formula"] for x in (tmp_path / "o" / "triplets.jsonl").read_text().splitlines()
    ]
    assert "z = 3" in formulas and not any("boom" in f for f in formulas)
    assert any("macro expansion" in e["reason"] for e in rep.manifest["errors"])


# ---- docstrings ------------------------------------------------------------------------

MODULE = '''
def softplus(x):
    """Softplus, a smooth ReLU with :math:`\\\\beta` and :class:`~torch.Tensor` input.

    It is computed elementwise as

    .. math::
        :label: sp

        \\\\text{Softplus}(x) = \\\\frac{1}{\\\\beta} \\\\log(1 + \\\\exp(\\\\beta x))

        y = 2

    For numerical stability the implementation reverts to the linear function when the input
    times beta exceeds a threshold, see :func:`torch.nn.functional.softplus` for details.

    >>> softplus(1.0)
    1.31

    .. code-block:: python

        not prose
    """


add_docstr(torch.abs, r"""
Computes the absolute value :math:`|x|` of each element of {input} with long prose here.

.. math::
    \\text{{out}}_{{i}} = |\\text{{input}}_{{i}}|
""".format(**common_args))
'''


def test_docstrings_read_with_ast_without_import(tmp_path: Path) -> None:
    mod = tmp_path / "mod.py"
    mod.write_text(MODULE)
    docs = read_docstrings(mod)
    assert [d.name for d in docs] == ["softplus", "torch.abs"]
    blocks = docs[0].blocks
    math = [b for b in blocks if b.kind == "math"]
    assert math[0].text == r"\text{Softplus}(x) = \frac{1}{\beta} \log(1 + \exp(\beta x)) \\ y = 2"
    prose = " ".join(b.text for b in blocks if b.kind == "prose")
    assert r"$\beta$" in prose and "Tensor input" in prose and "torch.nn.functional.softplus" in prose
    assert ">>>" not in prose and "not prose" not in prose and "1.31" not in prose
    assert math[0].line == 7  # line of the directive in the .py file
    abs_math = [b for b in docs[1].blocks if b.kind == "math"][0]
    assert abs_math.text == r"\text{out}_{i} = |\text{input}_{i}|"


def test_inline_roles() -> None:
    assert (
        inline_roles(r"see :math:`x^2` and :py:func:`f <pkg.f>` and :attr:`~a.b.c`")
        == "see $x^2$ and f and c"
    )
    blocks = rst_blocks(["Title", "-----", "", "text"], 1)
    assert [(b.kind, b.text) for b in blocks] == [("break", ""), ("prose", "text")]


def test_default_docstring_corpus_builds(tmp_path: Path) -> None:
    rep = build_dataset(["docstrings:numpy"], tmp_path / "d", BuildConfig(write_hf=False))
    n = rep.manifest["counts"]["triplets"]
    assert n >= 40
    for line in (tmp_path / "d" / "triplets.jsonl").read_text().splitlines():
        r = json.loads(line)
        assert not formula_problems(r["formula"])
        assert whitespace_tokens(r["context_before"]) + whitespace_tokens(r["context_after"]) >= 32


# ---- real data ------------------------------------------------------------------------


@pytest.mark.slow
def test_real_books_give_sane_triplets(tmp_path: Path) -> None:
    latex = shared_latex()
    if latex is None:
        pytest.skip("shared LaTeX data not found (set FORMULAFORGE_SHARED)")
    rep = build_dataset(
        [str(latex / "pfr"), str(latex / "hott")], tmp_path / "real", BuildConfig(write_hf=False)
    )
    rows = [json.loads(x) for x in (tmp_path / "real" / "triplets.jsonl").read_text().splitlines()]
    assert len(rows) > 300
    assert rep.manifest["counts"]["per_collection"].keys() >= {"pfr", "hott"}
    for r in rows:
        assert not formula_problems(r["formula"]), r
        assert not context_problems(r["context_before"]) and not context_problems(r["context_after"])
        assert whitespace_tokens(r["context_before"]) + whitespace_tokens(r["context_after"]) >= 32
        assert r["offsets"]["line_start"] >= 1 and r["source_file"].endswith(".tex")
    # provenance points at the real line: the formula's first line is in the named file there
    r = rows[len(rows) // 2]
    src = (latex / r["doc_id"].split("/")[0] / r["source_file"]).read_text().split("\n")
    opener = src[r["offsets"]["line_start"] - 1]
    assert any(tok in opener for tok in ("$$", "\\[", "\\begin"))


def test_cli_build_and_stats(tmp_path: Path) -> None:
    root = _tree(tmp_path, 4)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "data",
            "build",
            str(root),
            "--out",
            str(tmp_path / "o"),
            "--seed",
            "1",
            "--min-context-tokens",
            "32",
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    png = tmp_path / "o" / "co.png"
    res = runner.invoke(app, ["data", "stats", str(tmp_path / "o"), "--plot", str(png), "--json"])
    assert res.exit_code == 0, res.output
    st = json.loads(res.output)
    assert st["triplets"] == 16 and "=" in st["cooccurrence"]["labels"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(app, ["data", "build", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_merge_shards_dedups_and_keeps_splits(tmp_path: Path) -> None:
    from formulaforge.datasets.builder import merge_datasets

    root = _tree(tmp_path, 6)
    shard_a, shard_b = tmp_path / "sa", tmp_path / "sb"
    for name, docs in (
        (shard_a, ["doc00", "doc01", "doc02"]),
        (shard_b, ["doc02", "doc03", "doc04", "doc05"]),
    ):
        src = tmp_path / ("src_" + name.name)
        src.mkdir()
        (src / "macros.tex").write_text((root / "macros.tex").read_text())
        for d in docs:
            (src / f"{d}.tex").write_text((root / f"{d}.tex").read_text())
        build_dataset([str(src)], name, BuildConfig(write_hf=False))
    rep = merge_datasets(
        [shard_a, shard_b], tmp_path / "m", BuildConfig(write_hf=False, subsets=(("CF5K", 5),))
    )
    rows = [json.loads(x) for x in (tmp_path / "m" / "triplets.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and rep.manifest["counts"]["dropped"]["duplicate_exact"] == 4  # doc02 twice
    assert sum(r["subset"] == "CF5K" for r in rows) == 5
    res = CliRunner().invoke(
        app, ["data", "merge", str(shard_a), "--out", str(tmp_path / "m2"), "--seed", "4"]
    )
    assert res.exit_code == 2 and "seed" in res.output


def test_inline_math_in_text_boxes_is_lifted() -> None:
    from formulaforge.datasets.extract import lift_text_math

    got = lift_text_math(r"0 & \text{if $x = 0$ or $|x| \ge 1$} \\ 1 & \text{else}")
    assert got == r"0 & \text{if }{x = 0}\text{ or }{|x| \ge 1} \\ 1 & \text{else}"
    assert not formula_problems(got)
    assert lift_text_math(r"\mbox{costs \$5}") == r"\mbox{costs \$5}"
    assert lift_text_math(r"\text{a {$x$} b}") == r"\text{a {$x$} b}"  # would unbalance braces: left alone


def test_hf_tokenizer_by_path_counts_context(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from formulaforge.datasets.tokens import token_counter

    # A character-level tokenizer: every character is a token, so counts differ from words.
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789.")}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    count = token_counter(str(tmp_path / "tok"))
    assert count("ab cd") == 5 and whitespace_tokens("ab cd") == 2
    with pytest.raises(ValueError, match="cannot load tokenizer"):
        token_counter(str(tmp_path / "missing-tokenizer"))
    root = _tree(tmp_path, 2)
    words = build_dataset([str(root)], tmp_path / "w", BuildConfig(write_hf=False, min_context_tokens=150))
    chars = build_dataset(
        [str(root)],
        tmp_path / "c",
        BuildConfig(write_hf=False, min_context_tokens=150, tokenizer=str(tmp_path / "tok")),
    )
    assert words.manifest["counts"]["triplets"] == 0 and chars.manifest["counts"]["triplets"] == 8


def test_unbalanced_input_is_reported_and_run_goes_on(tmp_path: Path) -> None:
    text = PAPER.replace("y = 2", r"\frac{y}{2").replace(
        r"\newcommand{\R}",
        r"\newcommand{\broken}{\oops{}" + "\n"
        r"\newcommand{\R}",
    )
    text = text.replace(r"\[ z = 3 \]", r"\[ z = 3 \]" + "\n\\begin{gather} never closed\n")
    root = tmp_path / "c"
    root.mkdir()
    (root / "main.tex").write_text(text)
    rep = build_dataset([str(root)], tmp_path / "o", BuildConfig(write_hf=False, min_context_tokens=0))
    assert rep.manifest["counts"]["triplets"] >= 2
    assert rep.manifest["counts"]["dropped"]["unbalanced braces in formula"] == 1
    reasons = " ".join(e["reason"] for e in rep.manifest["errors"])
    assert "\\begin{gather}" in reasons and "main.tex:" in " ".join(e["file"] for e in rep.manifest["errors"])


def test_small_corpus_gets_nonempty_validation_and_test(tmp_path: Path) -> None:
    from formulaforge.datasets.splits import fill_empty_splits

    docs = [(f"d{i}", "train") for i in range(5)]
    moves = fill_empty_splits(docs, seed=0)
    assert sorted(moves.values()) == ["test", "validation"] and moves == fill_empty_splits(docs, seed=0)
    assert fill_empty_splits(docs[:2], seed=0) == {}
    root = _tree(tmp_path, 4)
    rep = build_dataset([str(root)], tmp_path / "o", BuildConfig(write_hf=False))
    per = rep.manifest["counts"]["per_split"]
    assert per["validation"] > 0 and per["test"] > 0 and sum(per.values()) == 16
    rows = [json.loads(x) for x in (tmp_path / "o" / "triplets.jsonl").read_text().splitlines()]
    splits_by_doc = {r["doc_id"]: r["split"] for r in rows}
    assert all(
        d.get("split") == splits_by_doc.get(d["doc_id"], d.get("split")) for d in rep.manifest["documents"]
    )
