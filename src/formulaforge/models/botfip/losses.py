"""Pre-training losses of Botfip-LLM (paper eqs. 1-7) and the MoCo-style feature queues.

* FOC (eq. 1): symmetric InfoNCE between image and OTS features; negatives are the
  other batch entries plus the queued features of earlier steps; learnable temperature.
* FOM (eq. 2): binary matching of OTS with (image) features through cross-attention;
  each OTS gets its own image and one hard negative image drawn in proportion to the
  FOC similarity, never from the same skeleton (same skeleton = same OTS, so such a
  pair is not a wrong match even with other constants).
* OM (eq. 4): causal next-token cross-entropy of the OTS decoder conditioned on the image.
* KD (eq. 6): InfoNCE from image and OTS features to the teacher's formula feature with
  its own temperature. Samples of one skeleton share one formula string, so every
  entry (batch or queue) with the same skeleton id counts as a positive (the target
  distribution is uniform over them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureQueue(nn.Module):
    """Fixed-size ring buffer of normalized features and the skeleton id of each entry.

    Starts as white noise (normalized) with id -1, as the paper says, and is overwritten
    cyclically: entry ``ptr .. ptr + B`` (mod size) gets the newest batch.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("features", F.normalize(torch.randn(size, dim), dim=-1))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, features: torch.Tensor, ids: torch.Tensor) -> None:
        b = features.shape[0]
        if b >= self.size:
            features, ids, b = features[-self.size:], ids[-self.size:], self.size
        idx = (self.ptr + torch.arange(b, device=features.device)) % self.size
        self.features[idx] = features.detach().to(self.features.dtype)
        self.ids[idx] = ids.to(self.ids.device)
        self.ptr.fill_(int((self.ptr + b) % self.size))


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, queue: torch.Tensor | None, temp: torch.Tensor,
             targets: torch.Tensor | None = None) -> torch.Tensor:
    """``-log softmax`` of each anchor's positives among [batch positives; queue] (cosine / temp).

    ``targets`` (B, B + Q) is a distribution over candidates; default: the diagonal.
    """
    candidates = positive if queue is None else torch.cat([positive, queue], dim=0)
    logits = anchor @ candidates.t() / temp
    if targets is None:
        return F.cross_entropy(logits, torch.arange(anchor.shape[0], device=anchor.device))
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def foc_loss(img: torch.Tensor, ots: torch.Tensor, q_img: FeatureQueue | None, q_ots: FeatureQueue | None,
             temp: torch.Tensor, img_m: torch.Tensor | None = None, ots_m: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Eq. (1): image->OTS and OTS->image InfoNCE with queued negatives.

    ``img_m``/``ots_m``: the batch through the momentum encoders; when given they are the
    candidates (as in MoCo/ALBEF), so the batch and the queue come from one slowly moving
    encoder and the online encoder cannot tell "now" from "queued" by drift alone.
    """
    img_c = img if img_m is None else img_m
    ots_c = ots if ots_m is None else ots_m
    return 0.5 * (info_nce(img, ots_c, None if q_ots is None else q_ots.features, temp)
                  + info_nce(ots, img_c, None if q_img is None else q_img.features, temp))


def same_skeleton_targets(ids: torch.Tensor, queue_ids: torch.Tensor | None) -> torch.Tensor:
    """(B, B + Q) uniform distribution over candidates that share the anchor's skeleton."""
    cand = ids if queue_ids is None else torch.cat([ids, queue_ids])
    pos = (ids[:, None] == cand[None, :]).float()
    return pos / pos.sum(-1, keepdim=True)


def kd_loss(img: torch.Tensor, ots: torch.Tensor, teacher: torch.Tensor, ids: torch.Tensor,
            q_teacher: FeatureQueue | None, temp: torch.Tensor, teacher_m: torch.Tensor | None = None,
            q_img: FeatureQueue | None = None, q_ots: FeatureQueue | None = None,
            img_m: torch.Tensor | None = None, ots_m: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (6): image->teacher and OTS->teacher InfoNCE; same-skeleton entries are positives.

    With momentum features the candidates are momentum features (see :func:`foc_loss`),
    and the reverse direction teacher->image/OTS is added so the embedder, whose batch
    entries are then no candidates, still learns from KD.
    """
    queue = None if q_teacher is None else q_teacher.features
    targets = same_skeleton_targets(ids, None if q_teacher is None else q_teacher.ids)
    t_c = teacher if teacher_m is None else teacher_m
    loss = 0.5 * (info_nce(img, t_c, queue, temp, targets) + info_nce(ots, t_c, queue, temp, targets))
    if teacher_m is not None and img_m is not None and ots_m is not None:
        t_img = same_skeleton_targets(ids, None if q_img is None else q_img.ids)
        t_ots = same_skeleton_targets(ids, None if q_ots is None else q_ots.ids)
        loss = 0.5 * loss + 0.25 * (
            info_nce(teacher, img_m, None if q_img is None else q_img.features, temp, t_img)
            + info_nce(teacher, ots_m, None if q_ots is None else q_ots.features, temp, t_ots))
    return loss


def hard_negatives(sim: torch.Tensor, ids: torch.Tensor, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row, a column index drawn with weight softmax(sim) among other skeletons.

    Returns (indices (B,), valid (B,) bool): rows whose batch has only their own skeleton
    get ``valid = False`` and must be left out of the negative term.
    """
    allowed = ids[:, None] != ids[None, :]
    weights = torch.softmax(sim.float().masked_fill(~allowed, float("-inf")), dim=-1)
    valid = allowed.any(-1)
    weights = torch.where(valid[:, None], weights.nan_to_num(0.0), torch.ones_like(weights))
    idx = torch.multinomial(weights, 1, generator=generator).squeeze(-1)
    return idx, valid


def fom_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor, neg_valid: torch.Tensor) -> torch.Tensor:
    """Eq. (2): matched pairs -> class 1 ("match"), hard negatives -> class 0."""
    ones = torch.ones(pos_logits.shape[0], dtype=torch.long, device=pos_logits.device)
    loss_pos = F.cross_entropy(pos_logits, ones, reduction="sum")
    loss_neg = F.cross_entropy(neg_logits[neg_valid], torch.zeros_like(ones)[neg_valid], reduction="sum")
    return (loss_pos + loss_neg) / (pos_logits.shape[0] + int(neg_valid.sum()))


def om_loss(logits: torch.Tensor, tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Eqs. (4)/(8): next-token cross-entropy, padding ignored."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                           ignore_index=pad_id)
