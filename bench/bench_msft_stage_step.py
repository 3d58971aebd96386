"""Per-optimizer-step time of MSFT stage training on real stage data (sizes the CPU experiment).

Loads the model once, builds stage I / II / III adapters in turn (paper mode, r 64/512/32 unless
given), and times ``--steps`` AdamW steps on real batches of ``STAGES_DIR/stageN/train.jsonl``
encoded exactly as training encodes them (fit_prompt, ``--max-input`` / ``--max-output``).
Reports the median wall and CPU (process) seconds per step and the load average, because
the machine this runs on may be shared.

    nice -n 5 python bench/bench_msft_stage_step.py STAGES_DIR [--model smollm2-135m] [--batch 4]
        [--max-input 256] [--max-output 96] [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stages", type=Path)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-input", type=int, default=256)
    ap.add_argument("--max-output", type=int, default=96)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--r2", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from formulaforge.models.loading import load_model, load_tokenizer, resolve_model
    from formulaforge.models.msft import MSFTAdapter, MSFTConfig
    from formulaforge.training.data import EncodedDataset, PadCollator, load_split

    src = resolve_model(args.model)
    model, tok = load_model(src), load_tokenizer(src)
    adapter = MSFTAdapter.inject(model, MSFTConfig(mode="paper", r2=args.r2))
    collate = PadCollator(tok.pad_token_id)
    out: dict[str, object] = {"model": args.model, "batch": args.batch, "max_input": args.max_input,
                              "max_output": args.max_output, "threads": args.threads,
                              "load_before": os.getloadavg()}
    for stage in (1, 2, 3):
        if stage > 1:
            adapter.add_stage(stage)
        adapter.set_trainable([stage])
        records = load_split(args.stages, stage, "train")[: args.batch * (args.steps + 1)]
        ds = EncodedDataset(records, tok, args.max_input, args.max_output)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train()
        walls, cpus, tokens = [], [], []
        for i in range(args.steps + 1):
            batch = collate([ds[j] for j in range(i * args.batch, (i + 1) * args.batch)])
            t0, c0 = time.perf_counter(), time.process_time()
            loss = model(**batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            if i:  # the first step warms up
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                tokens.append(int(batch["attention_mask"].sum()))
        out[f"stage{stage}"] = {"wall_s": round(statistics.median(walls), 2), "cpu_s": round(statistics.median(cpus), 2),
                                "tokens_per_batch": round(statistics.mean(tokens))}
        print(json.dumps({f"stage{stage}": out[f"stage{stage}"], "load": os.getloadavg()}), flush=True)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
