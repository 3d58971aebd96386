"""Multi-Stage Fine-Tuning (MSFT): LoRA, then a D-plugin, then a Q-plugin, for any causal LM.

Layout, like a peft tuner: :mod:`.config` (hyper-parameters), :mod:`.targets` (which
projections), :mod:`.layer` (the wrapping layer), :mod:`.adapter` (insert / freeze / gate /
report), :mod:`.router` (which requests get the formula plugins), :mod:`.io` (per-stage
save, compose at load, folded PEFT export), :mod:`.merge` (merged checkpoint).
"""

from formulaforge.models.msft.adapter import MSFTAdapter, StageParams, trainable_stages
from formulaforge.models.msft.config import MSFTConfig
from formulaforge.models.msft.layer import MSFTLayer
from formulaforge.models.msft.targets import TargetError, find_targets

__all__ = [
    "MSFTAdapter",
    "MSFTConfig",
    "MSFTLayer",
    "StageParams",
    "TargetError",
    "find_targets",
    "trainable_stages",
]
