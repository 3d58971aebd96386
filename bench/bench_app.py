"""Load check of the web UI: N concurrent visitors against the local app.

Starts ``formulaforge app`` in-process on 127.0.0.1 with the packaged SmolLM2-135M (base
model, no run needed), then fires N concurrent "Generate" requests (formula from context)
and N concurrent "Build tree" requests through Gradio's own client, and reports latency
percentiles, throughput and that every request got an answer. "Generate" is measured twice
in one run: with batching off (the baseline: one generate call per visitor) and on
(requests waiting together share one batched call). A second phase starts the
app with a small queue and over-fills it: the excess must be refused at once with a
message, not hang or crash the server.

    .venv/bin/python bench/bench_app.py [--requests 16] [--tokens 32] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CONTEXT_BEFORE = ("The softmax function maps a vector of real numbers to a probability distribution. "
                  "For an input vector z with K components it is defined by")
CONTEXT_AFTER = "where the denominator normalizes the outputs so that they sum to one."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def start(model: str, tokens: int, queue_size: int, max_batch: int = 8) -> tuple[Any, Any, str]:
    from formulaforge.app.context import AppContext
    from formulaforge.app.limits import AppLimits
    from formulaforge.app.server import launch
    from formulaforge.app.workspace import Workspace

    limits = AppLimits(max_new_tokens=tokens, queue_size=queue_size, max_batch=max_batch)
    ctx = AppContext(Workspace.open(None, model), limits)
    port = free_port()
    demo = launch(ctx, "127.0.0.1", port, block=False)
    return ctx, demo, f"http://127.0.0.1:{port}/"


def fire(url: str, n: int, endpoint: str, args: tuple) -> tuple[list[float], list[str], float]:
    """n concurrent calls, one client each (as n browser tabs would); (latencies, errors, wall)."""
    from gradio_client import Client

    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(n)]

    def one(client: Any) -> tuple[float, str | None]:
        t0 = time.perf_counter()
        try:
            client.predict(*args, api_name=endpoint)
            return time.perf_counter() - t0, None
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            return time.perf_counter() - t0, f"{type(exc).__name__}: {str(exc)[:120]}"

    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, clients))
    wall = time.perf_counter() - t0
    return [r[0] for r in results if r[1] is None], [r[1] for r in results if r[1] is not None], wall


def report(name: str, n: int, latencies: list[float], errors: list[str], wall: float) -> None:
    if latencies:
        print(f"{name}: {len(latencies)}/{n} answered in {wall:.1f} s wall; latency p50 {percentile(latencies, .5):.2f} s, "
              f"p90 {percentile(latencies, .9):.2f} s, p99 {percentile(latencies, .99):.2f} s, "
              f"max {max(latencies):.2f} s, mean {statistics.mean(latencies):.2f} s; {n / wall:.2f} req/s")
    for e in sorted(set(errors)):
        print(f"  {errors.count(e)} x {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    n = args.requests
    generate_args = (CONTEXT_BEFORE, CONTEXT_AFTER, "base", False, 1, args.tokens, True)

    # Baseline first: the same app with batching off (max_batch 1: one generate call per visitor).
    ctx, demo, url = start(args.model, args.tokens, queue_size=max(64, 2 * n), max_batch=1)
    try:
        fire(url, 1, "/generate_formula", generate_args)
        lat1, err1, wall1 = fire(url, n, "/generate_formula", generate_args)
        report(f"UNBATCHED generate_formula x{n} ({args.tokens} tokens, greedy)", n, lat1, err1, wall1)
    finally:
        demo.close()
        ctx.close()

    ctx, demo, url = start(args.model, args.tokens, queue_size=max(64, 2 * n))
    try:
        t0 = time.perf_counter()
        _, errors, _ = fire(url, 1, "/generate_formula", generate_args)
        print(f"warm-up (model load + first generation): {time.perf_counter() - t0:.1f} s {errors or ''}")
        lat, err, wall = fire(url, n, "/generate_formula", generate_args)
        report(f"BATCHED generate_formula x{n} ({args.tokens} tokens, greedy, max_batch 8)", n, lat, err, wall)
        if lat and lat1:
            print(f"batched vs unbatched: wall {wall1 / wall:.2f}x faster, p50 {percentile(lat1, .5) / percentile(lat, .5):.2f}x, "
                  f"p99 {percentile(lat1, .99) / percentile(lat, .99):.2f}x lower")
        gen_ok = len(lat) == n and len(lat1) == n
        lat, err, wall = fire(url, n, "/build_tree", ("C0*sin(x0) + x1^2", ""))
        report(f"build_tree x{n}", n, lat, err, wall)
        tree_ok = len(lat) == n
        summary = ctx.session.summary()
        print(f"session log: {summary}")
    finally:
        demo.close()
        ctx.close()

    small = 4
    ctx, demo, url = start(args.model, args.tokens, queue_size=small)
    try:
        fire(url, 1, "/generate_formula", generate_args)  # load the model first
        over = 3 * small
        lat, err, wall = fire(url, over, "/generate_formula", generate_args)
        report(f"over-filled queue (max_size={small}, {over} at once)", over, lat, err, wall)
        refused_cleanly = len(lat) + len(err) == over and len(lat) >= small
    finally:
        demo.close()
        ctx.close()
    print(f"every request answered: generate {gen_ok}, build_tree {tree_ok}; "
          f"over-filled queue: {len(lat)} answered, {len(err)} refused, server alive: {refused_cleanly}")


if __name__ == "__main__":
    main()
