"""Stage II in ``paper`` vs ``residual`` mode on a tiny run: which starts and ends better.

A tiny random Llama (hidden 64) with an in-memory tokenizer is trained through the real
recipe: stage I on a context -> formula task, then stage II from the same stage-I run in
each mode, on a related task, for the same number of steps and seeds. Reports the
validation loss when stage II starts (before any step) and when it ends.

    PYTHONPATH=src nice -n 10 python bench/ablation_msft_mode.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

NAMES = "abcdxyzmnpqrt"


def make_data(root: Path, seed: int, n_train: int = 48, n_valid: int = 16) -> None:
    from formulaforge.utils.jsonl import write_jsonl

    rng = random.Random(seed)

    def stage1() -> dict[str, str]:
        a, b = rng.sample(NAMES, 2)
        op, word = rng.choice([("+", "sum"), ("-", "difference"), ("*", "product")])
        return {"input": f"Let {a} and {b} be given. Write the {word}.", "label": f"${a} {op} {b}$"}

    def stage2() -> dict[str, str]:
        a, b, c = rng.sample(NAMES, 3)
        op, word = rng.choice([("+", "sum"), ("-", "difference")])
        return {"input": f"Given ${a} {op} {b}$, add {c}.", "label": f"${a} {op} {b} + {c}$"}

    for stage, fn in ((1, stage1), (2, stage2)):
        for split, n in (("train", n_train), ("valid", n_valid)):
            write_jsonl(root / f"stage{stage}" / f"{split}.jsonl", [dict(fn(), id=f"{split}{i}") for i in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps1", type=int, default=60)
    ap.add_argument("--steps2", type=int, default=60)
    args = ap.parse_args()

    import torch
    from msft_helpers import CORPUS, tiny_tokenizer
    from transformers import AutoModelForCausalLM, LlamaConfig

    from formulaforge.models.loading import load_model, load_tokenizer
    from formulaforge.models.msft.config import MSFTConfig
    from formulaforge.models.msft.io import load_run
    from formulaforge.training.data import EncodedDataset, PadCollator, load_split
    from formulaforge.training.recipe import TrainSettings, train_stage

    CORPUS.extend(["Let a and b be given. Write the sum difference product.", "Given $x + y$, add z.",
                   "abcdxyzmnpqrt +-*$"])
    torch.set_num_threads(1)
    results: dict[str, list[tuple[float, float]]] = {"paper": [], "residual": []}
    stage1_loss = []
    for seed in range(args.seeds):
        tmp = Path(tempfile.mkdtemp(prefix="msft_mode_"))
        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                          pad_token_id=0, eos_token_id=1, bos_token_id=2)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp / "base")
        tiny_tokenizer(128).save_pretrained(tmp / "base")
        make_data(tmp / "stages", seed)
        msft = dict(r1=8, alpha=16, r2=64, r3=8, dropout=0.0)
        common = dict(model=str(tmp / "base"), data=tmp / "stages", batch_size=8, report_to=[], logging_steps=1000,
                      seed=seed, lr=1e-3)
        r1 = train_stage(TrainSettings(stage=1, out=tmp / "run1", max_steps=args.steps1, msft=MSFTConfig(**msft),
                                       **common), progress=lambda *_: None)
        stage1_loss.append(r1["metrics"]["eval_loss"])
        for mode in ("paper", "residual"):
            # loss at the start of stage II: stage I + a freshly initialised D-plugin
            model = load_model(str(tmp / "base"))
            tok = load_tokenizer(str(tmp / "base"))
            adapter = load_run(model, tmp / "run1", config=MSFTConfig(**msft, mode=mode))
            torch.manual_seed(seed)
            adapter.add_stage(2)
            ds = EncodedDataset(load_split(tmp / "stages", 2, "valid"), tok)
            batch = PadCollator(tok.pad_token_id)([ds[i] for i in range(len(ds))])
            with torch.no_grad():
                start = model(**batch).loss.item()
            out = train_stage(TrainSettings(stage=2, out=tmp / f"run2-{mode}", from_run=tmp / "run1", mode=mode,
                                            max_steps=args.steps2, msft=MSFTConfig(**msft), **common),
                              progress=lambda *_: None)
            results[mode].append((start, out["metrics"]["eval_loss"]))
            print(f"seed {seed} {mode:<9} stage-II valid loss start {start:.4f} end {out['metrics']['eval_loss']:.4f}",
                  flush=True)
    print(f"\nstage I valid loss (own task): mean {statistics.mean(stage1_loss):.4f}")
    print(f"{'mode':<10}{'start mean':>12}{'end mean':>10}{'end sd':>8}")
    for mode, rows in results.items():
        ends = [e for _, e in rows]
        sd = statistics.stdev(ends) if len(ends) > 1 else 0.0
        print(f"{mode:<10}{statistics.mean(s for s, _ in rows):>12.4f}{statistics.mean(ends):>10.4f}{sd:>8.4f}")


if __name__ == "__main__":
    main()
