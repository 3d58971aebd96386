"""Botfip-LLM: function-image encoder, shared OTS encoder/decoder, teacher embedder, queues.

The frozen teacher itself is *not* part of this module (it is large, frozen and its
outputs are cached on disk); the model receives teacher token states as tensors. That
keeps checkpoints small and lets the teacher live on another device or process.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from formulaforge.models.botfip.config import LossConfig, ModelConfig
from formulaforge.models.botfip.embedder import TeacherEmbedder
from formulaforge.models.botfip.image_encoder import FuncImageEncoder
from formulaforge.models.botfip.losses import (
    FeatureQueue,
    foc_loss,
    fom_loss,
    hard_negatives,
    kd_loss,
    om_loss,
)
from formulaforge.models.botfip.ots_transformer import OTSTransformer

TEMP_MIN, TEMP_MAX = 0.01, 0.5


@dataclass
class BotfipBatch:
    """One collated batch; see :mod:`formulaforge.training.botfip.data` for how it is built."""

    images: torch.Tensor          # (B, S, H, W)
    enc_tokens: torch.Tensor      # (B, L) [CLS] ots [PAD]...
    enc_mask: torch.Tensor        # (B, L)
    dec_tokens: torch.Tensor      # (B, L+1) [BOS] ots [EOS] [PAD]...
    dec_mask: torch.Tensor
    constants: torch.Tensor       # (B, C)
    const_mask: torch.Tensor      # (B, C)
    skeleton_ids: torch.Tensor    # (B,)
    teacher_hidden: torch.Tensor | None = None  # (B, T, D_m)
    teacher_mask: torch.Tensor | None = None    # (B, T)

    def to(self, device: torch.device | str) -> BotfipBatch:
        """This batch on ``device`` (pinned, non-blocking host-to-GPU copies; the same object on its device)."""
        from formulaforge.models.botfip.device import to_device

        device = torch.device(device)
        if self.images.device == device:
            return self
        return BotfipBatch(**{k: (to_device(v, device) if isinstance(v, torch.Tensor) else v)
                              for k, v in self.__dict__.items()})


class BotfipLLM(nn.Module):
    def __init__(self, cfg: ModelConfig, loss_cfg: LossConfig | None = None, teacher_dim: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.loss_cfg = loss_cfg or LossConfig()
        self.image_encoder = FuncImageEncoder(cfg)
        self.ots = OTSTransformer(cfg, external_dim=cfg.vit_hidden)
        # teacher states are embedded into the image-token width, so the decoder reads
        # image tokens and formula tokens through the same cross-attention adapter
        self.embedder = (TeacherEmbedder(teacher_dim, cfg.embedder_hidden, cfg.vit_hidden, cfg.feature_dim)
                         if teacher_dim else None)
        self.temp = nn.Parameter(torch.tensor(self.loss_cfg.temp))
        self.kd_temp = nn.Parameter(torch.tensor(self.loss_cfg.kd_temp))
        # momentum encoders (EMA copies, never trained by gradients) fill the queues
        self.momentum = self.loss_cfg.momentum if self.loss_cfg.queue_size > 0 else 0.0
        if self.momentum > 0:
            self.image_encoder_m = copy.deepcopy(self.image_encoder).requires_grad_(False)
            self.ots_m = copy.deepcopy(self.ots).requires_grad_(False)
            self.embedder_m = copy.deepcopy(self.embedder).requires_grad_(False) if self.embedder else None
        q = self.loss_cfg.queue_size
        self.use_queues = q > 0  # queue_size 0: in-batch negatives only
        self.q_img = FeatureQueue(max(q, 1), cfg.feature_dim)
        self.q_ots = FeatureQueue(max(q, 1), cfg.feature_dim)
        self.q_teacher = FeatureQueue(max(q, 1), cfg.feature_dim)

    @property
    def specials(self):
        return self.ots.specials

    def _temps(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            self.temp.clamp_(TEMP_MIN, TEMP_MAX)
            self.kd_temp.clamp_(TEMP_MIN, TEMP_MAX)
        return self.temp, self.kd_temp

    def _pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [(self.image_encoder, self.image_encoder_m), (self.ots, self.ots_m)]
        if self.embedder is not None:
            pairs.append((self.embedder, self.embedder_m))
        return pairs

    @torch.no_grad()
    def momentum_update(self) -> None:
        """EMA step of the momentum encoders; call after each optimizer step."""
        if self.momentum <= 0:
            return
        online = [p.detach() for a, _ in self._pairs() for p in a.parameters()]
        ema = [pm for _, b in self._pairs() for pm in b.parameters()]
        # pm <- m * pm + (1 - m) * p, as one multi-tensor op
        torch._foreach_lerp_(ema, online, 1.0 - self.momentum)

    @torch.no_grad()
    def _momentum_features(self, batch: BotfipBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        _, img = self.image_encoder_m(batch.images)
        ots = self.ots_m.feature(self.ots_m.encode(batch.enc_tokens, batch.enc_mask, batch.constants,
                                                   batch.const_mask))
        teacher = None
        if self.embedder_m is not None and batch.teacher_hidden is not None:
            teacher = self.embedder_m(batch.teacher_hidden, batch.teacher_mask)[1]
        return img, ots, teacher

    def forward(self, batch: BotfipBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The pre-training losses (so ``DistributedDataParallel`` can wrap the model)."""
        return self.pretrain_losses(batch, generator)

    def pretrain_losses(self, batch: BotfipBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """All four pre-training losses and their weighted sum ``total`` (eq. 7); updates the queues."""
        lc = self.loss_cfg
        temp, kd_temp = self._temps()
        img_hidden, img_feat = self.image_encoder(batch.images)
        ots_hidden = self.ots.encode(batch.enc_tokens, batch.enc_mask, batch.constants, batch.const_mask)
        ots_feat = self.ots.feature(ots_hidden)
        zero = img_feat.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        q_img, q_ots, q_teacher = (self.q_img, self.q_ots, self.q_teacher) if self.use_queues else (None, None, None)
        img_m = ots_m = teacher_m = None
        if self.momentum > 0:
            img_m, ots_m, teacher_m = self._momentum_features(batch)
        out["foc"] = foc_loss(img_feat, ots_feat, q_img, q_ots, temp, img_m, ots_m) if lc.foc else zero
        if lc.fom:
            with torch.no_grad():
                neg_idx, valid = hard_negatives(ots_feat @ img_feat.t(), batch.skeleton_ids, generator)
            both = self.ots.encode(batch.enc_tokens.repeat(2, 1), batch.enc_mask.repeat(2, 1),
                                   external=torch.cat([img_hidden, img_hidden[neg_idx]]))
            logits = self.ots.match_logits(both)
            b = batch.images.shape[0]
            out["fom"] = fom_loss(logits[:b], logits[b:], valid)
        else:
            out["fom"] = zero
        if lc.om:
            out["om"] = om_loss(self.ots.decode_logits(batch.dec_tokens, batch.dec_mask, img_hidden),
                                batch.dec_tokens, self.specials.pad)
        else:
            out["om"] = zero
        teacher_feat = None
        if lc.kd and self.embedder is not None and batch.teacher_hidden is not None:
            _, teacher_feat = self.embedder(batch.teacher_hidden, batch.teacher_mask)
            out["kd"] = kd_loss(img_feat, ots_feat, teacher_feat, batch.skeleton_ids, q_teacher, kd_temp,
                                teacher_m, q_img, q_ots, img_m, ots_m)
        else:
            out["kd"] = zero
        out["total"] = lc.foc * out["foc"] + lc.fom * out["fom"] + lc.om * out["om"] + lc.kd * out["kd"]
        if self.training and self.use_queues:
            self.q_img.enqueue(img_feat if img_m is None else img_m, batch.skeleton_ids)
            self.q_ots.enqueue(ots_feat if ots_m is None else ots_m, batch.skeleton_ids)
            if teacher_feat is not None:
                self.q_teacher.enqueue(teacher_feat if teacher_m is None else teacher_m, batch.skeleton_ids)
        return out

    def condition(self, batch: BotfipBatch, task: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """External features for the decoder: image tokens (``funcimg``) or embedded teacher states (``formula``)."""
        if task == "funcimg":
            return self.image_encoder(batch.images)[0], None
        if task == "formula":
            if self.embedder is None or batch.teacher_hidden is None:
                raise ValueError("the formula -> OTS task needs a teacher (model.teacher is 'none')")
            return self.embedder(batch.teacher_hidden, batch.teacher_mask)[0], batch.teacher_mask
        raise ValueError(f"unknown task {task!r} (funcimg or formula)")

    def finetune_loss(self, batch: BotfipBatch, task: str) -> torch.Tensor:
        """L_OM (funcimg -> OTS, eq. 4) or L_SOM (formula -> OTS, eq. 8)."""
        external, ext_mask = self.condition(batch, task)
        logits = self.ots.decode_logits(batch.dec_tokens, batch.dec_mask, external, ext_mask)
        return om_loss(logits, batch.dec_tokens, self.specials.pad)

    @torch.no_grad()
    def features(self, batch: BotfipBatch) -> dict[str, torch.Tensor]:
        """Normalized image / OTS / teacher features (for the Fig. 5 similarity matrices)."""
        _, img = self.image_encoder(batch.images)
        ots = self.ots.feature(self.ots.encode(batch.enc_tokens, batch.enc_mask, batch.constants, batch.const_mask))
        out = {"image": img, "ots": ots}
        if self.embedder is not None and batch.teacher_hidden is not None:
            out["teacher"] = self.embedder(batch.teacher_hidden, batch.teacher_mask)[1]
        return out
