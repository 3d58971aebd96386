"""OTS generation: greedy and beam search with the KV cache, constrained by the OTS grammar.

With a grammar (issue 7's :class:`OTSGrammarState`), each step's logits are masked to the
tokens that keep the prefix completable within the node budget, so every output rebuilds
into a tree (Acc_r = 1 by construction); once the tree is closed only [EOS] is allowed.
Without a grammar the model decodes freely until [EOS] or ``max_len`` (to measure what
the constraint buys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from formulaforge.models.botfip.ots_transformer import OTSTransformer


class Grammar(Protocol):
    finished: bool

    def allowed(self) -> list[int]: ...

    def step(self, token: int) -> None: ...

    def copy(self) -> Grammar: ...


GrammarFactory = Callable[[], Grammar]


def _mask(logits: torch.Tensor, grammars: list[Grammar | None], eos: int, n_ots: int) -> torch.Tensor:
    masked = torch.full_like(logits, float("-inf"))
    for i, g in enumerate(grammars):
        if g is None:
            masked[i] = logits[i]
            continue
        allowed = [eos] if g.finished else g.allowed()
        masked[i, allowed] = logits[i, allowed]
    masked[:, [t for t in range(n_ots, logits.shape[1]) if t != eos]] = float("-inf")  # pad, cls, bos
    return masked


@torch.no_grad()
def greedy_decode(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None,
                  grammar_factory: GrammarFactory | None, max_len: int) -> list[list[int]]:
    """Batched greedy decoding; returns OTS token lists (specials stripped)."""
    sp = ots.specials
    b = external.shape[0]
    proj = ots.project_external(external)
    grammars: list[Any] = [grammar_factory() if grammar_factory else None for _ in range(b)]
    tokens = torch.full((b, 1), sp.bos, dtype=torch.long, device=external.device)
    out: list[list[int]] = [[] for _ in range(b)]
    done = [False] * b
    past = None
    for _ in range(max_len + 1):
        logits, past = ots.decode_step(tokens, proj, past, external_mask)
        logits = _mask(logits.float(), grammars, sp.eos, sp.n_ots)
        nxt = logits.argmax(-1)
        for i in range(b):
            if done[i]:
                continue
            t = int(nxt[i])
            if t == sp.eos:
                done[i] = True
                continue
            out[i].append(t)
            if grammars[i] is not None:
                grammars[i].step(t)
        if all(done):
            break
        tokens = nxt[:, None]
    return out


@torch.no_grad()
def beam_decode(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None,
                grammar_factory: GrammarFactory | None, max_len: int, beam_size: int = 4, n_best: int = 0) -> list[Any]:
    """Beam search for a whole batch at once: B inputs x ``beam_size`` rows in every forward.

    Returns the best sequence per input, or with ``n_best`` > 0 a list of up to ``n_best``
    distinct finished sequences per input, best first.

    Each input keeps a fixed block of ``beam_size`` rows of one KV cache (rows of dead or
    not-yet-used hypotheses carry score -inf and are never chosen), so a step is one
    decoder call whatever the batch. Selection per input is the same as
    :func:`beam_decode_sequential` (top 2k candidates, [EOS] candidates finish, stop when
    k hypotheses finished and none open scores higher), which the tests compare against.
    """
    sp = ots.specials
    dev = external.device
    b, k = external.shape[0], beam_size
    proj = ots.project_external(external).repeat_interleave(k, 0)
    ext_mask = None if external_mask is None else external_mask.repeat_interleave(k, 0)
    neg_inf = float("-inf")
    # per input: k hypotheses (token list, grammar); only row 0 is alive at the start
    seqs: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(b)]
    grammars: list[list[Any]] = [[grammar_factory() if grammar_factory and j == 0 else None for j in range(k)]
                                 for _ in range(b)]
    scores = torch.full((b, k), neg_inf, device=dev)
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    done = [False] * b
    tokens = torch.full((b * k, 1), sp.bos, dtype=torch.long, device=dev)
    past = None
    for _ in range(max_len + 1):
        logits, past = ots.decode_step(tokens, proj, past, ext_mask)
        flat_grammars = [grammars[i][j] for i in range(b) for j in range(k)]
        logp = torch.log_softmax(_mask(logits.float(), flat_grammars, sp.eos, sp.n_ots), dim=-1)
        vocab = logp.shape[1]
        total = (scores.reshape(-1, 1) + logp).reshape(b, k * vocab)
        n_cand = min(2 * k, k * vocab)
        top_vals, top_idx = torch.topk(total, n_cand, dim=1)
        top_vals, top_idx = top_vals.tolist(), top_idx.tolist()
        new_scores = torch.full((b, k), neg_inf, device=dev)
        parents = list(range(b * k))
        new_tokens = [sp.eos] * (b * k)  # filler input for dead rows
        for i in range(b):
            if done[i]:
                continue
            new_seqs: list[list[int]] = []
            new_grammars: list[Any] = []
            row_scores: list[float] = []
            for score, flat in zip(top_vals[i], top_idx[i], strict=True):
                if score == neg_inf:
                    break
                parent, tok = divmod(flat, vocab)
                if tok == sp.eos:
                    finished[i].append((score, seqs[i][parent]))
                    continue
                g = grammars[i][parent]
                g2 = None
                if g is not None:
                    g2 = g.copy()
                    g2.step(tok)
                row = i * k + len(new_seqs)
                parents[row] = i * k + parent
                new_tokens[row] = tok
                new_seqs.append(seqs[i][parent] + [tok])
                new_grammars.append(g2)
                row_scores.append(score)
                if len(new_seqs) == k:
                    break
            best_finished = max((s for s, _ in finished[i]), default=neg_inf)
            if not new_seqs or (len(finished[i]) >= k and best_finished >= max(row_scores)):
                done[i] = True
                if not finished[i]:  # nothing finished and nothing left: keep the best open one
                    finished[i].append((float(scores[i].max()), seqs[i][int(scores[i].argmax())]))
                seqs[i] = [[] for _ in range(k)]
                grammars[i] = [None] * k
                continue
            pad = k - len(new_seqs)
            seqs[i] = new_seqs + [[] for _ in range(pad)]
            grammars[i] = new_grammars + [None] * pad
            new_scores[i, : len(row_scores)] = torch.tensor(row_scores, device=dev)
        if all(done):
            break
        scores = new_scores
        past.reorder_cache(torch.tensor(parents, device=dev))
        tokens = torch.tensor(new_tokens, device=dev)[:, None]
    results = []
    for i in range(b):
        if not finished[i]:  # ran out of length: best open hypothesis
            finished[i] = [(float(scores[i, 0]), seqs[i][0])]
        if n_best > 0:
            ranked = [seq for _, seq in sorted(finished[i], key=lambda x: -x[0])]
            results.append([list(s) for s in dict.fromkeys(tuple(s) for s in ranked)][:n_best])
        else:
            results.append(max(finished[i], key=lambda x: x[0])[1])
    return results


@torch.no_grad()
def beam_decode_sequential(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None,
                           grammar_factory: GrammarFactory | None, max_len: int, beam_size: int = 4
                           ) -> list[list[int]]:
    """Reference beam search, one input at a time (``beam_size`` rows of a reordered KV cache)."""
    results = []
    for i in range(external.shape[0]):
        ext = external[i:i + 1]
        msk = None if external_mask is None else external_mask[i:i + 1]
        results.append(_beam_one(ots, ext, msk, grammar_factory, max_len, beam_size))
    return results


def _beam_one(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None,
              grammar_factory: GrammarFactory | None, max_len: int, k: int) -> list[int]:
    sp = ots.specials
    dev = external.device
    proj = ots.project_external(external).expand(k, -1, -1)
    ext_mask = None if external_mask is None else external_mask.expand(k, -1)
    beams: list[tuple[list[int], Any]] = [([], grammar_factory() if grammar_factory else None)]
    scores = torch.zeros(1, device=dev)
    tokens = torch.full((1, 1), sp.bos, dtype=torch.long, device=dev)
    finished: list[tuple[float, list[int]]] = []
    past = None
    n_alive = 1
    for _ in range(max_len + 1):
        logits, past = ots.decode_step(tokens, proj[:n_alive], past,
                                       None if ext_mask is None else ext_mask[:n_alive])
        logp = torch.log_softmax(_mask(logits.float(), [g for _, g in beams], sp.eos, sp.n_ots), dim=-1)
        total = (scores[:, None] + logp).reshape(-1)
        top = torch.topk(total, min(2 * k, int(torch.isfinite(total).sum())))
        new_beams, new_scores, parents, new_tokens = [], [], [], []
        vocab = logp.shape[1]
        for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            parent, tok = divmod(flat, vocab)
            seq, g = beams[parent]
            if tok == sp.eos:
                finished.append((score, seq))
                continue
            g2 = None
            if g is not None:
                g2 = g.copy()
                g2.step(tok)
            new_beams.append((seq + [tok], g2))
            new_scores.append(score)
            parents.append(parent)
            new_tokens.append(tok)
            if len(new_beams) == k:
                break
        best_finished = max((s for s, _ in finished), default=float("-inf"))
        if not new_beams or (len(finished) >= k and best_finished >= max(new_scores)):
            break
        beams = new_beams
        scores = torch.tensor(new_scores, device=dev)
        past.reorder_cache(torch.tensor(parents, device=dev))
        n_alive = len(beams)
        tokens = torch.tensor(new_tokens, device=dev)[:, None]
    if not finished:  # ran out of length: best open hypothesis
        finished = [(float(scores[0]), beams[0][0])]
    return max(finished, key=lambda x: x[0])[1]


def generate_top_k(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None,
                   grammar_factory: GrammarFactory | None, max_len: int, k: int, beam_size: int = 1
                   ) -> list[list[list[int]]]:
    """Up to ``k`` distinct sequences per input, best first (greedy when ``k`` and ``beam_size`` are 1)."""
    if k <= 1 and beam_size <= 1:
        return [[s] for s in greedy_decode(ots, external, external_mask, grammar_factory, max_len)]
    return beam_decode(ots, external, external_mask, grammar_factory, max_len, max(k, beam_size), n_best=k)


def generate(ots: OTSTransformer, external: torch.Tensor, external_mask: torch.Tensor | None = None,
             grammar_factory: GrammarFactory | None = None, max_len: int = 64, beam_size: int = 1
             ) -> list[list[int]]:
    if beam_size <= 1:
        return greedy_decode(ots, external, external_mask, grammar_factory, max_len)
    return beam_decode(ots, external, external_mask, grammar_factory, max_len, beam_size)
