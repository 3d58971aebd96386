"""A small synthetic LaTeX corpus (four documents, eight display formulas each) for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

PARAGRAPH = (
    "We consider a smooth function on the real line and study how its values change when the argument "
    "moves by a small amount, which leads to the following identity for the quantity of interest number {i}:"
)


def write_corpus(root: Path) -> Path:
    """Four documents (splits are by document), eight display formulas each."""
    corpus = root / "corpus"
    for d in range(4):
        write_document(corpus / f"paper{d}", range(8 * d, 8 * d + 8))
    return corpus


def write_document(doc: Path, numbers: range) -> None:
    body = []
    for i in numbers:
        body.append(PARAGRAPH.format(i=i))
        body.append(f"\\begin{{equation}}\\label{{eq:{i}}} f_{{{i}}}(x) = \\frac{{x^{i % 5 + 2}}}{{{i + 1}}} + "
                    f"\\sum_{{k=1}}^{{{i + 2}}} a_k x^k \\end{{equation}}")
        body.append("which we use below, together with the estimates proved in the previous section, to bound "
                    f"every term of the expansion carefully and without loss number {i}.\n")
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n" + "\n\n".join(body)
                                  + "\n\\end{document}\n")
