"""Issue 17, items 4(a) and 10: archive headers are bounded before tarfile reads them, corrupt deflate
streams are one clear line, and a worker that runs out of memory reports the document and goes on.
The hostile archives are built in the test (a few hundred KB at most)."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
import zlib
from pathlib import Path

import pytest

from formulaforge.sources.archive import MAX_HEADER_BYTES, ArchiveError, read_archive

TEX = b"\\documentclass{article}\\begin{document}Hello $x$.\\end{document}\n"


def _header(name: str, size: int, typeflag: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = typeflag
    return info.tobuf(format=tarfile.USTAR_FORMAT if typeflag != tarfile.GNUTYPE_LONGNAME else tarfile.GNU_FORMAT)


def long_header_bomb(path: Path, typeflag: bytes, claimed: int, actual: int) -> Path:
    """A tar.gz whose first header claims ``claimed`` bytes of pax / long-name data, ``actual`` of them present
    (zeros: a few hundred bytes compressed per megabyte)."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container
    parts = [comp.compress(_header("././@PaxHeader" if typeflag != tarfile.GNUTYPE_LONGNAME else "././@LongLink",
                                   claimed, typeflag))]
    chunk = bytes(1 << 20)
    left = actual
    while left > 0:
        parts.append(comp.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    parts.append(comp.flush())
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("typeflag", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.XGLTYPE])
def test_oversized_extended_headers_are_refused_without_reading_them(tmp_path: Path, typeflag: bytes) -> None:
    bomb = long_header_bomb(tmp_path / "bomb.tar.gz", typeflag, claimed=3 * 1024**3, actual=48 * 1024**2)
    assert bomb.stat().st_size < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"bomb.tar.gz: refused: a 3221225472-byte extended header"):
            read_archive(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2  # before: tarfile read all 48 MiB present (and would read 3 GB) into memory


def test_normal_long_names_still_read(tmp_path: Path) -> None:
    buf = io.BytesIO()
    long_name = "d/" + "x" * 300 + ".tex"
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(long_name)
        info.size = len(TEX)
        info.pax_headers = {"comment": "c" * 5000}
        tar.addfile(info, io.BytesIO(TEX))
    (tmp_path / "ok.tar.gz").write_bytes(buf.getvalue())
    assert read_archive(tmp_path / "ok.tar.gz").files == {long_name: TEX}
    assert MAX_HEADER_BYTES >= 64 * 1024


def test_corrupt_deflate_stream_is_one_clear_line(tmp_path: Path) -> None:
    good = gzip.compress(TEX * 200)
    bad = bytearray(good)
    for i in range(20, len(bad) - 8, 7):
        bad[i] ^= 0x5A
    (tmp_path / "paper.gz").write_bytes(bytes(bad))
    with pytest.raises(ArchiveError, match="paper.gz: corrupt"):
        read_archive(tmp_path / "paper.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("main.tex")
        info.size = len(TEX * 300)
        tar.addfile(info, io.BytesIO(TEX * 300))
    bad = bytearray(buf.getvalue())
    for i in range(30, len(bad) - 8, 5):
        bad[i] ^= 0xA5
    (tmp_path / "paper.tar.gz").write_bytes(bytes(bad))
    with pytest.raises(ArchiveError, match="paper.tar.gz: (corrupt|neither)"):
        read_archive(tmp_path / "paper.tar.gz")


def test_build_reports_a_corrupt_archive_not_an_internal_error(tmp_path: Path) -> None:
    from formulaforge.datasets.builder import process_document
    from formulaforge.datasets.extract import Settings
    from formulaforge.sources.latex_docs import discover

    bad = bytearray(gzip.compress(TEX * 200))
    for i in range(20, len(bad) - 8, 7):
        bad[i] ^= 0x5A
    (tmp_path / "paper.gz").write_bytes(bytes(bad))
    specs, _ = discover("x", tmp_path / "paper.gz")
    res = process_document(specs[0], Settings(), None)
    assert res.skipped and "corrupt" in res.skipped and "internal error" not in res.skipped


def test_worker_out_of_memory_reports_the_document_and_moves_on(tmp_path: Path, monkeypatch) -> None:
    from formulaforge.datasets import builder
    from formulaforge.datasets.builder import BuildConfig, build_dataset
    from formulaforge.sources import latex_docs

    for name in ("a", "b"):
        (tmp_path / "src" / name).mkdir(parents=True)
        body = " ".join(["word"] * 40)
        (tmp_path / "src" / name / "main.tex").write_text(
            f"\\documentclass{{article}}\\begin{{document}}\n{body}\n\\begin{{equation}}x_{name} = 1\\end{{equation}}\n"
            f"{body}\n\\end{{document}}\n")
    real = latex_docs.load_document

    def load(spec):
        if spec.main.startswith("a/"):
            raise MemoryError
        return real(spec)

    monkeypatch.setattr(builder.latex_docs, "load_document", load)
    report = build_dataset([str(tmp_path / "src")], tmp_path / "out", BuildConfig(min_context_tokens=1, write_hf=False))
    skipped = [e for e in report.manifest["errors"] if e.get("skipped") == "document"]
    assert len(skipped) == 1 and "out of memory" in skipped[0]["reason"] and skipped[0]["doc_id"].endswith("a/main.tex")
    assert report.manifest["counts"]["triplets"] >= 1
