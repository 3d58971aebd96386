"""How often the input limit cuts a stage-I prompt, and what is cut (issue 18, item 5).

For the stage-I records of a STAGES_DIR and a tokenizer: the share of prompts longer than
``--max-input`` tokens; with the old rule (keep the last N tokens) the share whose chat header /
instruction was lost; with :func:`fit_prompt` the share that still fit within the limit and the
share that kept the instruction (must be 100 %).

    nice -n 5 python bench/bench_prompts.py STAGES_DIR [--model smollm2-135m] [--max-input 512] [--split test]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from formulaforge.datasets.prompts import count_tokens, fit_prompt, render_prompt
from formulaforge.datasets.stage_templates import StageTemplates
from formulaforge.models.loading import load_tokenizer, resolve_model
from formulaforge.utils.jsonl import read_jsonl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", type=Path)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--max-input", type=int, nargs="+", default=[512])
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    tok = load_tokenizer(resolve_model(args.model))
    records = list(read_jsonl(args.stages / "stage1" / f"{args.split}.jsonl"))[: args.limit]
    instruction = StageTemplates().stage1.split("{context_before}")[0].strip()
    out = {"records": len(records), "model": args.model}
    for limit in args.max_input:
        over = old_lost = new_fit = new_kept = 0
        for rec in records:
            full = render_prompt(rec["input"], tok)
            ids = tok(full, add_special_tokens=False)["input_ids"]
            if len(ids) <= limit:
                continue
            over += 1
            old_lost += instruction not in tok.decode(ids[-limit:])
            fitted = fit_prompt(rec["input"], tok, limit, rec.get("context_spans"))
            new_fit += count_tokens(fitted, tok) <= limit
            new_kept += instruction in fitted and fitted.endswith(full[-20:])
        out[str(limit)] = {"over_limit": over, "over_limit_share": round(over / len(records), 4),
                           "old_rule_lost_instruction": old_lost, "fit_prompt_within_limit": new_fit,
                           "fit_prompt_kept_instruction_and_template": new_kept}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
