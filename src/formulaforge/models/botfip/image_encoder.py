"""Function-image encoder: a ViT over the multi-scale function image (paper: e^i).

Built from transformers' ``ViTModel`` with ``num_channels`` = number of scales, so the
three scale channels are mixed from the first patch embedding on. Returns every token
(for cross-attention) and a normalized projection of the [CLS] token (for FOC/KD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ViTConfig, ViTModel

from formulaforge.models.botfip.config import ModelConfig
from formulaforge.models.botfip.ots_transformer import init_std


def vit_config(cfg: ModelConfig) -> ViTConfig:
    return ViTConfig(
        image_size=cfg.image_size, patch_size=cfg.patch_size, num_channels=cfg.image_channels,
        hidden_size=cfg.vit_hidden, num_hidden_layers=cfg.vit_layers, num_attention_heads=cfg.vit_heads,
        intermediate_size=cfg.vit_mlp, hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
        initializer_range=init_std(cfg.vit_hidden),
    )


class FuncImageEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.vit = ViTModel(vit_config(cfg), add_pooling_layer=False)
        self.proj = nn.Linear(cfg.vit_hidden, cfg.feature_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` (B, S, H, W) -> (hidden states (B, 1 + patches, vit_hidden), feature (B, d_f))."""
        hidden = self.vit(pixel_values=images).last_hidden_state
        return hidden, F.normalize(self.proj(hidden[:, 0]), dim=-1)
