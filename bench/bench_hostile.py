"""Issue 17: hostile inputs -> outcome, with the time and peak memory of each (docs/benchmarks.md).

Every input is generated here, in a temporary folder, and each case runs in a fresh Python
process so its peak RSS (``ru_maxrss``) is its own; the baseline RSS of that process just
before the case is reported next to it. One case runs plain ``tarfile`` on the same pax bomb
as the comparison (what the reader did before it bounded header sizes). Writing the input is not timed; the RSS "before" is taken
after it, so a peak above it belongs to the case (``ru_maxrss`` is a high-water mark).

    PYTHONPATH=src python bench/bench_hostile.py            # all cases, a Markdown table
    PYTHONPATH=src python bench/bench_hostile.py --case pax_3gb
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

PRESENT = 256 * 1024 * 1024  # bytes of the claimed 3 GB header actually present (zeros, ~250 KB gzipped)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _header_bomb(path: Path, typeflag: bytes) -> Path:
    info = tarfile.TarInfo("././@PaxHeader" if typeflag != tarfile.GNUTYPE_LONGNAME else "././@LongLink")
    info.size, info.type = 3 * 1024**3, typeflag
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    fmt = tarfile.GNU_FORMAT if typeflag == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT
    parts, chunk = [comp.compress(info.tobuf(format=fmt))], bytes(1 << 20)
    for _ in range(PRESENT // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    path.write_bytes(b"".join(parts))
    return path


def _expect(fn: Callable[[], object], exc: type[BaseException]) -> Callable[[], str]:
    """The act to measure: run ``fn``, which must raise ``exc``; return the outcome line."""

    def act() -> str:
        try:
            fn()
        except exc as e:
            text = " / ".join(line.strip() for line in str(e).splitlines())  # recipe errors: a problem a line
            return f"clear error: {text[:110]}"
        raise AssertionError("no error raised")

    return act


def case_pax_3gb(tmp: Path) -> Callable[[], str]:
    from formulaforge.sources.archive import ArchiveError, read_archive

    bomb = _header_bomb(tmp / "pax.tar.gz", tarfile.XHDTYPE)
    return _expect(lambda: read_archive(bomb), ArchiveError)


def case_gnu_longname_3gb(tmp: Path) -> Callable[[], str]:
    from formulaforge.sources.archive import ArchiveError, read_archive

    bomb = _header_bomb(tmp / "long.tar.gz", tarfile.GNUTYPE_LONGNAME)
    return _expect(lambda: read_archive(bomb), ArchiveError)


def case_pax_3gb_plain_tarfile(tmp: Path) -> Callable[[], str]:
    """The comparison: the standard library on the same bomb reads the present 256 MiB whole."""
    bomb = _header_bomb(tmp / "pax.tar.gz", tarfile.XHDTYPE)

    def act() -> str:
        try:
            with tarfile.open(bomb, "r:*") as tar:
                tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            return f"comparison, plain tarfile: {type(exc).__name__} only after reading the header whole"
        return "comparison, plain tarfile: read"

    return act


def case_corrupt_deflate(tmp: Path) -> Callable[[], str]:
    import gzip

    from formulaforge.sources.archive import ArchiveError, read_archive

    bad = bytearray(gzip.compress(b"\\documentclass{article}\n" * 5000))
    for i in range(20, len(bad) - 8, 7):
        bad[i] ^= 0x5A
    (tmp / "paper.gz").write_bytes(bytes(bad))
    return _expect(lambda: read_archive(tmp / "paper.gz"), ArchiveError)


def _flatten_outcome(res: object) -> str:
    errors = res.errors  # type: ignore[attr-defined]
    return f"bounded: {len(errors)} problems listed ({errors[-1][1]})"


def case_include_fanout_2_21(tmp: Path) -> Callable[[], str]:
    from formulaforge.sources.fileset import FileSet
    from formulaforge.sources.latex_flatten import flatten

    for i in range(21):
        (tmp / f"f{i}.tex").write_text(f"text {i}\n\\input{{f{i + 1}}} \\input{{f{i + 1}}}\n")
    (tmp / "f21.tex").write_text("leaf\n")
    (tmp / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\input{f0}\n\\end{document}\n")
    return lambda: _flatten_outcome(flatten(FileSet.from_dir(tmp), "main.tex"))


def case_missing_includes_20k(tmp: Path) -> Callable[[], str]:
    from formulaforge.sources.fileset import FileSet
    from formulaforge.sources.latex_flatten import flatten

    body = "\n".join(f"\\input{{missing{i}}}" for i in range(20_000))
    (tmp / "main.tex").write_text(f"\\documentclass{{article}}\n\\begin{{document}}\n{body}\n\\end{{document}}\n")
    return lambda: _flatten_outcome(flatten(FileSet.from_dir(tmp), "main.tex"))


def case_single_tex_in_a_big_tree(tmp: Path) -> Callable[[], str]:
    from formulaforge.sources import latex_docs

    for i in range(3000):
        d = tmp / "other" / f"p{i % 50}" / f"deep{i}"
        d.mkdir(parents=True)
        (d / "notes.tex").write_text("UNRELATED\n")
    (tmp / "paper.tex").write_text("\\documentclass{article}\n\\begin{document}\nHi\n\\input{notes}\n\\end{document}\n")
    def act() -> str:
        specs, _ = latex_docs.discover("x", tmp / "paper.tex")
        doc = latex_docs.load_document(specs[0])
        assert "UNRELATED" not in doc.flat.text
        return f"handled: read {len(doc.flat.files)} file(s) of 3001; 'notes' not found (listed)"

    return act


def _safetensors(tmp: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    p = tmp / "adapter_model.safetensors"
    save_file({"a": torch.ones(256, 256)}, str(p))
    return p


def case_safetensors_huge_header(tmp: Path) -> Callable[[], str]:
    from formulaforge.models.weights import WeightsError, load_safetensors

    p = tmp / "w.safetensors"
    p.write_bytes(struct.pack("<Q", 3 * 1024**3) + b"{}")
    return _expect(lambda: load_safetensors(p), WeightsError)


def case_safetensors_truncated(tmp: Path) -> Callable[[], str]:
    from formulaforge.models.weights import WeightsError, load_safetensors

    p = _safetensors(tmp)
    p.write_bytes(p.read_bytes()[:1000])
    return _expect(lambda: load_safetensors(p), WeightsError)


def case_safetensors_nan(tmp: Path) -> Callable[[], str]:
    import torch
    from safetensors.torch import save_file

    from formulaforge.models.weights import WeightsError, load_safetensors

    p = tmp / "plugin.safetensors"
    save_file({"layer.D_up": torch.full((64, 64), float("nan"))}, str(p))
    return _expect(lambda: load_safetensors(p), WeightsError)


def case_surrogate_report(tmp: Path) -> Callable[[], str]:
    from formulaforge.utils.jsonl import read_jsonl, write_jsonl

    rows = [{"id": i, "output": f"\\boxed{{{i}\ud800}}"} for i in range(20_000)]

    def act() -> str:
        write_jsonl(tmp / "r.jsonl", rows)
        assert list(read_jsonl(tmp / "r.jsonl")) == rows
        return "handled: 20,000 rows with lone surrogates written as JSON escapes, read back equal"

    return act


def case_deep_yaml(tmp: Path) -> Callable[[], str]:
    from formulaforge.utils.config_text import load_yaml

    text = "a: " + "[" * 100_000 + "]" * 100_000
    return _expect(lambda: load_yaml(text, "deep.yaml"), ValueError)


def case_out_template_mro(tmp: Path) -> Callable[[], str]:
    from formulaforge.pipeline.config import ConfigError, parse_config

    return _expect(lambda: parse_config({"name": "x", "out": "{name.__class__.__mro__}"}), ConfigError)


def case_foreign_out_folder(tmp: Path) -> Callable[[], str]:
    from formulaforge.utils.atomic import OutputExistsError, atomic_dir

    (tmp / "v").mkdir()
    (tmp / "v" / "thesis.tex").write_text("keep")

    def write() -> None:
        with atomic_dir(tmp / "v", "synth-dataset"):
            pass

    return _expect(write, OutputExistsError)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def run_case(name: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        import formulaforge.utils.atomic

        if name.startswith("safetensors"):
            import formulaforge.models.weights
        if name.startswith("out_template"):
            import formulaforge.pipeline.config  # noqa: F401 - pydantic
        act = CASES[name](tmp)  # writes the hostile input (not measured)
        base = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        outcome = act()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"case": name, "outcome": outcome, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "rss_before_mb": round(base, 1), "peak_rss_mb": round(_rss_mb(), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES))
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")
    print("| input | outcome | wall s | CPU s | peak RSS MB (before) |")
    print("|---|---|---:|---:|---:|")
    for name in CASES:
        res = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True,
                             check=True, env={**os.environ})
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['outcome']} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mb']} ({r['rss_before_mb']}) |")


if __name__ == "__main__":
    main()
