"""Synthetic arXiv bulk tars for tests: per-paper .gz members (tar bundles or one gzipped .tex)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import textwrap
from pathlib import Path


def words(n: int, count: int = 40) -> str:
    """Letters-only words unique to ``n`` (MinHash normalises digits away, so ``w1``/``w2`` would collide)."""
    out = []
    for i in range(count):
        h = hashlib.blake2b(f"{n}/{i}".encode(), digest_size=6).digest()
        out.append("".join(chr(97 + b % 26) for b in h))
    return " ".join(out)


def paper_tex(n: int, extra: str = "") -> str:
    """A small paper with two display formulas whose contexts are unique to paper ``n``."""
    w = [words(n * 10 + k) for k in range(4)]
    return textwrap.dedent(rf"""
        \documentclass{{article}}
        \newcommand{{\R}}{{\mathbb{{R}}}}
        \begin{{document}}
        Paper {n} opens with a paragraph about $x \in \R$ and {w[0]}.
        \begin{{equation}}
          f_{n}(x) = x^{{{n + 2}}} + {n}
        \end{{equation}}
        and continues after the first display with {w[1]}.

        A second paragraph for paper {n}, {w[2]}
        \[ g_{n}(y) = \frac{{y}}{{{n + 1}}} \]
        closes it, {w[3]}.
        {extra}
        \end{{document}}
    """)


def gz_single(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def gz_bundle(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def bulk_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """Write ``arXiv_src_YYMM_NNN.tar`` with the given (member name, bytes) in this order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sample_members(n: int = 6, month: str = "2401") -> list[tuple[str, bytes]]:
    """``n`` papers alternating single .gz and bundles, plus one PDF-only paper and one old-style id."""
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        pid = f"{month}.{i + 1:05d}"
        tex = paper_tex(i)
        if i % 2:
            data = gz_bundle({"main.tex": tex.encode(), "figs/readme.txt": b"not tex"})
        else:
            data = gz_single(tex)
        out.append((f"{month}/{pid}.gz", data))
    out.append((f"{month}/{month}.{n + 1:05d}.pdf", b"%PDF-1.4 not a real pdf"))
    out.append(("0501/math0501001.gz", gz_single(paper_tex(100 + n))))
    return out
