"""The models the web UI serves: loaded on first use, kept while used, one generate at a time.

A base model and its MSFT stages are the same weights plus small adapters, so "base" is
served by switching the adapters off on an already loaded fine-tuned model instead of
loading the base a second time. At most ``max_loaded`` (model, stages) pairs stay in
memory; the least recently used one is dropped.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulaforge.app.workspace import Workspace
from formulaforge.models.generation import Generation, SamplingConfig, generate_batched
from formulaforge.models.inference import LoadedModel


@dataclass(frozen=True)
class GenerationBatch:
    generations: list[Generation]
    seconds: float
    description: str

    @property
    def new_tokens(self) -> int:
        return sum(g.new_tokens for g in self.generations)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


Loader = Callable[[str, Any, bool], LoadedModel]


def _default_loader(model: str, stages_dir: Any, trust_remote_code: bool) -> LoadedModel:
    from formulaforge.models.inference import load_for_inference

    return load_for_inference(model, stages=stages_dir, trust_remote_code=trust_remote_code)


class ModelPool:
    def __init__(self, workspace: Workspace, max_loaded: int = 2, loader: Loader | None = None) -> None:
        self.workspace = workspace
        self.max_loaded = max(1, max_loaded)
        self._loader = loader or _default_loader
        self._loaded: OrderedDict[Path | None, LoadedModel] = OrderedDict()
        # A plain Lock, not an RLock: a streamed request holds the model across yields, and Gradio
        # runs each step of a generator in whichever worker thread is free, so the thread that
        # leaves the block is often not the one that entered it (an RLock then raised
        # "cannot release un-acquired lock" and the stream never finished). Nothing nests `use`.
        self._lock = threading.Lock()

    def loaded(self) -> list[Path | None]:
        with self._lock:
            return list(self._loaded)

    def _load(self, stages_dir: Path | None) -> LoadedModel:
        if stages_dir in self._loaded:
            self._loaded.move_to_end(stages_dir)
            return self._loaded[stages_dir]
        ws = self.workspace
        loaded = self._loader(ws.model_name, stages_dir, ws.trust_remote_code)
        self._loaded[stages_dir] = loaded
        while len(self._loaded) > self.max_loaded:
            self._loaded.popitem(last=False)
        return loaded

    @contextlib.contextmanager
    def use(self, stages_dir: Path | None) -> Iterator[LoadedModel]:
        """The base model plus the MSFT run in ``stages_dir`` (None: the base), held for the block."""
        with self._lock:
            if stages_dir is None:
                with_adapter = next((m for m in reversed(self._loaded.values()) if m.msft is not None), None)
                if with_adapter is not None:
                    with with_adapter.msft.disabled():
                        yield with_adapter
                    return
            yield self._load(stages_dir)

    def generate(self, stages_dir: Path | None, prompts: Sequence[str], sampling: SamplingConfig,
                 timeout_s: float) -> GenerationBatch:
        """Continuations of rendered ``prompts``; a generation stops (keeping its text) at ``timeout_s``."""
        with self.use(stages_dir) as loaded:
            t0 = time.perf_counter()
            gens = generate_batched(loaded.model, loaded.tokenizer, list(prompts), sampling,
                                    batch_size=len(prompts), generate_kwargs={"max_time": float(timeout_s)})
            description = loaded.description if stages_dir else self.workspace.model_name
            return GenerationBatch(gens, time.perf_counter() - t0, description)

    def tokenizer(self, stages_dir: Path | None) -> Any:
        with self.use(stages_dir) as loaded:
            return loaded.tokenizer
