"""Load a model for inference as the CLI, evaluation and web UI all need it.

Base model, plus either an MSFT run (stages composed at load time, optionally only up to
stage N) or a PEFT adapter folder (e.g. ``formulaforge export lora``), moved to the GPU
when there is one, in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    msft: Any = None  # the MSFTAdapter when --stages was given
    description: str = ""


def load_for_inference(
    model: str,
    *,
    stages: str | Path | None = None,
    adapter: str | Path | None = None,
    upto: int | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Raise ``ValueError``/``FileNotFoundError`` with a clear message on bad input."""
    import torch

    from formulaforge.models.loading import load_model, load_tokenizer, resolve_model

    if stages is not None and adapter is not None:
        raise ValueError("give --stages or --adapter, not both")
    src = resolve_model(model)
    net = load_model(src, trust_remote_code=trust_remote_code)
    tok = load_tokenizer(src, trust_remote_code=trust_remote_code)
    msft = None
    description = src.describe()
    if stages is not None:
        from formulaforge.models.msft.io import load_run

        msft = load_run(net, stages, upto=upto)
        description += f" + MSFT stages from {stages}" + (f" (<= {upto})" if upto else "")
    elif adapter is not None:
        from peft import PeftModel

        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ValueError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
        from formulaforge.models.weights import load_safetensors

        if not (adapter / "adapter_model.safetensors").is_file():
            raise ValueError(f"{adapter}: no adapter_model.safetensors (pickled .bin adapters are not loaded)")
        load_safetensors(adapter / "adapter_model.safetensors")  # one clear line for a corrupt or NaN file
        net = PeftModel.from_pretrained(net, adapter)
        description += f" + PEFT adapter {adapter}"
    if torch.cuda.is_available():
        net.to("cuda")
    net.eval()
    return LoadedModel(net, tok, msft, description)
