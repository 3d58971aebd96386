"""Contexts a researcher would accept (issue 15), linear context finding and budgets (issue 17.3/17.4b),
and the context start (issue 22).

Each LaTeX item of issue 15 has a small reproducer built from what was seen in real projects.
Planted bugs these tests catch (issue 22): setting the first context's start to the document start
(the preamble leaks in); dropping the heading prefix; letting ``\\item`` not bound a context.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.audit import audit_dataset, context_kinds, triplet_kinds
from formulaforge.datasets.builder import BuildConfig, build_dataset, process_document
from formulaforge.datasets.extract import DocStats, Settings, docstring_triplets, latex_triplets
from formulaforge.datasets.prose import ProseRules, clean_prose
from formulaforge.datasets.tokens import whitespace_tokens
from formulaforge.sources.docstrings import read_docstrings
from formulaforge.sources.latex_docs import LatexDocSpec, load_document

WORDS = " ".join(f"w{i}" for i in range(12))


def _rows(tmp_path: Path, body: str, preamble: str = "", files: dict[str, str] | None = None, **kw):
    root = tmp_path / f"doc{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    (root / "main.tex").write_text(
        f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{textwrap.dedent(body)}\n\\end{{document}}\n"
    )
    doc = load_document(LatexDocSpec("d/main.tex", "s", "tree", str(root), "main.tex"))
    rows = list(latex_triplets(doc, Settings(min_context_tokens=0, **kw), whitespace_tokens, DocStats(), []))
    return {r["formula"]: r for r in rows}, doc


# ---- issue 22: where a context starts -------------------------------------------------------------


def test_preamble_never_leaks_into_the_first_context(tmp_path: Path) -> None:
    rows, _ = _rows(
        tmp_path,
        r"First words of the paper \[ a = b \] and more.",
        preamble=r"\usepackage{amsmath} \newcommand{\R}{\mathbb{R}} \title{Secret title}",
    )
    assert rows["a = b"]["context_before"] == "First words of the paper"
    rows, _ = _rows(tmp_path, r"\[ c = d \] follows at once.", preamble=r"\usepackage{amsmath}")
    assert rows["c = d"]["context_before"] == ""  # nothing before it in the body: an empty side stays empty


def test_context_right_after_a_section_heading(tmp_path: Path) -> None:
    rows, _ = _rows(
        tmp_path,
        r"""
        Earlier paragraph that must not appear.
        \section{Integration by parts}
        If the integrand is a product
        \[ \int u\,dv = uv - \int v\,du \]
        we can move the derivative.
        \subsection{Only a heading}
        \[ x = 1 \]
        \section{Next} not this.
        """,
    )
    r = rows[r"\int u\,dv = uv - \int v\,du"]
    assert r["context_before"] == "Integration by parts. If the integrand is a product"
    assert r["context_after"] == "we can move the derivative."
    assert rows["x = 1"]["context_before"] == "Only a heading."  # a context can be nothing but a heading
    assert rows["x = 1"]["context_after"] == ""  # it stops at the next sectioning command


# ---- issue 15, LaTeX items ------------------------------------------------------------------------


def test_expl3_code_macros_and_blueprint_annotations_vanish(tmp_path: Path) -> None:
    preamble = r"""
    \ExplSyntaxOn
    \NewDocumentCommand{\uses}{m}{\clist_map_inline:nn{#1}{\vphantom{\ref{##1}}}\ignorespaces}
    \NewDocumentCommand{\proves}{m}{\clist_map_inline:nn{#1}{\vphantom{\ref{##1}}}\ignorespaces}
    \ExplSyntaxOff
    \newcommand{\leanok}{}
    \newcommand{\mathlibok}{}
    """
    rows, _ = _rows(
        tmp_path,
        r"""
        \begin{lemma}\label{lem:a}\lean{PFR.foo}\leanok\uses{def:b, lem:c}
        For every group $G$ we have
        \[ |G| \geq 1 \]
        as claimed.\proves{thm:x}\mathlibok
        \end{lemma}
        """,
        preamble=preamble,
    )
    r = rows[r"|G| \geq 1"]
    assert r["context_before"] == "For every group $G$ we have"
    assert r["context_after"] == "as claimed."


def test_list_items_bound_contexts_and_labels_and_wrappers_vanish(tmp_path: Path) -> None:
    rows, _ = _rows(
        tmp_path,
        r"""
        \begin{mdframed}
        \begin{enumerate}
        \item[(a)] Show that
        \[ a^2 \geq 0 \]
        for real $a$.
        \item[(b)] Then prove
        \[ b^2 + 1 > 0 \]
        too.
        \end{enumerate}
        \end{mdframed}
        """,
    )
    a, b = rows[r"a^2 \geq 0"], rows[r"b^2 + 1 > 0"]
    assert a["context_before"] == "Show that" and a["context_after"] == "for real $a$."
    assert b["context_before"] == "Then prove" and b["context_after"] == "too."


def test_newif_conditionals_take_the_branch_tex_takes(tmp_path: Path) -> None:
    rows, doc = _rows(
        tmp_path,
        r"""
        \ifplastex Web version text \else Print version text \fi before
        \[ e = mc^2 \]
        \iftrue kept \else dropped \fi and \ifdraft draft words \else final words \fi.
        """,
        preamble="\\newif\\ifplastex\n\\plastexfalse\n\\newif\\ifdraft",
    )
    r = rows["e = mc^2"]
    assert r["context_before"] == "Print version text before"
    assert r["context_after"] == "kept and final words ."
    assert any("\\ifdraft" in why and "default" in why for _, why in doc.errors)  # said in the manifest


def test_scoped_definitions_apply_only_in_their_scope(tmp_path: Path) -> None:
    cls = r"""
    \newcommand{\textboxsubsubhead}[1]{\par\addvspace{12\p@}}
    \newenvironment{textbox}{\let\subsubsection\textboxsubsubhead}{}
    """
    rows, _ = _rows(
        tmp_path,
        r"""
        \subsubsection{Kept heading}
        Text before
        \[ \V + 1 \]
        after.

        \begin{center}
        \newcommand{\V}{v_{\mathrm{in}}}
        Inside the box
        \[ \V + 2 \]
        done.
        \end{center}
        """,
        preamble=r"\usepackage{mybook}",
        files={"mybook.sty": textwrap.dedent(cls)},
    )
    assert rows[r"\V + 1"]["context_before"] == "Kept heading. Text before"  # the class's \let did not leak
    assert r"v_{\mathrm{in}} + 2" in rows  # the definition made inside the environment applies there


def test_references_and_citations_read_naturally_and_are_configurable() -> None:
    text = r"As shown in \cite[Thm.~2]{knuth} and Lemma~\ref{lem:a}, see \eqref{eq:1} and \Cref{x,y}."
    assert clean_prose(text) == "As shown in  and Lemma (ref), see (ref) and (ref)."
    custom = ProseRules(ref_token="[REF]", cite_token="[CITE]")
    assert clean_prose(text, custom) == "As shown in [CITE] and Lemma [REF], see [REF] and [REF]."
    assert clean_prose(r"math $\ref{x}~y$ stays") == r"math $\ref{x}~y$ stays"  # inline math untouched


def test_two_drivers_of_one_document_are_counted_once(tmp_path: Path) -> None:
    root = tmp_path / "blueprint"
    (root / "chapter").mkdir(parents=True)
    body = "\n\n".join(f"Paragraph {k} before {WORDS}\n\\[ x_{k} = {k} \\]\nafter {WORDS}" for k in range(3))
    (root / "chapter" / "main.tex").write_text(body + "\n")
    for driver, extra in (("print.tex", "\\usepackage{amsmath}"), ("web.tex", "\\usepackage{amssymb}")):
        (root / driver).write_text(
            f"\\documentclass{{report}}\n{extra}\n\\begin{{document}}\n\\title{{{driver}}}\n"
            "\\input{chapter/main}\n\\end{document}\n"
        )
    rep = build_dataset([str(root)], tmp_path / "out", BuildConfig(write_hf=False, min_context_tokens=0))
    m = rep.manifest
    assert m["counts"]["display_formulas_seen"] == 3 and m["counts"]["documents_duplicate"] == 1
    docs = {d["doc_id"]: d for d in m["documents"]}
    assert docs["blueprint/web.tex"]["duplicate_of"] == "blueprint/print.tex"


def test_latin1_source_is_decoded_and_its_encoding_recorded(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    root.mkdir()
    text = (
        "\\documentclass{article}\n\\usepackage[latin1]{inputenc}\n\\begin{document}\n"
        f"Le th\xe9or\xe8me de Poincar\xe9 dit {WORDS}\n\\[ \\chi = 2 \\]\net voil\xe0 {WORDS}\n\\end{{document}}\n"
    )
    (root / "main.tex").write_bytes(text.encode("latin-1"))
    rep = build_dataset([str(root)], tmp_path / "out", BuildConfig(write_hf=False, min_context_tokens=0))
    row = json.loads((tmp_path / "out" / "triplets.jsonl").read_text().splitlines()[0])
    assert row["context_before"].startswith("Le théorème de Poincaré dit")
    assert rep.manifest["documents"][0]["encodings"] == {"main.tex": "latin-1"}


# ---- issue 15, docstrings -------------------------------------------------------------------------

SYMPY_MODULE = r'''
def BetaPrime(name, alpha, beta):
    r"""
    Create a continuous random variable with a Beta prime distribution.

    The density of the Beta prime distribution is given by

    .. math::
        f(x) := \frac{x^{\alpha-1} (1+x)^{-\alpha -\beta}}{B(\alpha,\beta)}

    with :math:`x > 0`. See `the article <https://en.wikipedia.org/wiki/Beta_prime>`_ and [Ed74]_.

    Parameters
    ==========

    alpha : Real number, `\alpha > 0`, a shape
    beta : Real number, `\beta > 0`, a shape

    Explanation
    ===========

    The scale parameter `c` enters as `\frac{1}{c}` in

    .. math::
        g(x) = \frac{1}{c} f(x / c)

    Examples
    ========

    It can be computed as follows:

    >>> BetaPrime("x", 1, 2)
    """
'''

TORCH_MODULE = r'''
add_docstr(torch.gelu, r"""
gelu(input, approximate='none') -> Tensor

Applies the Gaussian Error Linear Units function elementwise. It is defined as

.. math::
    \text{GELU}(x) = x * \Phi(x)

where :math:`\Phi(x)` is the Cumulative Distribution Function. The value ``'none'`` is the default.
An approximation can be computed as follows::

    gelu(x, approximate='tanh')

Args:
    input (Tensor): the input tensor.

    .. math::
        y = 2

Shape:
    - Input: :math:`(*)`
""")
'''


def _doc_rows(tmp_path: Path, folder: str, module: str):
    pkg = tmp_path / folder
    pkg.mkdir()
    (pkg / "mod.py").write_text(module)
    docs = read_docstrings(pkg / "mod.py")
    rows = list(
        docstring_triplets("d", "mod.py", docs, Settings(min_context_tokens=0), whitespace_tokens, DocStats())
    )
    return {r["formula"]: r for r in rows}


def test_docstring_sections_markup_and_sympy_math(tmp_path: Path) -> None:
    rows = _doc_rows(tmp_path, "sympy", SYMPY_MODULE)
    f = rows[r"f(x) := \frac{x^{\alpha-1} (1+x)^{-\alpha -\beta}}{B(\alpha,\beta)}"]
    # the summary is prose; the Parameters section never reaches the context; reST links/citations are text
    assert f["context_before"] == (
        "Create a continuous random variable with a Beta prime distribution. "
        "The density of the Beta prime distribution is given by"
    )
    assert f["context_after"] == "with $x > 0$. See the article and."
    g = rows[r"g(x) = \frac{1}{c} f(x / c)"]
    # a context never crosses a section boundary; sympy backticks are math
    assert g["context_before"] == r"The scale parameter $c$ enters as $\frac{1}{c}$ in"
    assert g["context_after"] == ""  # Examples is dropped: the empty side stays empty


def test_docstring_signature_lead_in_and_parameter_math_dropped(tmp_path: Path) -> None:
    rows = _doc_rows(tmp_path, "torchlike", TORCH_MODULE)
    assert set(rows) == {r"\text{GELU}(x) = x * \Phi(x)"}  # math inside Args: is not prose
    r = rows[r"\text{GELU}(x) = x * \Phi(x)"]
    assert (
        r["context_before"]
        == "Applies the Gaussian Error Linear Units function elementwise. It is defined as"
    )
    assert r["context_after"] == (
        "where $\\Phi(x)$ is the Cumulative Distribution Function. The value 'none' is the default."
    )


# ---- the audit ------------------------------------------------------------------------------------


def test_audit_kinds() -> None:
    assert context_kinds(r"Fine prose with $\alpha \ref{x}$ and \emph{emphasis}.") == set()
    assert context_kinds(r"we use \clist_map_inline here") == {"control_sequence"}
    assert context_kinds(r"see \section{Intro} now") >= {"heading"}
    assert context_kinds("alpha : Real number, a shape") == {"heading"}
    assert context_kinds("Args: input (Tensor)") == {"heading"}
    assert context_kinds("see :class:`Foo` and `link <http://x>`_") == {"rest_markup"}
    assert context_kinds("LaTeX quotes ``like this'' are prose") == set()
    assert context_kinds("gelu(input, approximate='none') -> Tensor Applies") == {"signature"}
    assert context_kinds("word " * 401) == {"long_context"}
    assert triplet_kinds({"context_before": "", "context_after": "ok"}) == {"empty_side"}


def test_audit_command_and_build_summary(tmp_path: Path) -> None:
    root = tmp_path / "paper"
    root.mkdir()
    paras = "\n\n".join(
        f"Paragraph {k} with \\unknownmacro{{}} {WORDS}\n\\[ y_{k} = {k} \\]\nafter {WORDS}"
        if k == 0
        else f"Paragraph {k} {WORDS}\n\\[ y_{k} = {k} \\]\nafter {WORDS}"
        for k in range(4)
    )
    (root / "main.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\n{paras}\n\\end{{document}}\n"
    )
    out = tmp_path / "out"
    rep = build_dataset([str(root)], out, BuildConfig(write_hf=False, min_context_tokens=0))
    audit = rep.manifest["counts"]["audit"]
    assert audit["triplets"] == 4 and audit["flagged"] == 1 and audit["by_kind"]["control_sequence"] == 1
    assert audit_dataset(out, sample=2, seed=1).counts.flagged == 1
    res = CliRunner().invoke(app, ["data", "audit", str(out), "--sample", "3", "--seed", "0"])
    assert res.exit_code == 0, res.output
    assert "1 flagged (25.0%)" in res.output
    page = (out / "audit_review.md").read_text()
    assert page.count("- verdict:") == 3 and "main.tex:" in page
    bad = CliRunner().invoke(app, ["data", "audit", str(tmp_path)])
    assert bad.exit_code == 2 and "triplets.jsonl" in bad.output


# ---- issue 17.3: linear context finding, per-document CPU budget ----------------------------------


def _cpu_for(tmp_path: Path, n: int) -> float:
    root = tmp_path / f"dollars{n}"
    root.mkdir()
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\nHello.\n\n" + "$" * n + "\n\nBye.\n\\end{document}\n"
    )
    spec = LatexDocSpec(f"d{n}", "s", "tree", str(root), "main.tex")
    t = time.process_time()
    res = process_document(spec, Settings(), None, cpu_seconds=0)
    assert res.skipped is None and res.stats["displays"] == n // 4  # "$$$$" is one empty display
    return time.process_time() - t


def test_many_displays_in_one_paragraph_is_linear(tmp_path: Path) -> None:
    small, big = _cpu_for(tmp_path, 100_000), _cpu_for(tmp_path, 800_000)
    # 8x the input: a linear pass costs about 8x, the old per-display copy cost about 64x
    assert big < 20 * max(small, 0.01), (small, big)
    assert big < 30  # CPU seconds for 800 KB of '$' on a slow shared core (was quadratic: minutes at 4 MB)


def test_document_over_its_cpu_budget_is_skipped_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\n" + "$" * 2_000_000 + "\n\n\\end{document}\n"
    )
    (root / "small.tex").write_text(
        f"\\documentclass{{article}}\n\\begin{{document}}\nA {WORDS} {WORDS}\n\\[ z = 1 \\]\nb\n\\end{{document}}\n"
    )
    rep = build_dataset(
        [str(root)], tmp_path / "out", BuildConfig(write_hf=False, doc_cpu_seconds=0.2, min_context_tokens=0)
    )
    docs = {d["doc_id"]: d for d in rep.manifest["documents"]}
    assert "CPU budget" in docs["big/main.tex"]["skipped"]
    assert docs["big/small.tex"]["triplets"] == 1  # the build went on


# ---- issue 17.4b: memory per input byte, MemoryError --------------------------------------------


def test_extraction_memory_is_a_small_multiple_of_the_input(tmp_path: Path) -> None:
    """A line per character used to cost ~71 bytes of RSS per input byte (bench/bench_extract_memory.py)."""
    import subprocess
    import sys

    root = tmp_path / "lines"
    root.mkdir()
    n = 2 * 1024 * 1024
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n" + "x\n" * (n // 2) + "\\end{document}\n"
    )
    child = (
        "import resource, sys\n"
        "from formulaforge.datasets.builder import process_document\n"
        "from formulaforge.datasets.extract import Settings\n"
        "from formulaforge.sources.latex_docs import LatexDocSpec\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "res = process_document(LatexDocSpec('d', 's', 'tree', sys.argv[1], 'main.tex'), Settings(), None, 0)\n"
        "assert res.skipped is None, res.skipped\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", child, str(root)], capture_output=True, text=True, check=True)
    grown = int(out.stdout.strip().splitlines()[-1])
    assert grown / n < 30, f"{grown / n:.1f} bytes of RSS per input byte"


def test_memory_error_skips_the_document_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    from formulaforge.datasets import builder

    def boom(*args, **kwargs):
        raise MemoryError
        yield  # pragma: no cover

    root = tmp_path / "p"
    root.mkdir()
    (root / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n\\[ x \\]\n\\end{document}\n"
    )
    monkeypatch.setattr(builder, "latex_triplets", boom)
    res = process_document(LatexDocSpec("d", "s", "tree", str(root), "main.tex"), Settings(), None)
    assert res.skipped is not None and "out of memory" in res.skipped and res.triplets == []


def test_display_written_through_a_wrapper_macro_is_a_formula_not_context(tmp_path: Path) -> None:
    """ot4ml writes displays as ``\\eq{..}`` (``\\begin{equation*}#1\\end{equation*}``); HoTT's a4 driver
    defines ``\\narrowequation{..}`` as ``$#1$``. Neither may reach a context as raw LaTeX."""
    rows, _ = _rows(
        tmp_path,
        r"""
        Then for all $x$,
        \eq{ \rho(x) = |\det T'(x)| }
        and \narrowequation{f \to g} holds.
        """,
        preamble=r"\newcommand{\eq}[1]{\begin{equation*}#1\end{equation*}} \newcommand{\narrowequation}[1]{$#1$}",
    )
    r = rows[r"\rho(x) = |\det T'(x)|"]
    assert r["context_before"] == "Then for all $x$," and r["context_after"] == r"and $f \to g$ holds."


def test_environment_boundaries_bound_contexts_and_expanded_diagrams_are_dropped(tmp_path: Path) -> None:
    """A theorem-like or proof environment starts a new paragraph in LaTeX: the context of a display at
    the end of an example does not run into the next example (seen in napkin)."""
    rows, _ = _rows(
        tmp_path,
        r"""
        \begin{example}
        The discriminant is
        \[ \Delta_K = 8. \]
        \end{example}
        \begin{example}
        Let $K = \mathbb Q(i)$. Then
        \[ \Delta_K = -4. \]
        \end{example}
        A picture:
        \[ \square \]
        """,
        preamble=r"\newcommand{\square}{\xymatrix{A \ar[r] & B}}",
    )
    a, b = rows[r"\Delta_K = 8."], rows[r"\Delta_K = -4."]
    assert a["context_before"] == "The discriminant is" and a["context_after"] == ""
    assert b["context_before"] == "Let $K = \\mathbb Q(i)$. Then"
    assert not any("xymatrix" in f for f in rows)  # a macro that expands to a diagram is a picture


def test_item_alias_and_nested_brackets_in_titles(tmp_path: Path) -> None:
    """napkin writes ``\\ii`` for ``\\item`` and titles like ``[$\\mathbb Q(\\sqrt[3]{2})$]``."""
    rows, _ = _rows(
        tmp_path,
        r"""
        \begin{example}[$\mathbb Q(\sqrt[3]{2})$]
        Consider the field
        \[ K = \mathbb Q(\sqrt[3]{2}) \]
        of degree three.
        \end{example}
        \begin{itemize}
        \ii First condition holds.
        \ii Second, for each $n$,
        \[ |X_n| \le C \]
        almost surely.
        \end{itemize}
        """,
        preamble=r"\newcommand{\ii}{\item}",
    )
    assert rows[r"K = \mathbb Q(\sqrt[3]{2})"]["context_before"] == "Consider the field"
    assert rows[r"|X_n| \le C"]["context_before"] == "Second, for each $n$,"


# ---- Open Logic's shape: subfiles, user definers, xparse o/s/t arguments ----------------------------


def test_subfile_takes_its_macros_from_the_main_files_preamble(tmp_path: Path) -> None:
    """``\\documentclass[../main]{subfiles}``: the main file's preamble (and what it inputs through a
    path macro) defines the subfile's macros; the main file's body is not read."""
    root = tmp_path / "book"
    (root / "sty").mkdir(parents=True)
    (root / "chapters").mkdir()
    (root / "sty" / "defs.sty").write_text(
        "\\newcommand*{\\DeclareDocumentMacro}[2]{\\def#1{#2}}\n"
        "\\DeclareDocumentMacro \\MP {\\textsc{mp}}\n"
        "\\DeclareDocumentMacro {\\lif} {\\mathbin{\\rightarrow}}\n"
        "\\DeclareDocumentCommand \\Log { m o }{\\ensuremath{\\mathbf{#1}\\IfNoValueTF {#2}{}{_{#2}}}}\n"
    )
    (root / "main.tex").write_text(
        "\\documentclass{book}\n\\newcommand*{\\olpath}{..}\n\\input{\\olpath/sty/defs.sty}\n"
        "\\begin{document}\n\\newcommand{\\Secret}{leaked}\n\\end{document}\n"
    )
    (root / "chapters" / "ch.tex").write_text(
        "\\documentclass[../main]{subfiles}\n\\begin{document}\n"
        f"By \\MP{{}} in \\Log{{K}}[3] we get {WORDS} \\[ A \\lif B \\] and so \\Log{{G}} holds.\n"
        "\\end{document}\n"
    )
    doc = load_document(LatexDocSpec("b/chapters/ch.tex", "s", "tree", str(root), "chapters/ch.tex"))
    assert {"MP", "lif", "Log"} <= set(doc.macros.macros) and "Secret" not in doc.macros.macros
    rows = list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, DocStats(), []))
    assert [r["formula"] for r in rows] == [r"A \mathbin{\rightarrow} B"]
    assert rows[0]["context_before"].startswith(r"By \textsc{mp} in $\mathbf{K}_{3}$ we get")
    assert rows[0]["context_after"] == r"and so $\mathbf{G}$ holds."


def test_missing_subfiles_main_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "lone"
    root.mkdir()
    (root / "ch.tex").write_text(
        "\\documentclass[../nowhere]{subfiles}\n\\begin{document}\nx\n\\end{document}\n"
    )
    doc = load_document(LatexDocSpec("l/ch.tex", "s", "tree", str(root), "ch.tex"))
    assert any("subfiles main file '../nowhere' not found" in why for _, why in doc.errors)


def test_xparse_optional_and_boolean_arguments_are_decided_per_call() -> None:
    from formulaforge.sources.macros import MacroTable

    table = MacroTable()
    table.add_definitions(
        r"""
        \NewDocumentCommand\st{s m}{\IfBooleanTF{#1}{[#2]}{(#2)}}
        \NewDocumentCommand\tt{t{!} m o}{\IfBooleanT{#1}{bang }#2\IfValueT{#3}{ at #3}}
        \NewDocumentCommand\pair{O{a} m O{c}}{(#1,#2,#3)}
        \NewDocumentCommand\bare{o}{x#1y}
        \NewDocumentCommand\odd{d()}{no}
        """
    )
    assert table.unsupported == {"odd": "xparse argument spec 'd()' is not supported"}
    got = table.expand(r"\st*{a} \st{b} \tt!{c}[d] \tt{e} \pair{b} \pair[z]{b}[w] \bare \bare[q]", "math")
    assert got == "[a] (b) bang c at d e (a,b,c) (z,b,w) xy xqy"


def test_unexpandable_user_macro_in_prose_cuts_the_context_at_its_sentence(tmp_path: Path) -> None:
    """``\\pickone`` branches on toggles (``\\def`` inside): it is not expanded, and its sentence is
    not context (stats count the cut sides); inline math is left alone."""
    preamble = r"\newcommand{\pickone}[3]{\def\x{#3}\x}"
    rows, doc = _rows(
        tmp_path,
        r"""
        Keep this one. \pickone{a}{Tagged text}{other}. Then we have $\pickone$ here
        \[ x = 1 \]
        where it holds. Still fine. Now \pickone{b}{c}{d} appears. Gone too.
        """,
        preamble=preamble,
    )
    assert "pickone" in doc.macros.unsupported
    row = rows["x = 1"]
    assert row["context_before"] == r"Then we have $\pickone$ here"
    assert row["context_after"] == "where it holds. Still fine."
    stats = DocStats()
    list(latex_triplets(doc, Settings(min_context_tokens=0), whitespace_tokens, stats, []))
    assert stats.contexts_trimmed == 2
    out = tmp_path / "built"
    build_dataset([str(tmp_path / "doc0")], out, BuildConfig(write_hf=False, min_context_tokens=0))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["contexts_trimmed"] == 2
