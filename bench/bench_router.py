"""MSFT "no side effect" check and router decisions on real prose and formula text (issue 18, item 6).

Prose: paragraphs of the shared LaTeX corpus with no math and no LaTeX commands at all, plus
docstring paragraphs of the standard library without math. Formula: corpus paragraphs with
inline math (``$...$``). The MSFT model (``--stages RUN``, or every stage inserted with random
non-zero weights, so that any leak would show) generates greedily with the router's gate per
prompt; the base model (adapter off) generates for the same prompts in the same batches. Prose
routed off must be bitwise identical (token ids) to the base model.

    nice -n 5 python bench/bench_router.py [--model smollm2-135m] [--stages RUN] [--prose 200] [--formula 50]
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import re
import resource
import sys
import time
from pathlib import Path

from shared_data import shared_latex_dir

PLAIN = re.compile(r"^[A-Za-z0-9 ,.;:'()\-?!\n]+$")




def latex_paragraphs(root: Path) -> tuple[list[str], list[str]]:
    prose, formula = [], []
    for path in sorted(root.rglob("*.tex")):
        for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            text = " ".join(para.split())
            if not 150 <= len(text) <= 600:
                continue
            if PLAIN.match(text):
                prose.append(text)
            elif re.search(r"(?<!\\)\$[^$]{2,60}\$", text) and "%" not in text:
                formula.append(text)
    return prose, formula


def docstring_paragraphs() -> list[str]:
    import collections
    import json as json_mod
    import os
    import shutil
    import textwrap

    out = []
    for module in (os, shutil, json_mod, collections, textwrap):
        for _, obj in inspect.getmembers(module):
            doc = inspect.getdoc(obj) or ""
            for para in doc.split("\n\n"):
                text = " ".join(para.split())
                if 100 <= len(text) <= 600 and PLAIN.match(text):
                    out.append(text)
    return sorted(set(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--stages", type=Path, default=None)
    ap.add_argument("--prose", type=int, default=200)
    ap.add_argument("--formula", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--decisions-only", action="store_true",
                    help="only the router's decisions on every prose and formula paragraph (no model)")
    args = ap.parse_args()
    root = shared_latex_dir()
    if root is None:
        print("skipped: no shared LaTeX data found (../shared/data/latex)")
        sys.exit(0)
    import torch

    from formulaforge.evaluation.side_effect import side_effect_check
    from formulaforge.models.inference import load_for_inference
    from formulaforge.models.msft import MSFTAdapter, MSFTConfig

    torch.set_num_threads(2)
    rng = random.Random(0)
    tex_prose, tex_formula = latex_paragraphs(root)
    docs = docstring_paragraphs()
    if args.decisions_only:
        from formulaforge.models.msft.router import route

        on = {name: sum(route(texts)) for name, texts in
              (("latex_prose", tex_prose), ("docstring_prose", docs), ("latex_formula", tex_formula))}
        print(json.dumps({"latex_prose": len(tex_prose), "docstring_prose": len(docs), "latex_formula": len(tex_formula),
                          "routed_on": on, "false_on_rate": (on["latex_prose"] + on["docstring_prose"])
                          / (len(tex_prose) + len(docs)), "false_off_rate": 1 - on["latex_formula"] / len(tex_formula)},
                         indent=1))
        return
    n_doc = min(len(docs), args.prose // 4)
    prose = rng.sample(tex_prose, args.prose - n_doc) + rng.sample(docs, n_doc)
    formula = rng.sample(tex_formula, args.formula)
    loaded = load_for_inference(args.model, stages=args.stages)
    adapter = loaded.msft
    if adapter is None:
        adapter = MSFTAdapter.inject(loaded.model, MSFTConfig(), (1, 2, 3))
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for s in adapter.stages:
                for _, p in adapter.stage_parameters(s):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    t0, c0 = time.perf_counter(), time.process_time()
    result = side_effect_check(loaded.model, loaded.tokenizer, adapter, prose, formula,
                               max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    result.update(model=loaded.description + ("" if args.stages else " + random MSFT stages I-III (r 64/512/32)"),
                  prose_from_latex=args.prose - n_doc, prose_from_docstrings=n_doc,
                  wall_s=round(time.perf_counter() - t0, 1), cpu_s=round(time.process_time() - c0, 1),
                  max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
