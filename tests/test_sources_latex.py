"""LaTeX reading: flattening with provenance, comments, conditionals, macros, archives, scanning."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from formulaforge.sources.archive import ArchiveError, read_archive
from formulaforge.sources.fileset import DecodeError, FileSet, decode_tex
from formulaforge.sources.latex_docs import LatexDocSpec, discover, find_main_files, load_document
from formulaforge.sources.latex_flatten import flatten, strip_comment
from formulaforge.sources.latex_scan import scan
from formulaforge.sources.macros import MacroExpansionError, MacroTable


def _fs(files: dict[str, str]) -> FileSet:
    return FileSet.from_blobs({k: v.encode() for k, v in files.items()}, "t")


# ---- comments and conditionals -------------------------------------------------------


def test_strip_comment_respects_escaped_percent() -> None:
    assert strip_comment(r"50\% of x % note") == r"50\% of x "
    assert strip_comment(r"a\\% b") == "a\\\\"
    assert strip_comment("no comment") == "no comment"


def test_flatten_drops_comments_iffalse_and_comment_env_keeping_line_map() -> None:
    src = "\n".join(
        [
            r"\documentclass{article}",  # 1
            r"\begin{document}",  # 2
            "First line % hidden",  # 3
            "% whole comment line",  # 4
            r"\iffalse",  # 5
            r"dropped \ifx a b nested \fi still dropped",  # 6
            r"\fi kept-after-fi",  # 7
            r"\begin{comment}",  # 8
            "secret",  # 9
            r"\end{comment} visible",  # 10
            r"\iffalse no \else yes \fi end",  # 11
            r"\end{document}",  # 12
            "after end",  # 13
        ]
    )
    res = flatten(_fs({"main.tex": src}), "main.tex")
    text = res.flat.text
    assert "hidden" not in text and "whole comment" not in text
    assert "dropped" not in text and "secret" not in text
    assert "kept-after-fi" in text and "visible" in text
    assert "yes" in text and " no " not in text and "\\fi" not in text.split("yes")[1]
    assert "after end" not in text
    # a comment-only line must not become a paragraph break
    assert "\n\n" not in text
    assert res.flat.locate(text.index("kept-after-fi")) == ("main.tex", 7)
    assert res.flat.locate(text.index("visible")) == ("main.tex", 10)


def test_input_include_subfile_inlined_with_provenance() -> None:
    files = {
        "main.tex": "\\documentclass{book}\n\\begin{document}\nIntro\n\\input{chap/one}\n\\include{two}\nOutro\n\\end{document}\n",
        "chap/one.tex": "One A\n\\input{inner}\nOne B\n",
        "chap/inner.tex": "Inner text\n",
        "two.tex": "\\documentclass[main]{subfiles}\n\\begin{document}\nTwo body\n\\end{document}\n",
    }
    res = flatten(_fs(files), "main.tex")
    t = res.flat.text
    assert (
        t.index("Intro") < t.index("One A") < t.index("Inner text") < t.index("One B") < t.index("Two body")
    )
    assert "subfiles" not in t  # the subfile's preamble is not inlined
    assert res.flat.locate(t.index("Inner text")) == ("chap/inner.tex", 1)
    assert res.flat.locate(t.index("Two body")) == ("two.tex", 3)
    assert res.flat.locate(t.index("Outro")) == ("main.tex", 6)
    assert not res.errors


def test_input_cycle_and_missing_file_are_reported_not_fatal() -> None:
    files = {"a.tex": "A1\n\\input{b}\nA2\n", "b.tex": "B1\n\\input{a}\n\\input{missing}\nB2\n"}
    res = flatten(_fs(files), "a.tex")
    assert res.flat.text.count("A1") == 1 and "B2" in res.flat.text and "A2" in res.flat.text
    reasons = " ".join(r for _, r in res.errors)
    assert "cycle" in reasons and "a.tex -> b.tex -> a.tex" in reasons
    assert "not found" in reasons


def test_include_depth_limit() -> None:
    files = {f"f{i}.tex": f"level{i}\n\\input{{f{i + 1}}}\n" for i in range(30)}
    res = flatten(_fs(files), "f0.tex", max_depth=5)
    assert "level4" in res.flat.text and "level6" not in res.flat.text
    assert any("deeper than 5" in r for _, r in res.errors)


def test_olimport_and_macro_prefixed_paths_resolve() -> None:
    files = {
        "main.tex": "\\documentclass{memoir}\n\\newcommand{\\olpath}{.}\n\\input{\\olpath/sty/defs.sty}\n"
        "\\begin{document}\n\\olimport*[logic/intro]{chapter}\n\\end{document}\n",
        "sty/defs.sty": "\\newcommand{\\R}{\\mathbb{R}}\n",
        "content/logic/intro/chapter.tex": "\\documentclass[../../../x]{subfiles}\n\\begin{document}\nChapter text\n"
        "\\olimport{section}\n\\end{document}\n",
        "content/logic/intro/section.tex": "\\documentclass{subfiles}\n\\begin{document}\nSection text\n\\end{document}\n",
    }
    res = flatten(_fs(files), "main.tex")
    assert "Chapter text" in res.flat.text and "Section text" in res.flat.text
    assert "\\mathbb{R}" in res.flat.text
    assert not res.errors


# ---- decoding ------------------------------------------------------------------------


def test_binary_rejected_with_reason_and_non_utf8_decoded() -> None:
    with pytest.raises(DecodeError, match="binary"):
        decode_tex(b"\\section{x}\x00\x01", "a.tex")
    # issue 15: latin-1 papers are decoded (they used to be skipped)
    assert decode_tex("caf\u00e9".encode("latin-1"), "b.tex") == "caf\u00e9"
    assert decode_tex("\ufeffx\r\ny".encode(), "c.tex") == "x\ny"


def test_bad_included_file_is_listed_and_document_goes_on() -> None:
    fs = FileSet.from_blobs(
        {
            "main.tex": b"\\begin{document}\nGood\n\\input{bad}\nMore\n\\end{document}\n",
            "bad.tex": b"\xff\xfe\x00binary",
        },
        "t",
    )
    res = flatten(fs, "main.tex")
    assert "Good" in res.flat.text and "More" in res.flat.text
    assert any("binary" in r for _, r in res.errors)


# ---- macros --------------------------------------------------------------------------


def test_macro_definitions_and_expansion() -> None:
    t = MacroTable()
    t.add_definitions(r"""
    \newcommand{\R}{\mathbb{R}}
    \newcommand\norm[1]{\left\| #1 \right\|}
    \renewcommand*{\pair}[2][x]{(#1, #2)}
    \providecommand{\R}{WRONG}
    \def\abs#1{|#1|}
    \def\twice#1#2{#1#2#1}
    \DeclareMathOperator{\Hom}{Hom}
    \DeclareMathOperator*{\argmax}{arg\,max}
    \let\Reals\R
    \newcommand{\Vect}{\ensuremath{\mathsf{Vec}}\xspace}
    \def\lim{\mathop{\mathrm{lim}}\nolimits}
    """)
    assert t.expand(r"\R^n") == r"\mathbb{R}^n"
    assert t.expand(r"\norm{v}") == r"\left\| v \right\|"
    assert t.expand(r"\pair{y}") == "(x, y)"
    assert t.expand(r"\pair[z]{y}") == "(z, y)"
    assert t.expand(r"\abs{\R}") == r"|\mathbb{R}|"
    assert t.expand(r"\twice ab") == "aba"
    assert t.expand(r"\Hom(A,B)") == r"\operatorname{Hom}(A,B)"
    assert t.expand(r"\argmax_x") == r"\operatorname*{arg\,max}_x"
    assert t.expand(r"\Reals") == r"\mathbb{R}"
    assert t.expand(r"\Vect") == r"\mathsf{Vec}"
    assert t.expand(r"a \Vect space", mode="text") == r"a $\mathsf{Vec}$ space"
    assert t.expand(r"\lim_{n}") == r"\lim_{n}"  # standard names are not rewritten
    assert t.expand(r"\\R") == r"\\R"  # a line break followed by R, not \R
    assert t.expand(r"\Real") == r"\Real"  # longer names are other macros


def test_unsupported_and_delimited_definitions_left_alone() -> None:
    t = MacroTable()
    t.add_definitions(r"\def\prd#1{\@ifnextchar\bgroup{A}{B}} \def\dl#1.{x} \newcommand{\bad}[x]{y}")
    assert "prd" in t.unsupported and "dl" in t.unsupported and "bad" in t.unsupported
    assert t.expand(r"\prd{a}") == r"\prd{a}"


def test_runaway_macro_expansion_stops() -> None:
    t = MacroTable()
    t.add_definitions(r"\def\a{x\a} \def\b{\b\b}")
    with pytest.raises(MacroExpansionError, match="rounds|grew"):
        t.expand(r"\a")
    with pytest.raises(MacroExpansionError):
        t.expand(r"\b")


# ---- scanning ------------------------------------------------------------------------


def test_scan_finds_every_display_form_and_ignores_inline() -> None:
    text = (
        r"Text $a$ and \(b\) and \$5. $$x=1$$ then \[y=2\] and"
        "\n\\begin{align*} a &= b \\\\[2pt] c &= d \\end{align*}\n"
        r"\begin{alignat}{2} x &= y \end{alignat} \begin{equation}\begin{split}s\end{split}\end{equation}"
        "\n\\verb|$$not math$$| \\begin{verbatim}\n$$ also not $$\n\\end{verbatim}\n"
        r"$a$$b$ \begin{tikzcd} A \arrow[r] & B \end{tikzcd} $$\xymatrix{A \ar[r] & B}$$"
    )
    res = scan(text)
    envs = [d.env for d in res.displays]
    assert envs == ["$$", "\\[", "align*", "alignat", "equation", "tikzcd", "$$"]
    assert [d.diagram for d in res.displays] == [False] * 5 + [True, True]
    assert text[res.displays[2].body_start : res.displays[2].body_end].strip().startswith("a &= b")
    assert not res.problems


def test_scan_reports_unbalanced_and_resyncs() -> None:
    text = (
        "\\begin{equation} a = b\n\n\\begin{align} c \\end{align}\n\n$$ open\n\nnext $$ok$$\n\\[ never closed"
    )
    res = scan(text)
    assert [d.env for d in res.displays if not d.broken] == ["align", "$$"]
    assert [d.env for d in res.displays if d.broken] == ["equation", "$$", "\\["]
    reasons = " ".join(r for _, r in res.problems)
    assert "\\begin{equation}" in reasons and "$$" in reasons and "\\[" in reasons


# ---- archives ------------------------------------------------------------------------


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    return ti


def test_archive_attacks_refused_in_memory(tmp_path: Path) -> None:
    paper = b"\\documentclass{article}\\begin{document}\nHi\n\\end{document}\n"
    data = _tar(
        [
            (_info("paper.tex"), paper),
            (_info("/etc/passwd"), b"x"),
            (_info("../escape.tex"), b"x"),
            (_info("sub/../../escape2.tex"), b"x"),
            (_info("link.tex", tarfile.SYMTYPE, "/etc/passwd"), None),
            (_info("hard.tex", tarfile.LNKTYPE, "paper.tex"), None),
            (_info("dev", tarfile.CHRTYPE), None),
            (_info("fifo", tarfile.FIFOTYPE), None),
            (_info("big.tex"), b"y" * 5000),
        ]
    )
    arc = tmp_path / "2401.00001.tar.gz"
    arc.write_bytes(data)
    before = set(os.listdir(tmp_path))
    contents = read_archive(arc, max_member_bytes=4096)
    assert set(contents.files) == {"paper.tex"}
    refused = dict(contents.refused)
    assert set(refused) == {
        "/etc/passwd",
        "../escape.tex",
        "sub/../../escape2.tex",
        "link.tex",
        "hard.tex",
        "dev",
        "fifo",
        "big.tex",
    }
    assert "cap" in refused["big.tex"] and "link" in refused["link.tex"]
    assert set(os.listdir(tmp_path)) == before  # nothing extracted to disk
    assert not (tmp_path.parent / "escape.tex").exists()


def test_archive_total_cap(tmp_path: Path) -> None:
    arc = tmp_path / "many.tar"
    arc.write_bytes(_tar([(_info(f"f{i}.tex"), b"z" * 3000) for i in range(3)]))
    with pytest.raises(ArchiveError, match="total"):
        read_archive(arc, max_member_bytes=4000, max_total_bytes=7000)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_archive_reads_plain_and_each_compression(tmp_path: Path, mode: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        info = _info("paper/main.tex")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"$$x$$"))
    arc = tmp_path / "bundle.tar"
    arc.write_bytes(buf.getvalue())
    assert read_archive(arc).files == {"paper/main.tex": b"$$x$$"}


def test_archive_single_gz_and_corrupt(tmp_path: Path) -> None:
    gz = tmp_path / "2401.00002.gz"
    gz.write_bytes(gzip.compress(b"\\documentclass{article}\n\\begin{document}\n$$x$$\n\\end{document}\n"))
    assert list(read_archive(gz).files) == ["2401.00002.tex"]
    bomb = tmp_path / "bomb.gz"
    # mtime 115 and 370: the gzip stream's first 512 bytes pass tarfile's header checksum, so
    # tarfile's "r:*" read it as a plain tar holding one junk member (a CI failure, 1 run in ~255).
    for mtime in (0, 115, 370):
        bomb.write_bytes(gzip.compress(b"0" * 2_000_000, mtime=mtime))
        with pytest.raises(ArchiveError, match="cap"):
            read_archive(bomb, max_member_bytes=1000)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive at all")
    with pytest.raises(ArchiveError):
        read_archive(bad)


# ---- documents -----------------------------------------------------------------------


def test_main_file_detection_excludes_included_drivers() -> None:
    fs = _fs(
        {
            "preamble.tex": "\\documentclass{amsart}\n\\newcommand{\\R}{\\mathbb{R}}\n",
            "algebra.tex": "\\input{preamble}\n\\begin{document}\nA\n\\end{document}\n",
            "topology.tex": "\\input{preamble}\n\\begin{document}\nT\n\\end{document}\n",
            "book.tex": "\\documentclass{book}\n\\begin{document}\n\\include{ch}\n\\end{document}\n",
            "ch.tex": "\\documentclass[book]{subfiles}\n\\begin{document}\nC\n\\end{document}\n",
            "notes.tex": "% \\documentclass{article} only in a comment\nloose\n",
            "hott-online.tex": "\\def\\OPTonline{}\n\\input{book-main}\n",
            "book-main.tex": "\\documentclass{book}\n\\begin{document}\nB\n\\end{document}\n",
        }
    )
    mains, errors = find_main_files(fs)
    assert mains == ["algebra.tex", "book.tex", "hott-online.tex", "topology.tex"]
    assert not errors


def test_load_document_from_archive_uses_macros(tmp_path: Path) -> None:
    main = (
        b"\\documentclass{article}\n\\usepackage{mymacros}\n\\begin{document}\n"
        b"Text before the formula.\n\\begin{equation}\\label{eq:1} \\RR^n \\end{equation}\n\\end{document}\n"
    )
    data = _tar(
        [(_info("paper/main.tex"), main), (_info("paper/mymacros.sty"), b"\\newcommand{\\RR}{\\mathbb{R}}\n")]
    )
    arc = tmp_path / "p.tar.gz"
    arc.write_bytes(data)
    specs, _ = discover(str(arc), arc)
    doc = load_document(specs[0])
    assert doc.macros.expand(r"\RR") == r"\mathbb{R}"
    assert doc.flat.text[doc.body_start :].lstrip().startswith("Text before")
    assert len(doc.sha256) == 64


def test_load_document_tree_spec(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}\nx\n\\end{document}\n"
    )
    doc = load_document(LatexDocSpec("d/main.tex", "s", "tree", str(tmp_path / "d"), "main.tex"))
    assert "x" in doc.flat.text[doc.body_start :]


# ---- robustness: arbitrary input never crashes the reader ------------------------------

from hypothesis import given, settings
from hypothesis import strategies as st

_PIECES = st.sampled_from(
    [
        "$",
        "$$",
        "\\[",
        "\\]",
        "\\(",
        "\\)",
        "{",
        "}",
        "%",
        "\\%",
        "\\\\",
        "\n",
        "\n\n",
        "x",
        " = ",
        "\\begin{align}",
        "\\end{align}",
        "\\begin{equation*}",
        "\\end{equation*}",
        "\\verb|",
        "|",
        "\\iffalse",
        "\\fi",
        "\\else",
        "\\input{a}",
        "\\R",
        "\\section{S}",
        "\\begin{comment}",
        "\\end{comment}",
        "#1",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=60))
def test_scan_and_flatten_never_crash(pieces: list[str]) -> None:
    text = "".join(pieces)
    res = scan(text)
    for d in res.displays:
        assert 0 <= d.start <= d.body_start <= d.body_end <= d.end <= len(text)
    starts = [d.start for d in res.displays]
    assert starts == sorted(starts)
    fl = flatten(_fs({"main.tex": text, "a.tex": text}), "main.tex")
    for off in range(0, len(fl.flat.text), 7):
        assert fl.flat.locate(off)[0] in ("main.tex", "a.tex")
    t = MacroTable()
    t.add_definitions(text + r"\newcommand{\R}{\mathbb{R}}")
    try:
        t.expand(text)
    except MacroExpansionError:
        pass
