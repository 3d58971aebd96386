"""MSFT vs PEFT LoRA: train-step time, peak memory and generation speed, side by side.

Run from the repository root (numbers go to docs/benchmarks.md, section "Issue 4 — MSFT"):

    PYTHONPATH=src nice -n 10 python bench/bench_msft.py                 # tiny Llama + SmolLM2-135M, CPU
    PYTHONPATH=src python bench/bench_msft.py --models tiny-llama --device cuda

Variants share one base model, the same r / alpha / dropout / targets, batch and sequence:
``peft-lora`` (peft's own LoRA), ``msft-I`` (stage I training LoRA), ``msft-I+II`` (stage II
training the D-plugin), ``msft-I+II+III`` (stage III training the Q-plugin). Step times are
medians of interleaved rounds (the variants alternate, so machine load hits all alike).
Peak memory: CUDA max_memory_allocated on GPU; on CPU the growth of the peak RSS over the
loaded model, each variant in its own subprocess.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = ["peft-lora", "msft-I", "msft-I+II", "msft-I+II+III"]


def load_base(name: str, device: str) -> Any:
    if name == "tiny-llama":
        from transformers import AutoModelForCausalLM, LlamaConfig

        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=2000, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                          num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512)
        return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).to(device)
    from formulaforge.models.loading import load_model

    return load_model(name, dtype=torch.float32).to(device)


def build(variant: str, base: Any, r: int, alpha: float, copy_base: bool = True) -> Any:
    """A copy of ``base`` (or ``base`` itself) with the variant's adapter, only its matrices trainable."""
    from formulaforge.models.msft import MSFTAdapter, MSFTConfig
    from formulaforge.models.msft.targets import find_targets

    model = copy.deepcopy(base) if copy_base else base
    targets = sorted({t.name.rsplit(".", 1)[-1] for t in find_targets(model)})
    if variant == "peft-lora":
        from peft import LoraConfig, get_peft_model

        return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05, target_modules=targets,
                                                task_type="CAUSAL_LM"))
    stage = {"msft-I": 1, "msft-I+II": 2, "msft-I+II+III": 3}[variant]
    adapter = MSFTAdapter.inject(model, MSFTConfig(r1=r, alpha=alpha, dropout=0.05), range(1, stage + 1))
    adapter.set_trainable([stage])
    return model


def make_batch(vocab: int, batch: int, seq: int, device: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (batch, seq), generator=g).to(device)
    return {"input_ids": ids, "labels": ids.clone()}


def train_step(model: Any, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> None:
    loss = model(**batch).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_training(base: Any, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    models = {v: build(v, base, args.r, args.alpha) for v in VARIANTS}
    opts = {v: torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4) for v, m in models.items()}
    batch = make_batch(base.config.vocab_size, args.batch, args.seq, args.device)
    for v, m in models.items():
        m.train()
        for _ in range(args.warmup):
            train_step(m, opts[v], batch)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for v in VARIANTS:
            sync(args.device)
            t = time.perf_counter()
            train_step(models[v], opts[v], batch)
            sync(args.device)
            times[v].append(time.perf_counter() - t)
    out = {}
    for v in VARIANTS:
        trainable = sum(p.numel() for p in models[v].parameters() if p.requires_grad)
        out[v] = {"step_s": statistics.median(times[v]), "trainable": trainable}
    return out


class RssSampler:
    """Peak resident memory of this process, sampled every millisecond by a thread (torch ops
    release the GIL, so the sampler runs while they allocate)."""

    def __init__(self) -> None:
        import os
        import threading

        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.001)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def peak_memory_child(args: argparse.Namespace) -> None:
    """Child process: load, build one variant, train a few steps, print the memory growth."""
    import gc

    base = load_base(args.model_name, args.device)
    model = build(args.variant, base, args.r, args.alpha, copy_base=False)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch = make_batch(model.config.vocab_size, args.batch, args.seq, args.device)
    gc.collect()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        for _ in range(3):
            train_step(model, opt, batch)
        peak = torch.cuda.max_memory_allocated() - before
    else:
        with RssSampler() as sampler:
            before = sampler.current()
            for _ in range(3):
                train_step(model, opt, batch)
        peak = sampler.peak - before
    print(json.dumps({"peak_mb": peak / 2**20}))


def peak_memory(model_name: str, args: argparse.Namespace) -> dict[str, float]:
    out = {}
    for v in VARIANTS:
        cmd = [sys.executable, __file__, "--child", "--threads", str(args.threads), "--model-name", model_name, "--variant", v, "--r", str(args.r),
               "--alpha", str(args.alpha), "--batch", str(args.batch), "--seq", str(args.seq), "--device", args.device]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[v] = json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"]
    return out


@torch.no_grad()
def time_generation(base: Any, args: argparse.Namespace) -> dict[str, float]:
    """Greedy generation: base vs merged, PEFT LoRA (stage I) vs the folded MSFT export, and nested MSFT."""
    import tempfile

    from peft import PeftModel

    from formulaforge.models.msft import MSFTAdapter, MSFTConfig
    from formulaforge.models.msft.io import export_lora

    tmp = Path(tempfile.mkdtemp())
    nested = copy.deepcopy(base)
    adapter = MSFTAdapter.inject(nested, MSFTConfig(r1=args.r, alpha=args.alpha, dropout=0.0), [1, 2, 3])
    g = torch.Generator().manual_seed(1)
    for s in adapter.stages:
        for _, p in adapter.stage_parameters(s):
            p.copy_(torch.randn(p.shape, generator=g).to(p.device) * 0.01)
    export_lora(adapter, tmp / "folded", "bench")
    lora1 = {k: v for k, v in adapter.stage_state_dict(1).items()}
    from formulaforge.models.msft.io import save_peft_lora

    save_peft_lora(tmp / "stage1", lora1, adapter, "bench")
    merged = copy.deepcopy(nested)
    from formulaforge.models.msft.adapter import adapter_of

    adapter_of(merged, adapter.config).unwrap(merge=True)
    models = {
        "base": base,
        "merged": merged,
        "peft-lora": PeftModel.from_pretrained(copy.deepcopy(base), tmp / "stage1"),
        "folded-export": PeftModel.from_pretrained(copy.deepcopy(base), tmp / "folded"),
        "msft-nested": nested,
    }
    ids = make_batch(base.config.vocab_size, 1, args.gen_prompt, args.device)["input_ids"]
    kw = dict(max_new_tokens=args.gen_tokens, min_new_tokens=args.gen_tokens, do_sample=False, pad_token_id=0)
    for m in models.values():
        m.eval()
        m.generate(ids, **kw)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.gen_rounds):
        for k, m in models.items():
            sync(args.device)
            t = time.perf_counter()
            m.generate(ids, **kw)
            sync(args.device)
            times[k].append(time.perf_counter() - t)
    return {k: args.gen_tokens / statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny-llama,smollm2-135m")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--r", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=128.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--gen-prompt", type=int, default=32)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 = steadier on a shared machine)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--gen-only", action="store_true", help="only the generation comparison")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-name", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    if args.child:
        peak_memory_child(args)
        return
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"r={args.r} alpha={args.alpha} batch={args.batch} seq={args.seq} rounds={args.rounds}")
    results: dict[str, Any] = {}
    for name in args.models.split(","):
        base = load_base(name, args.device)
        train = {} if args.gen_only else time_training(base, args)
        mem = {} if args.no_memory or args.gen_only else peak_memory(name, args)
        gen = time_generation(base, args)
        results[name] = {"train": train, "memory_mb": mem, "gen_tok_s": gen}
        print(f"\n== {name} ({sum(p.numel() for p in base.parameters()):,} params): train step ==")
        print(f"{'variant':<16}{'step ms':>10}{'x PEFT':>9}{'trainable':>12}{'peak MB':>10}{'x PEFT':>9}")
        for v in VARIANTS if train else []:
            ref = train["peft-lora"]["step_s"]
            t = train[v]
            m = mem.get(v)
            mr = f"{m / mem['peft-lora']:>9.2f}" if m is not None and mem.get("peft-lora") else f"{'-':>9}"
            ms = f"{m:>10.1f}" if m is not None else f"{'-':>10}"
            print(f"{v:<16}{1000 * t['step_s']:>10.1f}{t['step_s'] / ref:>9.3f}{t['trainable']:>12,}{ms}{mr}")
        print(f"-- {name}: greedy generation, tokens/s (batch 1, {args.gen_tokens} new tokens) --")
        for k, tps in gen.items():
            pair = {"merged": "base", "folded-export": "peft-lora", "msft-nested": "peft-lora"}.get(k)
            ratio = f"  ({tps / gen[pair]:.3f}x {pair})" if pair else ""
            print(f"{k:<16}{tps:>10.1f}{ratio}")
        del base
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
