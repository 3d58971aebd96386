"""Sharded, resumable, seeded generation of Funcimg-OTS-formula datasets, and their reader.

Layout of an output directory::

    manifest.json               what was generated and how (vocabulary, grid, sampler, seed, shards)
    skeletons.jsonl             one row per distinct skeleton: id, ots, node_count, n_constants,
                                formula (C_i placeholders), latex, simplified, key
    shards/shard-00000.safetensors  images (N,S,H,W) float16|float32, scale_factors (N,S,2),
                                constants (N,Cmax) zero-padded, n_constants (N,), ots (N,Lmax)
                                padded with -1, ots_length (N,), node_count (N,), skeleton_id (N,)
    shards/shard-00000.jsonl    the same samples as text: id, skeleton_id, ots, constants, formula,
                                node_count
    shards/shard-00000.json     completion marker (written last); a re-run skips finished shards

Generation runs in two phases. (1) Skeleton candidates are drawn in fixed chunks, each
from its own seed, checked numerically and simplified with sympy; chunks are consumed in
order and deduplicated by canonical formula, so the result does not depend on the number
of workers. (2) Each skeleton's constants and images come from a seed derived from
(seed, skeleton id), so shards can be produced in any order and resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from formulaforge.datasets.optrees.images import DEFAULT_GRID, GridSpec, add_noise
from formulaforge.datasets.optrees.ots import decode, encode
from formulaforge.datasets.optrees.sampling import SamplerConfig, SkeletonSampler
from formulaforge.datasets.optrees.semantics import variable_symbols
from formulaforge.datasets.optrees.symbolic import canonical_key, formula_strings
from formulaforge.datasets.optrees.vocab import DEFAULT_VOCAB
from formulaforge.utils.atomic import atomic_open, claim_output, write_json_atomic
from formulaforge.utils.jsonl import read_jsonl, write_jsonl

FORMAT = "formulaforge-optrees"
FORMAT_VERSION = 1
OTS_PAD = -1

Progress = Callable[[str, int, int], None]
"""``on_progress(phase, done, total)`` with phase "skeletons" or "samples"."""


@dataclass
class GenerateConfig:
    n_skeletons: int
    constants_per_skeleton: int = 50
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    grid: GridSpec = DEFAULT_GRID
    seed: int = 0
    shard_size: int = 100
    """Skeletons per shard (a shard holds ``shard_size * constants_per_skeleton`` samples)."""
    chunk_size: int = 32
    """Skeleton candidates per phase-1 work unit."""
    image_dtype: str = "float16"
    simplify: str = "full"
    """Formula strings: "full" (sympy.simplify), "light" (factor_terms + powsimp, ~50x cheaper) or "none"."""
    simplify_timeout: float = 0.5
    """CPU seconds allowed per skeleton for "full" simplification (then the "light" form is kept);
    CPU time rather than wall time keeps runs reproducible on a loaded machine."""

    def content_hash(self) -> str:
        """Hash of everything that decides the generated content (not workers, not paths)."""
        blob = json.dumps({
            "n": self.n_skeletons, "k": self.constants_per_skeleton, "sampler": self.sampler.to_json(),
            "grid": self.grid.to_json(), "seed": self.seed, "shard": self.shard_size, "chunk": self.chunk_size,
            "dtype": self.image_dtype, "timeout": self.simplify_timeout, "simplify": self.simplify, "vocab": DEFAULT_VOCAB.version,
            "format": FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- phase 1

def skeleton_candidates(chunk: int, cfg: GenerateConfig) -> list[dict[str, Any]]:
    """Checked skeleton candidates of one chunk (deterministic in ``(seed, chunk)``)."""
    sampler = SkeletonSampler(cfg.sampler)
    rng = np.random.default_rng([cfg.seed, 1, chunk])
    xs = set(variable_symbols(DEFAULT_VOCAB.n_variables))
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, ...]] = set()
    for _ in range(cfg.chunk_size):
        tree = sampler.sample_tree(rng)
        ots = tuple(encode(tree))
        if ots in seen or not sampler.check_skeleton(tree, rng, cfg.grid):
            continue
        seen.add(ots)
        strings = formula_strings(tree, timeout=cfg.simplify_timeout, mode=cfg.simplify)
        if not _has_variable(strings.sympy, xs):
            continue  # constant after simplification, e.g. C0*(x0 - x0) + C1
        out.append({"ots": list(ots), "node_count": tree.node_count, "n_constants": tree.n_constants,
                    "formula": strings.sympy, "latex": strings.latex, "simplified": strings.simplified,
                    "key": canonical_key(strings.sympy)})
    return out


def _has_variable(formula: str, xs: set[Any]) -> bool:
    return any(re.search(rf"\b{s.name}\b", formula) for s in xs)


def _collect_skeletons(cfg: GenerateConfig, out: Path, pool: ProcessPoolExecutor | None, workers: int,
                       exclude: set[str], on_progress: Progress | None) -> list[dict[str, Any]]:
    work = out / ".work" / "chunks"
    work.mkdir(parents=True, exist_ok=True)

    def load_or_run(chunk: int) -> list[dict[str, Any]] | Future:
        path = work / f"chunk-{chunk:06d}.jsonl"
        if path.exists():
            return list(read_jsonl(path))
        if pool is None:
            rows = skeleton_candidates(chunk, cfg)
            write_jsonl(path, rows)
            return rows
        return pool.submit(skeleton_candidates, chunk, cfg)

    keys = set(exclude)
    chosen: list[dict[str, Any]] = []
    pending: dict[int, Any] = {}
    next_chunk = 0
    # a pool keeps two chunks per worker queued; run in this process, a chunk is computed only when needed
    in_flight = max(2 * workers, 2) if pool is not None else 1
    while len(chosen) < cfg.n_skeletons:
        while len(pending) < in_flight:
            pending[next_chunk] = load_or_run(next_chunk)
            next_chunk += 1
        chunk = min(pending)
        rows = pending.pop(chunk)
        if isinstance(rows, Future):
            rows = rows.result()
            write_jsonl(work / f"chunk-{chunk:06d}.jsonl", rows)
        for row in rows:
            if row["key"] in keys:
                continue
            keys.add(row["key"])
            chosen.append(row)
            if len(chosen) == cfg.n_skeletons:
                break
        if on_progress:
            on_progress("skeletons", len(chosen), cfg.n_skeletons)
        if chunk > 1000 + 50 * cfg.n_skeletons:
            raise RuntimeError("could not find enough distinct skeletons; widen the node range or vocabulary")
    for f in pending.values():
        if isinstance(f, Future):
            f.cancel()
    return [{"skeleton_id": i, **row} for i, row in enumerate(chosen)]


# --------------------------------------------------------------------------- phase 2

def _shard_arrays(skeletons: Sequence[dict[str, Any]], cfg: GenerateConfig) -> tuple[dict[str, np.ndarray], list[dict]]:
    sampler = SkeletonSampler(cfg.sampler)
    k = cfg.constants_per_skeleton
    images, factors, consts, rows = [], [], [], []
    for sk in skeletons:
        tree = decode(sk["ots"])
        rng = np.random.default_rng([cfg.seed, 2, sk["skeleton_id"]])
        got = sampler.sample_constant_sets(tree, k, rng, cfg.grid, rounds=20)
        if got is None:  # extremely rare after the skeleton check: keep the usable rows, repeat them
            c = sampler.sample_constants(tree, 4 * k, rng)
            from formulaforge.datasets.optrees.images import function_images

            b = function_images(tree, c, cfg.grid)
            good = np.flatnonzero(sampler.usable_rows(b.defined, b.scale_factors))
            pick = np.resize(good if len(good) else np.arange(4 * k), k)
            c, imgs, fac = c[pick], b.images[pick], b.scale_factors[pick]
        else:
            c, batch = got
            imgs, fac = batch.images, batch.scale_factors
        images.append(imgs.astype(cfg.image_dtype))
        factors.append(fac)
        consts.append(c)
        for j in range(k):
            rows.append({"skeleton_id": sk["skeleton_id"], "ots": sk["ots"], "constants": c[j].tolist(),
                         "formula": sk["formula"], "node_count": sk["node_count"]})
    n = len(rows)
    cmax = max(s["n_constants"] for s in skeletons)
    lmax = max(len(s["ots"]) for s in skeletons)
    const_arr = np.zeros((n, cmax), dtype=np.float64)
    ots_arr = np.full((n, lmax), OTS_PAD, dtype=np.int16)
    i = 0
    for sk, c in zip(skeletons, consts, strict=True):
        const_arr[i: i + k, : c.shape[1]] = c
        ots_arr[i: i + k, : len(sk["ots"])] = sk["ots"]
        i += k
    rep = lambda key: np.repeat(np.array([s[key] for s in skeletons], dtype=np.int32), k)
    arrays = {
        "images": np.ascontiguousarray(np.concatenate(images)),
        "scale_factors": np.concatenate(factors),
        "constants": const_arr,
        "n_constants": rep("n_constants"),
        "ots": ots_arr,
        "ots_length": np.repeat(np.array([len(s["ots"]) for s in skeletons], dtype=np.int32), k),
        "node_count": rep("node_count"),
        "skeleton_id": rep("skeleton_id").astype(np.int64),
    }
    return arrays, rows


def write_shard(index: int, skeletons: Sequence[dict[str, Any]], cfg: GenerateConfig, out: str) -> dict[str, Any]:
    """Generate and atomically write one shard; returns its manifest entry."""
    from safetensors.numpy import save

    t0 = time.perf_counter()
    arrays, rows = _shard_arrays(skeletons, cfg)
    base = Path(out) / "shards" / f"shard-{index:05d}"
    first_id = index * cfg.shard_size * cfg.constants_per_skeleton
    for j, row in enumerate(rows):
        row["id"] = first_id + j
    with atomic_open(base.with_suffix(".safetensors"), "wb") as fh:
        fh.write(save(arrays, metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)}))
    write_jsonl(base.with_suffix(".jsonl"), ({"id": r.pop("id"), **r} for r in rows))
    entry = {"name": base.name, "index": index, "n_samples": len(rows),
             "skeletons": [skeletons[0]["skeleton_id"], skeletons[-1]["skeleton_id"] + 1],
             "first_sample_id": first_id, "config_hash": cfg.content_hash(),
             "seconds": round(time.perf_counter() - t0, 3)}
    write_json_atomic(base.with_suffix(".json"), entry)
    return entry


def _shard_done(out: Path, index: int, cfg: GenerateConfig) -> dict[str, Any] | None:
    marker = out / "shards" / f"shard-{index:05d}.json"
    if not marker.exists():
        return None
    entry = json.loads(marker.read_text())
    ok = entry.get("config_hash") == cfg.content_hash() and (out / "shards" / f"{entry['name']}.safetensors").exists()
    return entry if ok else None


def generate(cfg: GenerateConfig, out: str | os.PathLike[str], *, workers: int = 1,
             exclude_skeletons: Sequence[str | os.PathLike[str]] = (), on_progress: Progress | None = None,
             command: str = "", force: bool = False) -> dict[str, Any]:
    """Generate (or resume) a dataset in ``out``; returns the manifest.

    ``out`` must be absent, empty or an earlier tree dataset (marker, utils.atomic) unless ``force``.
    """
    out = claim_output(out, "optrees-dataset", force=force)
    state_file = out / ".work" / "config.json"
    if state_file.exists():
        previous = json.loads(state_file.read_text()).get("config_hash")
        if previous != cfg.content_hash():
            raise ValueError(f"{out} holds a different generation run (config {previous}); "
                             "use a new --out or delete it")
    else:
        write_json_atomic(state_file, {"config_hash": cfg.content_hash()})
    exclude: set[str] = set()
    for path in exclude_skeletons:
        exclude.update(row["key"] for row in read_jsonl(path))
    t0 = time.perf_counter()
    ctx = get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx) if workers > 1 else None
    try:
        skel_path = out / "skeletons.jsonl"
        if skel_path.exists():
            skeletons = list(read_jsonl(skel_path))
        else:
            skeletons = _collect_skeletons(cfg, out, pool, workers, exclude, on_progress)
            write_jsonl(skel_path, skeletons)
        t_skel = time.perf_counter() - t0
        n_shards = -(-len(skeletons) // cfg.shard_size)
        entries: dict[int, dict[str, Any]] = {}
        todo = []
        for i in range(n_shards):
            done = _shard_done(out, i, cfg)
            if done:
                entries[i] = done
            else:
                todo.append(i)
        total = len(skeletons) * cfg.constants_per_skeleton
        progress = sum(e["n_samples"] for e in entries.values())
        if on_progress:
            on_progress("samples", progress, total)
        chunks = {i: skeletons[i * cfg.shard_size: (i + 1) * cfg.shard_size] for i in todo}
        if pool is None:
            for i in todo:
                entries[i] = write_shard(i, chunks[i], cfg, str(out))
                progress += entries[i]["n_samples"]
                if on_progress:
                    on_progress("samples", progress, total)
        else:
            futures = {pool.submit(write_shard, i, chunks[i], cfg, str(out)): i for i in todo}
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                entry = fut.result()
                entries[entry["index"]] = entry
                progress += entry["n_samples"]
                if on_progress:
                    on_progress("samples", progress, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    elapsed = time.perf_counter() - t0
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "config_hash": cfg.content_hash(),
        "command": command, "seed": cfg.seed,
        "n_skeletons": len(skeletons), "constants_per_skeleton": cfg.constants_per_skeleton,
        "n_samples": sum(e["n_samples"] for e in entries.values()),
        "shard_size": cfg.shard_size, "chunk_size": cfg.chunk_size, "image_dtype": cfg.image_dtype,
        "ots_pad": OTS_PAD, "simplify": cfg.simplify, "simplify_timeout_cpu_s": cfg.simplify_timeout,
        "vocab": DEFAULT_VOCAB.to_json(), "grid": cfg.grid.to_json(), "sampler": cfg.sampler.to_json(),
        "max_ots_length": max(len(s["ots"]) for s in skeletons),
        "max_constants": max(s["n_constants"] for s in skeletons),
        "node_count_histogram": dict(sorted(Counter(s["node_count"] for s in skeletons).items())),
        "unsimplified_skeletons": sum(not s["simplified"] for s in skeletons),
        "shards": [entries[i] for i in sorted(entries)],
        "timing": {"skeleton_phase_s": round(t_skel, 2), "total_s": round(elapsed, 2), "workers": workers},
    }
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


# --------------------------------------------------------------------------- reading

@dataclass
class OTSBatch:
    """A training batch: what the Botfip model consumes (see :meth:`to_torch`)."""

    images: np.ndarray        # (B, S, H, W) float32
    ots: np.ndarray           # (B, L) int64, padded with pad_id
    ots_mask: np.ndarray      # (B, L) bool, True on real tokens
    constants: np.ndarray     # (B, Cmax) float32, zero-padded
    constants_mask: np.ndarray  # (B, Cmax) bool
    formulas: list[str]
    node_counts: np.ndarray   # (B,)
    skeleton_ids: np.ndarray  # (B,)
    scale_factors: np.ndarray  # (B, S, 2)

    def to_torch(self, device: Any = None) -> dict[str, Any]:
        import torch

        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
        return {"images": t(self.images), "ots": t(self.ots), "ots_mask": t(self.ots_mask),
                "constants": t(self.constants), "constants_mask": t(self.constants_mask),
                "node_counts": t(self.node_counts), "skeleton_ids": t(self.skeleton_ids),
                "formulas": self.formulas}


class OptreeDataset:
    """Random access over a generated directory (shards loaded lazily, a few kept in memory)."""

    def __init__(self, path: str | os.PathLike[str], cache_shards: int = 4) -> None:
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} not found: not a finished `formulaforge trees generate` output")
        self.manifest = json.loads(manifest.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest} is not a {FORMAT} manifest")
        self.shards = self.manifest["shards"]
        self._starts = np.cumsum([0] + [s["n_samples"] for s in self.shards])
        self._cache: dict[int, tuple[dict[str, np.ndarray], list[dict[str, Any]]]] = {}
        self._cache_size = cache_shards
        self._skeletons: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def skeletons(self) -> list[dict[str, Any]]:
        """Distinct skeletons with their formula strings (e.g. to cache teacher features once each)."""
        if self._skeletons is None:
            self._skeletons = list(read_jsonl(self.path / "skeletons.jsonl"))
        return self._skeletons

    def _shard(self, i: int) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        if i not in self._cache:
            from safetensors.numpy import load_file

            name = self.shards[i]["name"]
            arrays = load_file(str(self.path / "shards" / f"{name}.safetensors"))
            rows = list(read_jsonl(self.path / "shards" / f"{name}.jsonl"))
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[i] = (arrays, rows)
        return self._cache[i]

    def _locate(self, idx: int) -> tuple[int, int]:
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        s = int(np.searchsorted(self._starts, idx, side="right") - 1)
        return s, idx - int(self._starts[s])

    def __getitem__(self, idx: int) -> dict[str, Any]:
        s, j = self._locate(idx)
        arrays, rows = self._shard(s)
        row = rows[j]
        return {**row, "image": arrays["images"][j].astype(np.float32), "scale_factors": arrays["scale_factors"][j]}

    def batch(self, indices: Sequence[int], *, pad_id: int | None = None, noise_std: float = 0.0,
              rng: np.random.Generator | None = None) -> OTSBatch:
        """Collate samples (array slices per shard, no per-sample Python objects besides formulas).

        ``pad_id`` defaults to the vocabulary size (the first unused id).
        """
        pad = DEFAULT_VOCAB.size if pad_id is None else pad_id
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ValueError("empty batch")
        if idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"indices must lie in [0, {len(self)})")
        shard_of = np.searchsorted(self._starts, idx, side="right") - 1
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("images", "scale_factors", "constants", "n_constants",
                                                              "ots", "ots_length", "node_count", "skeleton_id")}
        formulas: list[str] = [""] * len(idx)
        order: list[np.ndarray] = []
        for s in np.unique(shard_of):
            where = np.flatnonzero(shard_of == s)
            local = idx[where] - self._starts[s]
            arrays, rows = self._shard(int(s))
            for key in parts:
                parts[key].append(arrays[key][local])
            for w, j in zip(where, local, strict=True):
                formulas[w] = rows[j]["formula"]
            order.append(where)
        back = np.argsort(np.concatenate(order), kind="stable")
        lmax = max(int(p.max()) for p in parts["ots_length"])
        cmax = max(max(int(p.max()) for p in parts["n_constants"]), 1)

        def cat(key: str) -> np.ndarray:
            return np.concatenate(parts[key])[back]

        def cat_padded(key: str, width: int, fill: float) -> np.ndarray:
            blocks = []
            for p in parts[key]:
                block = np.full((p.shape[0], width), fill, dtype=p.dtype)
                block[:, : min(width, p.shape[1])] = p[:, :width]
                blocks.append(block)
            return np.concatenate(blocks)[back]

        images = cat("images").astype(np.float32)
        if noise_std > 0:
            images = add_noise(images, noise_std, rng)
        ots = cat_padded("ots", lmax, OTS_PAD).astype(np.int64)
        ots_mask = ots != OTS_PAD
        ots[~ots_mask] = pad
        n_consts = cat("n_constants")
        consts = cat_padded("constants", cmax, 0.0).astype(np.float32)
        cmask = np.arange(cmax)[None, :] < n_consts[:, None]
        return OTSBatch(images, ots, ots_mask, consts, cmask, formulas, cat("node_count"), cat("skeleton_id"),
                        cat("scale_factors"))

    def iter_batches(self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                     **kwargs: Any) -> Iterator[OTSBatch]:
        """Batches in shard-local random order (keeps at most a few shards in memory)."""
        rng = np.random.default_rng(seed)
        order = np.arange(len(self.shards))
        if shuffle:
            rng.shuffle(order)
        buf: list[int] = []
        for s in order:
            idx = np.arange(self._starts[s], self._starts[s + 1])
            if shuffle:
                rng.shuffle(idx)
            for i in idx:
                buf.append(int(i))
                if len(buf) == batch_size:
                    yield self.batch(buf, rng=rng, **kwargs)
                    buf = []
        if buf and not drop_last:
            yield self.batch(buf, rng=rng, **kwargs)
