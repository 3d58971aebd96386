"""Trainable LLM embedder l^s: an MLP from the teacher width to the student widths.

Token states go to the OTS width (cross-attention input for formula -> OTS); their
masked mean goes to the normalized feature h^s used by the KD loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TeacherEmbedder(nn.Module):
    def __init__(self, teacher_dim: int, hidden: int, out_dim: int, feature_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(teacher_dim), nn.Linear(teacher_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_dim))
        self.proj = nn.Linear(out_dim, feature_dim)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D_m), (B, T) -> (token states (B, T, out_dim), feature (B, feature_dim))."""
        states = self.mlp(hidden)
        m = mask[..., None].to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp_min(1.0)
        return states, F.normalize(self.proj(pooled), dim=-1)
