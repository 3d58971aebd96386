"""OTS encoder/decoder: one BERT stack used bidirectionally (encoder e^o) or causally (decoder d^o).

The paper shares the encoder and decoder weights during pre-training; here that is one
``BertModel`` built with cross-attention layers. The mode is chosen per call by the
attention mask we pass: transformers returns a prepared 4-D mask as-is, so a full
(padding-only) mask gives the encoder and a lower-triangular one the decoder. Cross-
attention runs only when external features (image tokens or embedded teacher states)
are given, so ``e^o(o, c)`` and ``e^o(o, c | h)`` are the same module.

Input layout: ``[CLS|BOS] ots tokens ... [EOS] [PAD]...`` then, for the encoder, one
position per constant: ``W_c * c_k + slot_k`` (constants embedded linearly after the OTS
tokens). Special ids sit after the OTS vocabulary: pad, cls, bos, eos.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel

from formulaforge.models.botfip.config import ModelConfig


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the extra tokens appended after an OTS vocabulary of ``n_ots`` ids."""

    n_ots: int

    @property
    def pad(self) -> int:
        return self.n_ots

    @property
    def cls(self) -> int:
        return self.n_ots + 1

    @property
    def bos(self) -> int:
        return self.n_ots + 2

    @property
    def eos(self) -> int:
        return self.n_ots + 3

    @property
    def size(self) -> int:
        return self.n_ots + 4


def bert_config(cfg: ModelConfig) -> BertConfig:
    specials = SpecialTokens(cfg.ots_vocab_size)
    return BertConfig(
        vocab_size=specials.size, hidden_size=cfg.bert_hidden, num_hidden_layers=cfg.bert_layers,
        num_attention_heads=cfg.bert_heads, intermediate_size=cfg.bert_mlp,
        max_position_embeddings=cfg.max_ots_len + cfg.max_consts + 2, type_vocab_size=2,
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
        is_decoder=True, add_cross_attention=True, pad_token_id=specials.pad,
        initializer_range=init_std(cfg.bert_hidden),
    )


def init_std(width: int) -> float:
    """Weight init scale ~ 1/sqrt(width) (BERT's fixed 0.02 is tuned for width 768; at small
    widths it leaves the cross-attention path so weak that matching never starts learning)."""
    return max(0.02, width ** -0.5)


def additive_mask(keep: torch.Tensor, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """(B, L) keep-mask -> (B, 1, L, L) additive mask; rows of padded queries stay finite."""
    b, n = keep.shape
    allowed = keep[:, None, None, :].bool().expand(b, 1, n, n)
    if causal:
        allowed = allowed & torch.ones(n, n, dtype=torch.bool, device=keep.device).tril()[None, None]
    mask = torch.zeros(b, 1, n, n, dtype=dtype, device=keep.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


class OTSTransformer(nn.Module):
    """Shared BERT body + constant embedding + matching head (2 classes) + OTS prediction head."""

    def __init__(self, cfg: ModelConfig, external_dim: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.specials = SpecialTokens(cfg.ots_vocab_size)
        self.bert = BertModel(bert_config(cfg), add_pooling_layer=False)
        h = cfg.bert_hidden
        self.const_value = nn.Linear(1, h)
        self.const_slot = nn.Embedding(cfg.max_consts, h)
        self.external = nn.Linear(external_dim, h) if external_dim and external_dim != h else nn.Identity()
        self.proj = nn.Linear(h, cfg.feature_dim)
        self.match_head = nn.Linear(h, 2)
        self.lm_head = nn.Linear(h, self.specials.size)

    # ------------------------------------------------------------------ encoder
    def encode(
        self,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        constants: torch.Tensor | None = None,
        const_mask: torch.Tensor | None = None,
        external: torch.Tensor | None = None,
        external_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Bidirectional pass; ``tokens`` start with [CLS]. ``constants=None`` is the masked c~."""
        embeds = self.bert.embeddings.word_embeddings(tokens)
        keep = token_mask
        if constants is not None:
            n = constants.shape[1]
            slots = self.const_slot.weight[:n][None]
            embeds = torch.cat([embeds, self.const_value(constants[..., None]) + slots], dim=1)
            keep = torch.cat([token_mask, const_mask.to(token_mask.dtype)], dim=1)
        out = self.bert(
            inputs_embeds=embeds, attention_mask=additive_mask(keep, False, embeds.dtype),
            encoder_hidden_states=None if external is None else self.external(external),
            encoder_attention_mask=external_mask, use_cache=False,
        )
        return out.last_hidden_state

    def feature(self, hidden: torch.Tensor) -> torch.Tensor:
        """Normalized projection of the [CLS] state: the OTS feature h^o used by FOC/KD."""
        return F.normalize(self.proj(hidden[:, 0]), dim=-1)

    def match_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.match_head(hidden[:, 0])

    # ------------------------------------------------------------------ decoder
    def decode_logits(
        self,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        external: torch.Tensor | None,
        external_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Causal pass over ``[BOS] ots [EOS]`` (teacher forcing); logits (B, L, vocab)."""
        embeds = self.bert.embeddings.word_embeddings(tokens)
        out = self.bert(
            inputs_embeds=embeds, attention_mask=additive_mask(token_mask, True, embeds.dtype),
            encoder_hidden_states=None if external is None else self.external(external),
            encoder_attention_mask=external_mask, use_cache=False,
        )
        return self.lm_head(out.last_hidden_state)

    def project_external(self, external: torch.Tensor) -> torch.Tensor:
        """External features in the BERT width (done once per generation, not per step)."""
        return self.external(external)

    def decode_step(
        self,
        tokens: torch.Tensor,
        projected_external: torch.Tensor | None,
        past_key_values: object | None,
        external_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, object]:
        """Incremental decoding with the KV cache: logits of the last position and the new cache.

        ``projected_external`` comes from :meth:`project_external`; the cross-attention keys
        and values are computed on the first step and then read from the cache.
        """
        out = self.bert(
            input_ids=tokens, encoder_hidden_states=projected_external,
            encoder_attention_mask=external_mask, past_key_values=past_key_values, use_cache=True,
        )
        return self.lm_head(out.last_hidden_state[:, -1]), out.past_key_values
