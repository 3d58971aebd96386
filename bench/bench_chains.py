"""Stage-III chain statistics on the shared LaTeX corpus (issue 18, item 4).

Builds the triplets of the shared corpus (or reads a triplet dataset given with
``--triplets``), then the stage sets with the default ``max_chain`` (16), and reports pairs
per formula, the share of labels that contain their input (target >= 95 %), formulas without
a pair and the distribution of chain lengths.

    nice -n 5 python bench/bench_chains.py [--triplets DIR] [--max-chain 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from shared_data import shared_latex_dir

from formulaforge.datasets.stages import StageOptions, build_stages, read_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triplets", type=Path, help="a triplet dataset (DIR/triplets.jsonl); default: build one")
    ap.add_argument("--max-chain", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        triplets = args.triplets
        if triplets is None:
            latex = shared_latex_dir()
            if latex is None:
                print("skipped: no shared LaTeX data found (../shared/data/latex)")
                sys.exit(0)
            from formulaforge.datasets.builder import BuildConfig, build_dataset

            build_dataset([str(latex)], Path(tmp) / "data", BuildConfig())
            triplets = Path(tmp) / "data"
        t0, c0 = time.perf_counter(), time.process_time()
        manifest = build_stages(triplets, Path(tmp) / "stages", StageOptions(max_chain=args.max_chain))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = Counter()
        examples = []
        for split in ("train", "valid", "test"):
            for rec in read_stage(Path(tmp) / "stages", 3, split):
                if rec["step"] == rec["steps"]:
                    steps[rec["steps"]] += 1
                    if len(examples) < 3 and rec["steps"] >= 4:
                        examples.append(rec["label"])
    s3 = manifest["stage3"]
    formulas = sum(manifest["formulas"].values())
    lengths = [k for k, v in steps.items() for _ in range(v)]
    print(json.dumps({
        "formulas": formulas,
        "stage3_pairs": sum(manifest["counts"]["stage3"].values()),
        "pairs_per_formula": s3["pairs_per_formula"],
        "label_contains_input": s3["label_contains_input"],
        "formulas_without_pairs": s3["formulas_without_pairs"],
        "pairs_per_formula_with_pairs": {"median": statistics.median(lengths) if lengths else 0,
                                         "p90": sorted(lengths)[int(0.9 * len(lengths))] if lengths else 0,
                                         "at_max_chain": steps.get(args.max_chain - 1, 0)},
        "stage_build_s": {"wall": round(wall, 1), "cpu": round(cpu, 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
