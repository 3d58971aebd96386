"""Benchmark the datatrove engine on a synthetic arXiv bulk tar (issue 21).

The tar is made from ``../shared/data/latex``: every LaTeX document of every project (a
Stacks chapter, an Open Logic chapter, ...) becomes one paper, a gzipped bundle of its main
file, the files it includes and the project's .sty/.cls files, named like an arXiv paper
(``2401.00001.gz``). The same members are also written as a folder of ``.gz`` files, which
is how today's builder reads papers. Then, each run in its own process so CPU time and peak
memory are its own:

1. ``old``: ``build_dataset`` (today's builder, 1 worker) on the folder;
2. ``engine``: ``build_at_scale`` on the bulk tar, local executor, 1 task, 1 worker, MinHash off
   (the same work as 1, through datatrove);
3. ``engine+minhash``: the same with MinHash near-duplicate removal (default of engine builds).

The machine is shared, so throughput is per CPU-second of the process (user + sys, children
included) and wall time is only for reference; the load average is printed.

    nice -n 5 env PYTHONPATH=src:tests /work/main/.venv/bin/python bench/bench_arxiv_bulk.py [--papers N]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from shared_data import shared_latex_or_exit

RUNS = {
    "old": "from formulaforge.datasets.builder import BuildConfig, build_dataset\n"
    "build_dataset([SRC_DIR], OUT, BuildConfig(workers=1))",
    "engine": "from formulaforge.datasets.builder import BuildConfig\n"
    "from formulaforge.datasets.scale.engine import EngineConfig, build_at_scale\n"
    "build_at_scale([SRC_BULK], OUT, BuildConfig(workers=1), EngineConfig(tasks=1, workers=1, near_dup='off'))",
    "engine+minhash": "from formulaforge.datasets.builder import BuildConfig\n"
    "from formulaforge.datasets.scale.engine import EngineConfig, build_at_scale\n"
    "build_at_scale([SRC_BULK], OUT, BuildConfig(workers=1), EngineConfig(tasks=1, workers=1))",
}




def paper_bundles(latex: Path, limit: int) -> list[bytes]:
    """One gzipped tar bundle per LaTeX document of every project (sorted, deterministic)."""
    from formulaforge.sources.fileset import FileSet
    from formulaforge.sources.latex_docs import find_main_files
    from formulaforge.sources.latex_flatten import flatten

    out: list[bytes] = []
    for project in sorted(p for p in latex.iterdir() if p.is_dir()):
        fs = FileSet.from_dir(project)
        mains, _ = find_main_files(fs)
        packages = [n for n in fs.names if n.endswith((".sty", ".cls"))]
        for main in mains:
            try:
                included = flatten(fs, main).included
            except Exception:  # noqa: BLE001, S112 - a document the reader refuses is not a paper here
                continue
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for name in sorted(set(included) | set(packages)):
                    data = fs.read_bytes(name)
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            out.append(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))
            if len(out) >= limit:
                return out
    return out


def run(kind: str, src_dir: Path, bulk: Path, out: Path) -> dict[str, float]:
    code = RUNS[kind].replace("SRC_DIR", repr(str(src_dir))).replace("SRC_BULK", repr(str(bulk)))
    code = code.replace("OUT", repr(str(out))) + "\n" + REPORT
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    usage = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"cpu_s": round(usage["cpu_s"], 2), "wall_s": round(wall, 2), "peak_rss_mb": usage["rss_mb"]}


# The run's own process does the work (1 worker, 1 task: datatrove runs the task in-process);
# its CPU time includes reaped children (datatrove's multiprocess manager).
REPORT = """
import json, resource
s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu_s": s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, "rss_mb": round(s.ru_maxrss / 1024)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=400, help="at most this many papers (default: all, ~210)")
    ap.add_argument("--latex", type=Path, default=None)
    args = ap.parse_args()
    latex = args.latex or shared_latex_or_exit()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core machine shared with other jobs)")
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        root = Path(tmp)
        bundles = paper_bundles(latex, args.papers)
        folder, bulk = root / "papers", root / "bulk"
        folder.mkdir()
        bulk.mkdir()
        with tarfile.open(bulk / "arXiv_src_2401_001.tar", "w") as tar:
            for i, data in enumerate(bundles, 1):
                name = f"2401.{i:05d}.gz"
                (folder / name).write_bytes(data)
                info = tarfile.TarInfo(f"2401/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        size = (bulk / "arXiv_src_2401_001.tar").stat().st_size
        print(f"synthetic bulk tar: {len(bundles)} papers, {size / 1e6:.1f} MB (gzipped bundles)")
        results = {}
        for kind in RUNS:
            results[kind] = run(kind, folder, bulk, root / kind)
            print(f"  {kind}: {results[kind]}  load {os.getloadavg()[0]:.2f}")
        manifests = {k: json.loads((root / k / "manifest.json").read_text()) for k in RUNS}
        same = _content(root / "old") == _content(root / "engine")
        print(f"engine triplets identical to the old builder's (content fields): {same}")
        m = manifests["engine"]["counts"]
        n, formulas, triplets = len(bundles), m["display_formulas_seen"], m["triplets"]
        print(f"papers {n}, display formulas {formulas}, triplets {triplets}")
        print(
            "| run | CPU s | wall s | papers/s per core | formulas/s per core | peak RSS per worker | triplets |"
        )
        print("|---|---|---|---|---|---|---|")
        for kind, r in results.items():
            print(
                f"| {kind} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {n / r['cpu_s']:.2f} | "
                f"{formulas / r['cpu_s']:.0f} | {r['peak_rss_mb']:.0f} MB | {manifests[kind]['counts']['triplets']} |"
            )
        ratio = results["old"]["cpu_s"] / results["engine"]["cpu_s"]
        print(f"engine vs today's builder (papers per CPU-second): {ratio:.2f}x (target >= 0.9x)")
        nd = manifests["engine+minhash"]["near_duplicates"]
        print(
            f"MinHash removed {nd['removed']} of {nd['triplets_in']} triplets ({100 * nd['share_removed']:.2f} %)"
        )
        rate = n / results["engine+minhash"]["cpu_s"]
        print(
            f"extrapolation: 2.5 M papers at {rate:.2f} papers/s per core = {2.5e6 / rate / 3600:,.0f} core-hours"
        )
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


def _content(out: Path) -> list[tuple[str, ...]]:
    keys = ("formula", "context_before", "context_after", "env", "source_file", "offsets")
    rows = [json.loads(line) for line in (out / "triplets.jsonl").read_text().splitlines()]
    return [tuple(json.dumps(r[k], sort_keys=True) for k in keys) for r in rows]


if __name__ == "__main__":
    main()
