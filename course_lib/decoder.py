"""The decoder: a Transformer that writes text, one token at a time.  Notebook 06.

The idea in one paragraph
-------------------------
A language model reads a text and gives, at every position, a probability for each token of the
vocabulary to come next. Generating is then a loop: read the text so far, turn the scores of the
last position into a distribution (a linear layer to vocabulary scores, then a softmax), draw a
token from it, append it, repeat. The model is a stack of *decoder* blocks: the encoder layer of
notebook 05 with one change, a **causal mask**, so that position t sees positions 0..t only.
That mask is what makes training efficient (one pass over a text trains the prediction at every
position at once, without peeking at the answer) and generation possible (a token's vector never
depends on tokens that do not exist yet, so it never needs recomputing: the **KV cache** keeps
the keys and values of the past and feeds the model the newest token only).

Three families (the notebook's last section)
--------------------------------------------
* decoder-only (GPT, Llama, Qwen): causal self-attention only; reads and writes one stream.
* encoder-only (BERT, notebook 05): full self-attention; reads, does not generate.
* encoder-decoder (the 2017 Transformer, T5): an encoder reads the input, a decoder writes the
  output and looks at the encoder's vectors through **cross-attention** (:class:`DecoderLayer`).
  GLM sits in between: one stack, full attention over the prompt, causal over the answer.

What learners implement (the marked regions; notebook 06, sections 1-8)
-----------------------------------------------------------------------
1. :meth:`Block.forward`            the GPT block: causal self-attention and an MLP, pre-norm
2. :class:`GPT` (``__init__``, :meth:`GPT.features`)   embeddings, blocks, final norm, tied LM head
3. :meth:`GPT.num_parameters`       the parameter count (a tied matrix counts once)
4. :func:`next_token_probs`         the last step: vocabulary scores -> probabilities, with a temperature
5. :func:`top_k_filter`, :func:`top_p_filter`   keep the k most likely tokens / the smallest set with mass >= p
6. :func:`sample_next_token`        greedy or random, reproducible with a ``torch.Generator``
7. :meth:`KVCache.update`           store the keys and values of the past, for fast generation
8. :meth:`DecoderLayer.forward`     self-attention, cross-attention to the encoder, feed-forward

Provided (read them, they call your code): :class:`GPTConfig`, :class:`GPTAttention`,
:class:`FusedLayerNorm`, :meth:`GPT.generate`, :func:`draw_from`, :func:`load_from_torch`, :class:`EncoderDecoder`.

Conventions
-----------
* Batch first: token ids (B, T) int64; vectors (B, T, d_model); inside attention (B, H, T, d_head).
* Masks as in notebook 04: boolean, True = "may attend"; padding masks (B, T) are True at real tokens.
* Ties: :func:`top_k_filter` keeps the lower token id when two scores are equal at the boundary,
  and greedy decoding (``argmax``) picks the lowest id among equal best scores.
* Generation longer than ``block_size``: without a cache the model reads the last ``block_size``
  tokens at every step. With a cache, learned positions make a sliding window impossible (every
  cached key was computed at its old position), so when the cache is full :meth:`GPT.generate`
  restarts it from the last ``block_size // 2`` tokens. Up to ``block_size`` tokens in all, the
  two give identical results; beyond that they differ (the cached path sees less context).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import MultiHeadAttention
from course_lib.embeddings import Embedding
from course_lib.encoder import Encoder, FeedForward, LayerNorm
from course_lib.positional import LearnedPositionalEmbedding, sinusoidal_table

__all__ = [
    "GPTConfig",
    "GPTAttention",
    "FusedLayerNorm",
    "KVCache",
    "Block",
    "GPT",
    "DecoderLayer",
    "next_token_probs",
    "top_k_filter",
    "top_p_filter",
    "sample_next_token",
    "draw_from",
    "load_from_torch",
    "EncoderDecoder",
]


# ---------------------------------------------------------------------------------------------
# Provided: the configuration
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class GPTConfig:
    """The sizes of a :class:`GPT`. GPT-2 small is vocab 50257, block 1024, 12 layers, 12 heads, 768 wide.

    Attributes:
        vocab_size: number of token ids (the embedding's rows and the LM head's outputs).
        block_size: the longest text the model reads at once (positions 0 .. block_size - 1).
        n_layer: number of :class:`Block` s.
        n_head: attention heads per block; d_model must be a multiple of it.
        d_model: the width of every token vector.
        d_ff: the MLP's hidden width; None means 4 * d_model (set in ``__post_init__``).
        dropout: dropout probability during training (0 = off).
        bias: whether the linear layers inside the blocks have biases.
        tie_weights: share one matrix between the token embedding and the LM head.
    """

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int | None = None
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.d_model % self.n_head != 0:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model


# ---------------------------------------------------------------------------------------------
# Provided: notebook 04's attention, taught to use this notebook's KV cache
# ---------------------------------------------------------------------------------------------

class GPTAttention(MultiHeadAttention):
    """Notebook 04's :class:`~course_lib.attention.MultiHeadAttention`, with two additions.

    * ``kv_cache`` may be a :class:`KVCache` (below), whose :meth:`KVCache.update` you write in
      §7, as well as 04's dict cache.
    * One new token needs no causal mask (every cached key is in its past); on the CPU its single
      query row is computed with two small matrix products, cheaper there than the fused kernel.

    Everything else (q_proj, k_proj, v_proj, out_proj, split/merge heads, the fast path) is 04's.
    """

    def _use_cache(self, k, v, kv_cache, self_attention):
        if isinstance(kv_cache, KVCache):
            return kv_cache.update(k, v)                     # (B, H, T_seen, d_head) each
        return super()._use_cache(k, v, kv_cache, self_attention)

    def _attend(self, q, k, v, mask, is_causal, return_weights):
        if q.shape[-2] == 1 and mask is None:
            is_causal = False                                # a single newest token sees every key
            if (self.use_fast_path and not return_weights and q.device.type == "cpu"
                    and (self.dropout == 0.0 or not self.training)):
                # One query row on the CPU: two small matrix products cost a fraction of the fused
                # kernel's fixed set-up (it is built for long sequences); on a GPU the kernel wins.
                weights = torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)  # (B, H, 1, T_k)
                return weights @ v, None                                                         # (B, H, 1, d_head)
        return super()._attend(q, k, v, mask, is_causal, return_weights)


class FusedLayerNorm(LayerNorm):
    """Notebook 05's :class:`~course_lib.encoder.LayerNorm` (same parameters, same result), computed
    by PyTorch's fused ``F.layer_norm`` while ``use_fast_path`` is True (the default), as 04's
    attention does with its fast path: one kernel instead of about eight small operations, which
    matters when generating one token at a time. Set ``use_fast_path = False`` on a module (or
    on the class) to run your own ``LayerNorm.forward`` instead.
    """

    use_fast_path = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_fast_path:
            return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)
        return super().forward(x)


# ---------------------------------------------------------------------------------------------
# §7 The KV cache (used by GPT.features and GPT.generate)
# ---------------------------------------------------------------------------------------------

class KVCache:
    """The keys and values one attention layer has computed so far, kept for the next tokens.

    With a causal mask, the key and value of token t depend on tokens 0..t only: adding a token
    never changes them. So when generating, each layer stores them once and the model only has
    to process the newest token, whose query is compared with every stored key.

    The storage is allocated once, at the first :meth:`update`, as two tensors of shape
    (B, n_heads, max_len, d_head); ``length`` says how many positions are filled. Writing into a
    preallocated buffer (instead of ``torch.cat`` at every step) copies only the new entries.

    Attributes:
        max_len: how many positions fit (the model's block_size).
        keys, values: the buffers, (B, n_heads, max_len, d_head), or None before the first update.
        length: the number of positions stored so far, which is also the position of the next
            token the model will read.
    """

    def __init__(self, max_len: int) -> None:
        if max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        self.max_len = max_len
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.length = 0

    def _allocate_like(self, k: torch.Tensor) -> None:
        """Provided: the two buffers, shaped (B, H, max_len, d_head) like k, same dtype and device."""
        batch, heads, _, d_head = k.shape
        self.keys = torch.zeros(batch, heads, self.max_len, d_head, dtype=k.dtype, device=k.device)
        self.values = torch.zeros_like(self.keys)

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the keys and values of the new tokens; return those of every token so far.

        Args:
            k, v: the new tokens' keys and values, each (B, n_heads, T_new, d_head).

        Returns:
            ``(keys, values)``, each (B, n_heads, length, d_head) where ``length`` is the new
            length (old length + T_new): the stored ones first, the new ones last.

        Raises:
            ValueError: if the shapes disagree with each other or with what is stored, or if the
                new tokens do not fit (length + T_new > max_len).
        """
        if k.dim() != 4 or k.shape != v.shape:
            raise ValueError(f"k and v must both have shape (B, n_heads, T_new, d_head), got "
                             f"{tuple(k.shape)} and {tuple(v.shape)}")
        if self.keys is None:
            self._allocate_like(k)
        elif k.shape[:2] != self.keys.shape[:2] or k.shape[-1] != self.keys.shape[-1]:
            raise ValueError(f"new keys of shape {tuple(k.shape)} do not fit a cache of shape {tuple(self.keys.shape)}")
        if self.length + k.shape[-2] > self.max_len:
            raise ValueError(f"the cache is full: {self.length} positions stored, {k.shape[-2]} more do not fit "
                             f"in max_len={self.max_len}")
        # YOUR CODE HERE (notebook 06, §7)
        raise NotImplementedError('KVCache.update() is not written yet (notebook 06, §7). Hint: Copy k and v into the buffers at the positions right after the stored ones, move `length` forward by the number of new tokens, and return views of the buffers up to the new length.')

    def __repr__(self) -> str:
        shape = None if self.keys is None else tuple(self.keys.shape)
        return f"KVCache(length={self.length}, max_len={self.max_len}, buffers={shape})"


# ---------------------------------------------------------------------------------------------
# §1 The GPT block: causal self-attention and an MLP, pre-norm
# ---------------------------------------------------------------------------------------------

class Block(nn.Module):
    """One decoder block of a GPT: 05's pre-norm encoder layer with a causal mask.

    ::

        x = x + dropout(attn(norm1(x), causal))      # every token gathers from its past
        x = x + dropout(mlp(norm2(x)))               # then thinks about it, on its own

    Attributes:
        norm1, norm2: :class:`FusedLayerNorm` (05's ``LayerNorm(d_model)`` on PyTorch's fused kernel).
        attn: a :class:`GPTAttention` (04's multi-head attention) with ``n_head`` heads.
        mlp: 05's ``FeedForward(d_model, d_ff, dropout, activation="gelu")`` (GELU, as GPT-2).
        dropout: ``nn.Dropout`` on each branch's output before it is added (GPT-2's resid_pdrop).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm1 = FusedLayerNorm(d)
        self.attn = GPTAttention(d, config.n_head, bias=config.bias, dropout=config.dropout)
        self.norm2 = FusedLayerNorm(d)
        self.mlp = FeedForward(d, config.d_ff, config.dropout, activation="gelu", bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, *, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Args:
            x: (B, T, d_model), the residual stream.
            kv_cache: None, or this block's :class:`KVCache` (generation): hand it to the attention.

        Returns:
            (B, T, d_model). Output t depends on inputs 0..t only.
        """
        # YOUR CODE HERE (notebook 06, §1)
        raise NotImplementedError("Block.forward() is not written yet (notebook 06, §1). Hint: Two residual steps as in 05's pre-norm layer: add to x the attention of norm1(x), asking 04's attention to hide the future and passing the cache on, then add the MLP of norm2(x); each branch goes through self.dropout before being added.")


# ---------------------------------------------------------------------------------------------
# §2-3 The GPT: embeddings, blocks, final norm, language-model head
# ---------------------------------------------------------------------------------------------

class GPT(nn.Module):
    """A decoder-only Transformer language model (GPT-2's architecture, small).

    ::

        idx (B, T) ──► tok_emb + pos_emb ──► dropout ──► blocks[0] ... blocks[n_layer-1] ──► norm  = features (B, T, d_model)
                                                                                                   │
                                                                          lm_head (tied to tok_emb) ──► logits (B, T, vocab)

    Attributes:
        config: the :class:`GPTConfig`.
        tok_emb: 02's ``Embedding(vocab_size, d_model)``: one vector per token id.
        pos_emb: 03's ``LearnedPositionalEmbedding(block_size, d_model)``: one vector per position.
        drop: ``nn.Dropout(config.dropout)`` on the sum of the two embeddings.
        blocks: an ``nn.ModuleList`` of ``n_layer`` :class:`Block` s.
        norm: the final :class:`FusedLayerNorm` (05's ``LayerNorm(d_model)``): pre-norm blocks leave
            their output un-normalised.
        lm_head: ``nn.Linear(d_model, vocab_size, bias=False)``; with ``tie_weights`` its weight
            *is* ``tok_emb.weight`` (the same Parameter object, not a copy).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        # YOUR CODE HERE (notebook 06, §2)
        raise NotImplementedError('GPT.__init__() is not written yet (notebook 06, §2). Hint: Create tok_emb, pos_emb, drop, blocks (an nn.ModuleList of n_layer separate Blocks), norm and lm_head as listed in the docstring; with config.tie_weights, make lm_head use the very same Parameter as the token embedding (an assignment, not a copy).')
        self._init_weights()

    # -- provided ---------------------------------------------------------------------------------

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights, zero biases, and the projections that end
        a residual branch scaled down by 1/sqrt(2 n_layer), so that the residual stream's variance
        does not grow with depth."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (Embedding, nn.Embedding, LearnedPositionalEmbedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        for name, parameter in self.named_parameters():
            if name.endswith("attn.out_proj.weight") or name.endswith("mlp.linear2.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    def new_kv_cache(self) -> list[KVCache]:
        """One empty :class:`KVCache` per block, each for up to ``block_size`` positions."""
        return [KVCache(self.config.block_size) for _ in self.blocks]

    # -- the forward pass ---------------------------------------------------------------------------

    def features(self, idx: torch.Tensor, *, kv_cache: list[KVCache] | None = None) -> torch.Tensor:
        """The final hidden vectors: embeddings, every block, the final norm (no LM head).

        Args:
            idx: token ids, (B, T) int64, each in [0, vocab_size).
            kv_cache: None, or the list from :meth:`new_kv_cache` (one cache per block). With a
                cache, ``idx`` holds the *new* tokens only; they sit at positions
                ``start .. start + T - 1`` where ``start = kv_cache[0].length`` is the number of
                tokens already cached.

        Returns:
            (B, T, d_model): what the LM head reads (the reward model of notebook 09 reads it too).

        Raises:
            ValueError: if idx is not (B, T) integer, or the positions run past block_size.
        """
        if idx.dim() != 2 or idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(f"idx must be a (batch, seq) tensor of integer token ids, got "
                             f"{tuple(idx.shape)} {idx.dtype}")
        if kv_cache is not None and len(kv_cache) != len(self.blocks):
            raise ValueError(f"kv_cache must hold one KVCache per block ({len(self.blocks)}), got {len(kv_cache)}")
        start = 0 if kv_cache is None else kv_cache[0].length     # the position of idx[:, 0]
        if start + idx.shape[1] > self.config.block_size:
            raise ValueError(f"positions {start} .. {start + idx.shape[1] - 1} do not fit in block_size="
                             f"{self.config.block_size}: crop the input to its last {self.config.block_size} tokens")
        # YOUR CODE HERE (notebook 06, §2)
        raise NotImplementedError('GPT.features() is not written yet (notebook 06, §2). Hint: Add the token vectors of idx to the position vectors of positions start .. start+T-1 (rows of pos_emb.weight), apply drop, run the blocks in order (block i gets kv_cache[i] when there is a cache), and finish with the final norm.')

    def forward(self, idx: torch.Tensor, *, kv_cache: list[KVCache] | None = None) -> torch.Tensor:
        """Vocabulary scores at every position: ``lm_head(features(idx))``.

        Args:
            idx: (B, T) token ids; kv_cache: as in :meth:`features`.

        Returns:
            logits (B, T, vocab_size): row t scores every token as the one that follows idx[:, :t+1].
        """
        return self.lm_head(self.features(idx, kv_cache=kv_cache))

    def num_parameters(self, non_embedding: bool = True) -> int:
        """How many numbers the model learns.

        Args:
            non_embedding: leave out the vocabulary and position tables (``tok_emb.weight``,
                ``pos_emb.weight``, and ``lm_head.weight`` when it is a separate matrix), as the
                scaling laws of Kaplan et al. (2020) do: what remains, the blocks' weights, is what
                the model's size and compute per token are measured by. With False, count everything.

        Returns:
            The count; a Parameter shared by two modules (tied weights) counts once.
        """
        # YOUR CODE HERE (notebook 06, §3)
        raise NotImplementedError("GPT.num_parameters() is not written yet (notebook 06, §3). Hint: Add up numel() over the model's parameters (self.parameters() lists a shared Parameter only once); with non_embedding, subtract the token and position tables, and the LM head's matrix too when it is not the token table itself.")

    # -- provided: generation ------------------------------------------------------------------------

    @torch.no_grad()   # not inference_mode: callers (RLHF in 09) train on the ids it returns
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        eos_id: int | None = None,
    ) -> torch.Tensor:
        """Continue each text of ``idx`` by up to ``max_new_tokens`` tokens.

        Each step reads the text (all of it, or with a cache only the newest token), turns the
        last position's scores into the next token with your :func:`sample_next_token`, and
        appends it. The model is put in evaluation mode (no dropout) and restored afterwards.

        Args:
            idx: (B, T) int64 prompt ids, T >= 1.
            max_new_tokens: how many tokens to add (>= 0).
            temperature, top_k, top_p, generator: passed to :func:`sample_next_token`
                (temperature 0 = greedy).
            use_cache: feed only the newest token to the model and keep the past keys and
                values in a :class:`KVCache` per block (fast), or re-read the whole text (slow).
            eos_id: a token that ends a text: after it, that row only receives eos_id, and the
                loop stops early when every row has ended.

        Returns:
            (B, T + n) int64 with n <= max_new_tokens (n < max_new_tokens only when every row
            reached eos_id). ``idx`` itself is not modified.
        """
        if idx.dim() != 2 or idx.shape[1] == 0 or idx.dtype.is_floating_point:
            raise ValueError(f"idx must be a (batch, seq >= 1) tensor of token ids, got {tuple(idx.shape)} {idx.dtype}")
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        block = self.config.block_size
        was_training = self.training
        self.eval()
        try:
            finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
            cache: list[KVCache] | None = None
            for _ in range(max_new_tokens):
                if not use_cache:
                    hidden = self.features(idx[:, -block:])                   # the whole (cropped) text
                elif cache is not None and cache[0].length < block:
                    hidden = self.features(idx[:, -1:], kv_cache=cache)       # the newest token only
                else:
                    # First step (the prompt), or a full cache: start a new one from the last
                    # tokens. Half a block leaves room for block/2 cheap steps before the next restart.
                    keep = min(idx.shape[1], block if cache is None else block // 2)
                    cache = self.new_kv_cache()
                    hidden = self.features(idx[:, -keep:], kv_cache=cache)
                logits = self.lm_head(hidden[:, -1])                          # (B, vocab): the last position only
                next_ids = sample_next_token(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                             generator=generator).to(idx.device, torch.long)
                if eos_id is not None:
                    next_ids = next_ids.masked_fill(finished, eos_id)
                    finished = finished | (next_ids == eos_id)
                idx = torch.cat([idx, next_ids[:, None]], dim=1)              # (B, T + 1)
                if eos_id is not None and bool(finished.all()):
                    break
        finally:
            self.train(was_training)
        return idx


# ---------------------------------------------------------------------------------------------
# §4-6 From scores to a token: probabilities, filters, sampling
# ---------------------------------------------------------------------------------------------

def next_token_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The last step of a language model: vocabulary scores -> a probability distribution.

    ``softmax(logits / temperature)`` over the last axis. Dividing the scores by a temperature
    below 1 stretches their differences (the distribution sharpens towards the best token; the
    limit T -> 0 is greedy); above 1 it flattens them (more variety, more mistakes).

    Args:
        logits: scores, (..., vocab_size), e.g. (B, vocab) for the last position of each text.
            -inf scores (filtered-out tokens) get probability exactly 0.
        temperature: > 0.

    Returns:
        Probabilities (..., vocab_size), float32 (float64 if logits are float64), each row
        summing to 1.

    Raises:
        ValueError: if temperature <= 0 (use greedy decoding for "temperature 0").
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (temperature 0 means greedy: take the argmax)")
    # YOUR CODE HERE (notebook 06, §4)
    raise NotImplementedError('next_token_probs() is not written yet (notebook 06, §4). Hint: Divide the scores by the temperature first and only then normalise them with a softmax along the vocabulary axis; do the arithmetic in at least float32.')


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k highest scores of each row; set the others to -inf (probability 0 after softmax).

    Exactly k tokens survive per row (when k < vocab_size): at a tie on the boundary the lower
    token id is kept. Most generated nonsense comes from the long tail of unlikely tokens, each
    rare but many in total; top-k cuts that tail at a fixed size.

    Args:
        logits: (..., vocab_size).
        k: how many tokens to keep, >= 1; k >= vocab_size keeps everything.

    Returns:
        A new tensor shaped like logits: the kept scores unchanged, -inf elsewhere.

    Raises:
        ValueError: if k < 1.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if k >= logits.shape[-1]:
        return logits.clone()
    # YOUR CODE HERE (notebook 06, §5)
    raise NotImplementedError('top_k_filter() is not written yet (notebook 06, §5). Hint: Rank each row from best to worst (a stable sort keeps the lower id first at ties), mark the first k ranks as kept in vocabulary order, and fill every other position with -inf.')


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability adds up to >= p.

    Sort the tokens from most to least likely and walk down the list, adding up probabilities
    (``softmax(logits)``); the token whose probability makes the total reach p is still kept, and
    every token after it is dropped. So the most likely token always survives, and the set is
    small when the model is sure, large when it hesitates (unlike top-k's fixed size). At equal
    probabilities the lower id comes first.

    Args:
        logits: (..., vocab_size); -inf entries have probability 0.
        p: in (0, 1]; p = 1 keeps everything.

    Returns:
        A new tensor shaped like logits: the kept scores unchanged, -inf elsewhere.

    Raises:
        ValueError: if p is not in (0, 1].
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if p == 1.0:
        return logits.clone()
    # YOUR CODE HERE (notebook 06, §5)
    raise NotImplementedError('top_p_filter() is not written yet (notebook 06, §5). Hint: Sort each row from most to least likely (stable), compute the softmax probabilities in that order and, for each token, the total probability of the tokens ranked before it; drop the tokens for which that total has already reached p, then put the decision back in vocabulary order.')


def draw_from(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Provided: one random token id per row of ``probs`` (..., vocab), drawn from `generator`.

    Returns (...) int64 on probs' device. A generator lives on one device: the draw happens
    there (a CPU generator can serve GPU probabilities), so the same seed gives the same tokens.
    Without a generator, PyTorch's global one is used (``torch.manual_seed`` sets it).
    """
    device = generator.device if generator is not None else probs.device
    flat = probs.reshape(-1, probs.shape[-1]).to(device)
    ids = torch.multinomial(flat, num_samples=1, generator=generator)      # (N, 1)
    return ids.reshape(probs.shape[:-1]).to(probs.device)


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose the next token of each row from its scores.

    * ``temperature == 0``: greedy, the highest score (the lowest id among equal best scores);
      no randomness, the filters do not matter.
    * otherwise: divide the scores by the temperature, apply :func:`top_k_filter` (if top_k) and
      then :func:`top_p_filter` (if top_p) to the divided scores, turn them into probabilities
      with :func:`next_token_probs`, and draw one token with :func:`draw_from` and `generator`.

    Args:
        logits: (..., vocab_size), e.g. (B, vocab).
        temperature: >= 0.
        top_k: None, or keep that many tokens.
        top_p: None, or keep the nucleus of mass p.
        generator: a ``torch.Generator``: the same seed gives the same tokens.

    Returns:
        (...) int64 token ids, e.g. (B,).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    # YOUR CODE HERE (notebook 06, §6)
    raise NotImplementedError('sample_next_token() is not written yet (notebook 06, §6). Hint: At temperature 0 return the argmax of each row; otherwise scale the scores by the temperature, apply the filters that were asked for (top-k first, then top-p), get the probabilities with next_token_probs and draw with draw_from, passing the generator on.')


# ---------------------------------------------------------------------------------------------
# §8 The decoder layer of an encoder-decoder: self-attention, cross-attention, feed-forward
# ---------------------------------------------------------------------------------------------

class DecoderLayer(nn.Module):
    """One decoder layer of the original Transformer. Equal to ``nn.TransformerDecoderLayer(d_model,
    n_heads, d_ff, dropout, activation, batch_first=True, norm_first=norm_first)`` with the same
    weights (:func:`load_from_torch` copies them).

    Three sub-layers, each in a residual connection with a LayerNorm (after it, post-norm; before
    it, pre-norm, as in 05):

    1. causal self-attention over the target tokens written so far (``self_attn``);
    2. **cross-attention**: queries from the target, keys and values from ``memory``, the
       encoder's output (``cross_attn``): each target token looks up the source tokens it needs;
    3. the feed-forward network (``ff``).

    ::

        post-norm:  x = norm1(x + drop1(self_attn(x)))          pre-norm:  x = x + drop1(self_attn(norm1(x)))
                    x = norm2(x + drop2(cross_attn(x, memory)))            x = x + drop2(cross_attn(norm2(x), memory))
                    x = norm3(x + drop3(ff(x)))                            x = x + drop3(ff(norm3(x)))

    Attributes:
        self_attn, cross_attn: 04's ``MultiHeadAttention(d_model, n_heads, bias, dropout)``.
        ff: 05's ``FeedForward(d_model, d_ff, dropout, activation=activation)``.
        norm1, norm2, norm3: 05's ``LayerNorm(d_model, eps)``.
        dropout1, dropout2, dropout3: dropout on each sub-layer's output.
        norm_first: the wiring (False: post-norm, the 2017 paper and PyTorch's default).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, *,
                 norm_first: bool = False, activation: str = "relu", bias: bool = True,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.d_model = d_model
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation=activation, bias=bias)
        self.norm1 = LayerNorm(d_model, eps)
        self.norm2 = LayerNorm(d_model, eps)
        self.norm3 = LayerNorm(d_model, eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        *,
        causal: bool = True,
        padding_mask: torch.Tensor | None = None,
        memory_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args:
            x: the target side, (B, T, d_model).
            memory: the encoder's output, (B, S, d_model).
            causal: hide the future in the self-attention (True when training to generate).
            padding_mask: optional bool (B, T), True at real target tokens (a key mask of the
                self-attention).
            memory_padding_mask: optional bool (B, S), True at real source tokens (a key mask of
                the cross-attention).

        Returns:
            (B, T, d_model).
        """
        _validate_decoder_inputs(x, memory, padding_mask, memory_padding_mask, self.d_model)
        # YOUR CODE HERE (notebook 06, §8)
        raise NotImplementedError('DecoderLayer.forward() is not written yet (notebook 06, §8). Hint: Build the two key masks (padding masks become (B, 1, 1, length)); the self-attention also hides the future; then wire the three sub-layers as the docstring draws them, for both values of norm_first. In the cross-attention, the queries come from the target and the keys and values from memory.')


def _validate_decoder_inputs(x, memory, padding_mask, memory_padding_mask, d_model) -> None:
    """Clear errors for the usual shape mistakes (learners need not write these)."""
    for name, t in (("x", x), ("memory", memory)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[-1] != d_model:
            raise ValueError(f"{name} must have shape (batch, seq, {d_model}), got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if x.shape[0] != memory.shape[0]:
        raise ValueError(f"x and memory must have the same batch size, got {x.shape[0]} and {memory.shape[0]}")
    for name, mask, t in (("padding_mask", padding_mask, x), ("memory_padding_mask", memory_padding_mask, memory)):
        if mask is None:
            continue
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != tuple(t.shape[:2]):
            raise ValueError(f"{name} must be a bool tensor of shape {tuple(t.shape[:2])} (True at real tokens), got "
                             f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}"
                             f"{'' if not isinstance(mask, torch.Tensor) else ' ' + str(mask.dtype)}")


# ---------------------------------------------------------------------------------------------
# Provided: PyTorch's weights into ours
# ---------------------------------------------------------------------------------------------

def _copy(param: torch.Tensor, value: torch.Tensor, key: str) -> None:
    if tuple(param.shape) != tuple(value.shape):
        raise ValueError(f"{key}: PyTorch's shape {tuple(value.shape)} does not match ours {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(value)


def _load_attention(attn: MultiHeadAttention, state: Mapping[str, torch.Tensor], prefix: str) -> None:
    weights = state[prefix + "in_proj_weight"].chunk(3, dim=0)                 # q; k; v, each (d, d)
    biases = state[prefix + "in_proj_bias"].chunk(3, dim=0) if prefix + "in_proj_bias" in state else (None,) * 3
    for name, w, b in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
        projection = getattr(attn, name)
        _copy(projection.weight, w, prefix + name)
        if projection.bias is not None:
            _copy(projection.bias, b, prefix + name + ".bias")
    _copy(attn.out_proj.weight, state[prefix + "out_proj.weight"], prefix + "out_proj.weight")
    if attn.out_proj.bias is not None:
        _copy(attn.out_proj.bias, state[prefix + "out_proj.bias"], prefix + "out_proj.bias")


def load_from_torch(module: nn.Module, source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy PyTorch's weights into ours, so that both compute the same function (in place; returns `module`).

    * a :class:`DecoderLayer` from an ``nn.TransformerDecoderLayer`` (or its ``state_dict()``):
      ``self_attn`` -> ``self_attn``, ``multihead_attn`` -> ``cross_attn``, ``linear1``/``linear2``
      -> ``ff.linear1``/``ff.linear2``, ``norm1..3`` -> ``norm1..3``;
    * a :class:`Block` from a pre-norm ``nn.TransformerEncoderLayer``: ``self_attn`` -> ``attn``,
      ``linear1``/``linear2`` -> ``mlp.linear1``/``mlp.linear2``, ``norm1``/``norm2`` -> same.

    PyTorch fuses the three attention input projections into ``in_proj_weight`` (3 d_model,
    d_model), stacked q; k; v: its row blocks become ``q_proj``, ``k_proj``, ``v_proj``.
    """
    state = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    if isinstance(module, DecoderLayer):
        pairs = [("self_attn", "self_attn."), ("cross_attn", "multihead_attn.")]
        others = [("ff.linear1", "linear1"), ("ff.linear2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2"),
                  ("norm3", "norm3")]
    elif isinstance(module, Block):
        pairs = [("attn", "self_attn.")]
        others = [("mlp.linear1", "linear1"), ("mlp.linear2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")]
    else:
        raise TypeError(f"load_from_torch expects a DecoderLayer or a Block, got {type(module).__name__}")
    for ours, prefix in pairs:
        _load_attention(module.get_submodule(ours), state, prefix)
    for ours, theirs in others:
        target = module.get_submodule(ours)
        _copy(target.weight, state[f"{theirs}.weight"], f"{theirs}.weight")
        if getattr(target, "bias", None) is not None:
            _copy(target.bias, state[f"{theirs}.bias"], f"{theirs}.bias")
    return module


# ---------------------------------------------------------------------------------------------
# Provided: an encoder-decoder Transformer for small sequence-to-sequence tasks (the notebook's toy task)
# ---------------------------------------------------------------------------------------------

class EncoderDecoder(nn.Module):
    """The 2017 Transformer, small: 05's :class:`~course_lib.encoder.Encoder` reads the source, a
    stack of your :class:`DecoderLayer` s writes the target while attending to it.

    One vocabulary serves both sides (shared embedding table, also tied to the output layer), with
    03's sinusoidal positions. Pre-norm by default (trains without warm-up at this size).

    Args:
        vocab_size: number of token ids (source and target).
        d_model, n_heads, n_layers, d_ff, dropout: sizes (n_layers for each of the two stacks).
        max_len: the longest source or target.
        pad_id: the padding token id (its embedding is never trained towards anything useful).
    """

    def __init__(self, vocab_size: int, *, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 d_ff: int = 128, dropout: float = 0.0, max_len: int = 64, pad_id: int = 0,
                 norm_first: bool = True) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.d_model = d_model
        self.emb = Embedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_table(max_len, d_model), persistent=False)
        self.encoder = Encoder(n_layers, d_model, n_heads, d_ff, dropout, norm_first=norm_first, activation="gelu")
        self.decoder = nn.ModuleList([
            DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first=norm_first, activation="gelu")
            for _ in range(n_layers)])
        self.dec_norm = LayerNorm(d_model) if norm_first else nn.Identity()
        self.drop = nn.Dropout(dropout)
        with torch.no_grad():
            self.emb.weight.normal_(0.0, d_model ** -0.5)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        # Scaled by sqrt(d_model) as in the paper, so the tied table's small rows are not drowned by positions.
        return self.drop(self.emb(ids) * math.sqrt(self.d_model) + self.positions[:ids.shape[1]])

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) ids -> (memory (B, S, d_model), src_mask (B, S) True at real tokens)."""
        src_mask = src != self.pad_id
        return self.encoder(self._embed(src), src_mask), src_mask

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """tgt (B, T) ids (starting with BOS) -> logits (B, T, vocab) for the next target token."""
        tgt_mask = tgt != self.pad_id
        x = self._embed(tgt)
        for layer in self.decoder:
            x = layer(x, memory, causal=True, padding_mask=tgt_mask, memory_padding_mask=src_mask)
        return self.dec_norm(x) @ self.emb.weight.T                            # tied output layer

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, vocab) for every target position at once."""
        memory, src_mask = self.encode(src)
        return self.decode(tgt, memory, src_mask)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int = 24) -> torch.Tensor:
        """Greedy decoding: (B, S) source ids -> (B, <= max_len + 1) target ids starting with BOS."""
        was_training = self.training
        self.eval()
        memory, src_mask = self.encode(src)
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            next_ids = self.decode(out, memory, src_mask)[:, -1].argmax(-1)
            next_ids = next_ids.masked_fill(done, self.pad_id)
            out = torch.cat([out, next_ids[:, None]], dim=1)
            done |= next_ids == eos_id
            if bool(done.all()):
                break
        self.train(was_training)
        return out

    @torch.no_grad()
    def cross_attention_maps(self, src: torch.Tensor, tgt: torch.Tensor) -> list[torch.Tensor]:
        """The cross-attention weights of every decoder layer, each (B, n_heads, T, S).

        Hooks record what each layer's ``cross_attn`` receives during one forward pass; the
        weights are then recomputed from those inputs with ``return_weights=True``.
        """
        seen: list[tuple[tuple, dict]] = []

        def remember(module, args, kwargs):
            seen.append((args, dict(kwargs)))

        hooks = [layer.cross_attn.register_forward_pre_hook(remember, with_kwargs=True) for layer in self.decoder]
        was_training = self.training
        self.eval()
        try:
            self(src, tgt)
        finally:
            for hook in hooks:
                hook.remove()
            self.train(was_training)
        maps = []
        for layer, (args, kwargs) in zip(self.decoder, seen):
            kwargs["return_weights"] = True
            maps.append(layer.cross_attn(*args, **kwargs)[1])
        return maps
