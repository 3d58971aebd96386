"""Load the packaged SmolLM2-135M GGUF end to end: de-quantize it, cache it, load the cache.

This was a unit test until issue 22 (35-43 s of every fresh-clone ``make test``); the suite
now checks the packaged file's header and shapes, and de-quantizes a tiny Q8_0/Q4_1 GGUF
written in code. This script does the full conversion in a fresh cache folder and checks
what the test used to: the model is fp32 with no quantization left, MSFT injects 7,372,800
stage-I parameters, an adapter at init leaves the logits unchanged, and the cached copy
gives the same logits as the freshly converted one.

    python bench/bench_packaged_model.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return out, round(time.perf_counter() - t0, 2), round(_cpu() - c0, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-bench-cache-") as cache:
        os.environ["FORMULAFORGE_CACHE"] = cache  # a cold cache: the first load converts
        import torch

        from formulaforge.models.loading import (
            dequantized_cache_dir,
            load_model,
            load_tokenizer,
            resolve_model,
        )
        from formulaforge.models.msft import MSFTAdapter, MSFTConfig

        src = resolve_model("smollm2-135m")
        model, convert_wall, convert_cpu = _timed(lambda: load_model(src))
        cache_dir = dequantized_cache_dir(src)
        assert cache_dir is not None and (cache_dir / "model.safetensors").is_file()
        assert not getattr(model, "is_quantized", False)
        assert getattr(model.config, "quantization_config", None) is None and model.dtype == torch.float32
        tok, tok_wall, tok_cpu = _timed(lambda: load_tokenizer(src))
        ids = tok("The derivative of $x^2$ is", return_tensors="pt")
        with torch.no_grad():
            base = model(**ids).logits
        cached, cached_wall, cached_cpu = _timed(lambda: load_model(src))
        with torch.no_grad():
            same_after_cache = torch.equal(cached(**ids).logits, base)
        adapter = MSFTAdapter.inject(model, MSFTConfig(), [1, 2, 3])
        params = adapter.param_report()[0].new_params
        with torch.no_grad():
            noop = torch.equal(model(**ids).logits, base)  # lora_B = 0 and D_up = 0 at init
    row = {"gguf": src.gguf_file, "convert_wall_s": convert_wall, "convert_cpu_s": convert_cpu,
           "tokenizer_wall_s": tok_wall, "tokenizer_cpu_s": tok_cpu, "cached_load_wall_s": cached_wall,
           "cached_load_cpu_s": cached_cpu, "speedup_cached_vs_convert": round(convert_wall / cached_wall, 1),
           "stage1_params": params, "msft_layers": len(adapter.layers),
           "logits_equal_after_cache": same_after_cache, "adapter_noop_at_init": noop,
           "torch_threads": torch.get_num_threads()}
    print(json.dumps(row, indent=2))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    ok = params == 7_372_800 and len(adapter.layers) == 120 and same_after_cache and noop
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
