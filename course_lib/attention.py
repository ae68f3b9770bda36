"""Attention: how each token gathers information from the others.  Notebook 04.

The idea in one paragraph
-------------------------
Every token asks a question (its *query* q), offers a label (its *key* k) and carries a content
(its *value* v). A token's output is an average of all the values, weighted by how well its query
matches each key: a *soft* dictionary lookup, where a hard lookup would return the value of the
one best-matching key. In matrices, for n_q queries and n_k keys::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V        # (n_q, d_v)

Q K^T holds every query-key dot product (n_q, n_k); dividing by sqrt(d_k) keeps their spread
independent of the vector size; the mask forbids some pairs (the future, padding); the softmax
turns each row into weights that sum to 1; multiplying by V averages the values.

What learners implement (the marked regions; notebook 04, sections 1-5)
-----------------------------------------------------------------------
1. :func:`softmax`                        numerically stable, fully masked rows give zeros
2. :func:`causal_mask`, :func:`padding_mask`   which keys each query may see
3. :func:`scaled_dot_product_attention`   the formula above, boolean or additive masks
4. :func:`split_heads`, :func:`merge_heads`    (B, T, d_model) <-> (B, n_heads, T, d_head)
5. :class:`MultiHeadAttention`            projections, heads, output projection

Conventions (the same as PyTorch's, so that the two can be compared and swapped)
--------------------------------------------------------------------------------
* Shapes are batch first: (batch, seq, d_model); inside attention (batch, heads, seq, d_head).
* A **boolean mask** says True = "may attend" (as ``F.scaled_dot_product_attention``; note that
  ``nn.MultiheadAttention``'s ``key_padding_mask`` and ``attn_mask`` use the opposite, True =
  "blocked"). An **additive mask** is a float tensor added to the scores: 0 where attending is
  allowed, ``-inf`` where it is not (any other value shifts the scores, e.g. a bias). Masks
  broadcast to the scores' shape (..., n_q, n_k).
* A query whose every key is masked (a "fully masked row": say, a padding query in a sequence
  of length 0) has no one to attend to. Here it gets **all-zero weights and a zero output**,
  never NaN (PyTorch 2.5+ does the same), and no gradient flows through it.
* A padding mask from :func:`padding_mask` (batch, n_k) is a mask over the *keys*: broadcast it
  as ``pad[:, None, None, :]`` against scores (batch, heads, n_q, n_k), or hand it to
  :class:`MultiHeadAttention` as ``key_mask=pad``, which does exactly that.
* :func:`causal_mask` is aligned bottom-right: with n_q queries and n_k >= n_q keys, the queries
  are the *last* n_q positions of the sequence (query i sits at position n_k - n_q + i). For
  n_q == n_k it is the usual lower triangle; for n_q < n_k it is what a KV cache needs (new
  tokens see all cached tokens and the new ones up to themselves).
* :class:`MultiHeadAttention` keeps four separate ``nn.Linear`` layers ``q_proj``, ``k_proj``,
  ``v_proj`` and ``out_proj`` (not one fused (3 d_model, d_model) matrix): it reads more
  clearly, cross-attention projects a different input for keys and values, and later notebooks
  reach the projections by name (LoRA in notebook 08). :func:`load_from_torch` copies the
  weights of an ``nn.MultiheadAttention``, whose fused ``in_proj_weight`` stacks q; k; v.

Fast path
---------
``MultiHeadAttention.use_fast_path`` (default True) computes the attention core with PyTorch's
fused ``F.scaled_dot_product_attention`` (the same formula, without materialising the
(n_q, n_k) matrix when it can: much less memory and faster). Set it to False to run *your*
:func:`scaled_dot_product_attention` instead; ``return_weights=True`` always uses yours,
since the fused kernel never forms the weights. The two paths give the same outputs and
gradients (tests/test_attention_extra.py).

KV cache (used by notebook 06 to generate text quickly)
-------------------------------------------------------
``forward(..., kv_cache=cache)`` with ``cache`` a dict (start with ``{}``) updates the dict in
place: after the call, ``cache["k"]`` and ``cache["v"]`` hold the keys and values of every
position seen so far, each (B, n_heads, T_seen, d_head). In self-attention, the keys and values
of the new tokens are appended, so one can feed only the new tokens::

    cache = {}
    out_prompt = mha(prompt, is_causal=True, kv_cache=cache)      # (B, T, d_model)
    out_next = mha(next_token, is_causal=True, kv_cache=cache)    # (B, 1, d_model)
    # == mha(torch.cat([prompt, next_token], 1), is_causal=True)[:, -1:]

In cross-attention (``key`` given) the cache stores the projected keys and values on the first
call and reuses them afterwards (the encoder output does not change while decoding).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "softmax",
    "causal_mask",
    "padding_mask",
    "scaled_dot_product_attention",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
    "load_from_torch",
]


# ---------------------------------------------------------------------------------------------
# §1 A numerically stable softmax
# ---------------------------------------------------------------------------------------------

def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along `dim`, computed without overflow.

    exp(1000) is inf in float32 and float64 alike, so exp(x) / sum(exp(x)) returns NaN for large
    scores. Subtracting the maximum m of each slice first changes nothing mathematically
    (exp(x_i - m) / sum_j exp(x_j - m): the factor exp(-m) cancels) and keeps every exponent
    <= 0, so nothing overflows and the largest term is exactly 1.

    Masked scores are -inf (exp(-inf) = 0: they get weight 0). A slice that is *entirely* -inf
    (a fully masked row) has no finite maximum; this softmax returns zeros for it (weights that
    sum to 0, not 1), never NaN.

    Args:
        x: scores of any shape, floating point (float16/32/64), possibly containing -inf.
        dim: the axis to normalise along (default: the last one).

    Returns:
        A tensor with x's shape, dtype and device; each slice along `dim` sums to 1 (or is all
        zeros where x was all -inf).

    Raises:
        TypeError: if x is not a floating-point tensor.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"softmax needs a floating-point tensor, got "
                        f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    # YOUR CODE HERE (notebook 04, §1)
    raise NotImplementedError("softmax() is not written yet (notebook 04, §1). Hint: Subtract the largest score of each slice (keepdim=True) before exponentiating, then divide by the slice's total; make an all -inf slice come out as zeros rather than NaN.")


# ---------------------------------------------------------------------------------------------
# §2 Masks: which keys may each query see?
# ---------------------------------------------------------------------------------------------

def causal_mask(n_q: int, n_k: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """The boolean mask that hides the future: query i may attend to keys 0 .. i (and no later).

    Aligned bottom-right: the n_q queries are the *last* n_q of the n_k positions, so query i
    sits at position ``n_k - n_q + i`` and may see key j exactly when ``j <= i + (n_k - n_q)``.
    With n_q == n_k (the usual case) this is the lower triangle, diagonal included::

        causal_mask(3)          causal_mask(2, 4)   (2 new tokens after 2 cached ones)
        [[T, F, F],             [[T, T, T, F],
         [T, T, F],              [T, T, T, T]]
         [T, T, T]]

    Args:
        n_q: number of queries (rows), >= 0.
        n_k: number of keys (columns), >= 0; default n_q.
        device: where the mask lives (default: the CPU).

    Returns:
        A bool tensor of shape (n_q, n_k), True where attending is allowed.

    Raises:
        ValueError: if a size is negative.
    """
    n_k = n_q if n_k is None else n_k
    if n_q < 0 or n_k < 0:
        raise ValueError(f"sizes must be >= 0, got n_q={n_q}, n_k={n_k}")
    # YOUR CODE HERE (notebook 04, §2)
    raise NotImplementedError('causal_mask() is not written yet (notebook 04, §2). Hint: Start from an (n_q, n_k) boolean tensor of ones on `device` and keep its lower triangle, shifting the diagonal by n_k - n_q so that the last query sees every key.')


def padding_mask(lengths: torch.Tensor | list[int], max_len: int | None = None) -> torch.Tensor:
    """The boolean key mask of a padded batch: True at the real tokens, False at the padding.

    A batch of sequences of different lengths is padded to one length; attention must not look
    at the padding. Row b is True at positions ``0 .. lengths[b] - 1`` and False after::

        padding_mask([3, 1], max_len=4)  ->  [[T, T, T, F],
                                              [T, F, F, F]]

    It is a mask over the **keys**: broadcast it as ``mask[:, None, None, :]`` against scores of
    shape (batch, heads, n_q, n_k), so that every query of sequence b ignores b's padded keys.
    (The padded *queries* still get outputs; they are ignored later, e.g. by the loss.)

    Args:
        lengths: the length of each sequence, a 1-D integer tensor or a list of ints, each >= 0.
        max_len: the padded length (default: the largest length); must be >= every length.

    Returns:
        A bool tensor of shape (batch, max_len), on the device of `lengths`.

    Raises:
        ValueError: if lengths is not 1-D, holds negative or non-integer values, or one is
            longer than max_len.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (one length per sequence), got shape {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else max_len
    if longest > max_len:
        raise ValueError(f"a sequence of length {longest} does not fit in max_len={max_len}")
    # YOUR CODE HERE (notebook 04, §2)
    raise NotImplementedError('padding_mask() is not written yet (notebook 04, §2). Hint: Compare a row of positions 0 .. max_len-1 with a column of lengths: broadcasting gives (batch, max_len), True where the position is before the end of that sequence.')


# ---------------------------------------------------------------------------------------------
# §3 Scaled dot-product attention
# ---------------------------------------------------------------------------------------------

def _check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            mask: torch.Tensor | None) -> torch.Tensor | None:
    """Shape and dtype checks with readable errors; returns the mask ready to use (an additive
    mask converted to q's dtype and device, a boolean one moved to q's device)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., seq, dim), got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same size d_k to be compared: "
                         f"q has {q.shape[-1]}, k has {k.shape[-1]} (shapes {tuple(q.shape)}, {tuple(k.shape)})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"there must be one value per key: k has {k.shape[-2]} rows, v has {v.shape[-2]} "
                         f"(shapes {tuple(k.shape)}, {tuple(v.shape)})")
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a tensor (boolean or float), got {type(mask).__name__}")
    scores_shape = (*q.shape[:-1], k.shape[-2])
    try:
        torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                         f"{scores_shape} (..., n_q, n_k)") from None
    if mask.dtype == torch.bool:
        return mask.to(q.device)
    if not mask.is_floating_point():
        raise TypeError(f"mask must be boolean (True = may attend) or floating point (added to the scores), "
                        f"got dtype {mask.dtype}")
    return mask.to(device=q.device, dtype=q.dtype)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k) + mask) v, for any number of leading (batch, head) dims.

    Args:
        q: queries, shape (..., n_q, d_k).
        k: keys, shape (..., n_k, d_k).
        v: values, shape (..., n_k, d_v).
        mask: None, or a tensor broadcastable to (..., n_q, n_k):
            * boolean: True where query i may attend to key j (as in PyTorch); False entries get
              weight exactly 0;
            * floating point: added to the scores (0 = allowed, -inf = blocked).
        return_weights: also return the attention weights.

    Returns:
        The output, shape (..., n_q, d_v); with ``return_weights=True`` the pair
        ``(output, weights)``, weights of shape (..., n_q, n_k), each row summing to 1 (or all
        zeros for a query whose every key is masked, whose output is then zero too).

    Raises:
        ValueError / TypeError: if the shapes do not fit together or the mask has another dtype.
    """
    mask = _check_attention_inputs(q, k, v, mask)
    # YOUR CODE HERE (notebook 04, §3)
    raise NotImplementedError('scaled_dot_product_attention() is not written yet (notebook 04, §3). Hint: Compare every query with every key (a matrix product with k transposed on its last two axes), divide by the square root of d_k, apply the mask (boolean: fill the forbidden scores with -inf; float: add it), normalise each row with your softmax, then average the values.')


# ---------------------------------------------------------------------------------------------
# §4 Splitting and merging heads
# ---------------------------------------------------------------------------------------------

def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Cut the last axis into n_heads chunks and make the heads a batch axis.

    Head h gets features ``h*d_head .. (h+1)*d_head - 1`` of every token (d_head = d_model //
    n_heads), and the head axis moves in front of the sequence axis, so that attention runs
    on each head independently::

        (B, T, d_model) -> view (B, T, n_heads, d_head) -> transpose (B, n_heads, T, d_head)

    Args:
        x: shape (..., T, d_model), e.g. (B, T, d_model); d_model divisible by n_heads.
        n_heads: number of heads, >= 1.

    Returns:
        Shape (..., n_heads, T, d_head); ``out[..., h, t, :] == x[..., t, h*d_head:(h+1)*d_head]``.

    Raises:
        ValueError: if x has fewer than 2 dims or d_model is not a multiple of n_heads.
    """
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., T, d_model), got {tuple(x.shape)}")
    if n_heads < 1 or x.shape[-1] % n_heads != 0:
        raise ValueError(f"d_model={x.shape[-1]} must be a positive multiple of n_heads={n_heads}")
    # YOUR CODE HERE (notebook 04, §4)
    raise NotImplementedError('split_heads() is not written yet (notebook 04, §4). Hint: First give the feature axis the shape (n_heads, d_head) without moving any number, then swap the sequence axis with the head axis.')


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`split_heads`: (..., n_heads, T, d_head) -> (..., T, n_heads * d_head).

    Token t's output is the concatenation of its n_heads head outputs, head 0 first.

    Args:
        x: shape (..., n_heads, T, d_head).

    Returns:
        Shape (..., T, n_heads * d_head); ``merge_heads(split_heads(x, h)) == x``.

    Raises:
        ValueError: if x has fewer than 3 dims.
    """
    if x.dim() < 3:
        raise ValueError(f"x must have shape (..., n_heads, T, d_head), got {tuple(x.shape)}")
    # YOUR CODE HERE (notebook 04, §4)
    raise NotImplementedError('merge_heads() is not written yet (notebook 04, §4). Hint: Undo split_heads in the opposite order: bring the sequence axis back in front of the head axis, then flatten the last two axes into one.')


# ---------------------------------------------------------------------------------------------
# §5 Multi-head attention
# ---------------------------------------------------------------------------------------------

class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, section 3.2.2), batch first.

    ``n_heads`` attentions run side by side, each on its own d_head = d_model / n_heads slice of
    learned projections of the inputs, and their outputs are concatenated and mixed::

        q = split_heads(q_proj(query))        # (B, H, T_q, d_head)
        k = split_heads(k_proj(key))          # (B, H, T_k, d_head)
        v = split_heads(v_proj(value))        # (B, H, T_k, d_head)
        mask = mask & key_mask[:, None, None, :]  # padded keys hidden (if key_mask is given)
        out = attention(q, k, v, mask)        # (B, H, T_q, d_head), each head separately
        out = out_proj(merge_heads(out))      # (B, T_q, d_model)

    Several small heads cost the same as one big one (d_model = H * d_head) but can each look for
    something different (the previous word, the subject, a matching name...).

    Attributes:
        q_proj, k_proj, v_proj, out_proj: ``nn.Linear(d_model, d_model, bias=bias)`` each.
        d_model, n_heads, d_head: the sizes.
        dropout: probability of dropping attention weights in training (0 = off).
        use_fast_path: True (default): the attention core is PyTorch's fused
            ``F.scaled_dot_product_attention``; False: your :func:`scaled_dot_product_attention`.
    """

    def __init__(self, d_model: int, n_heads: int, *, bias: bool = True, dropout: float = 0.0) -> None:
        """Args:
            d_model: size of the token vectors (> 0), a multiple of n_heads.
            n_heads: number of heads (> 0).
            bias: whether the four projections have a bias.
            dropout: dropout probability on the attention weights during training.

        Raises:
            ValueError: if d_model is not a positive multiple of n_heads, or dropout not in [0, 1).
        """
        super().__init__()
        if n_heads <= 0 or d_model <= 0 or d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be a positive multiple of n_heads={n_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.dropout = dropout
        self.use_fast_path = True
        # YOUR CODE HERE (notebook 04, §5)
        raise NotImplementedError('MultiHeadAttention.__init__() is not written yet (notebook 04, §5). Hint: Create the four projections q_proj, k_proj, v_proj and out_proj, each an nn.Linear from d_model to d_model that has a bias exactly when `bias` is True.')

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        return_weights: bool = False,
        kv_cache: dict | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend from `query` to `key`/`value` (self-attention when key is None).

        Args:
            query: (B, T_q, d_model).
            key: (B, T_k, d_model), default `query` (self-attention). Cross-attention passes the
                other sequence (e.g. the encoder output), whose length T_k may differ from T_q.
            value: (B, T_k, d_model), default `key`.
            mask: None, or a boolean (True = may attend) or additive float mask of shape
                (T_q, T_k) or (B or 1, n_heads or 1, T_q, T_k); a padding mask from
                :func:`padding_mask` goes in as ``pad[:, None, None, :]``. (A 3-D mask is
                rejected: it is ambiguous.) With a cache, T_k counts the cached keys too.
            key_mask: None, or a boolean (B, T_k) mask of the keys, True at the real tokens (what
                :func:`padding_mask` returns): the padded keys are hidden from every query of every
                head. Combined with `mask` if both are given. (The padded *queries* still get
                outputs, computed from the real keys; ignore them downstream.)
            is_causal: also hide the future (combined with `mask` if both are given): query i
                sees keys up to its own position, aligned bottom-right as :func:`causal_mask`.
            return_weights: also return the attention weights, (B, n_heads, T_q, T_k), one map
                per head (not averaged). Uses your :func:`scaled_dot_product_attention`.
            kv_cache: None, or a dict updated in place (see the module docstring): self-attention
                appends the new keys/values to ``kv_cache["k"]``/``["v"]``, each
                (B, n_heads, T_seen, d_head); cross-attention stores them once and reuses them.

        Returns:
            (B, T_q, d_model), or ``(output, weights)`` with ``return_weights=True``.
        """
        self_attention = key is None
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value, mask)
        # YOUR CODE HERE (notebook 04, §5)
        raise NotImplementedError('MultiHeadAttention.forward() is not written yet (notebook 04, §5). Hint: Project the query, key and value inputs with their own projection, and cut each result into heads with your split_heads.')
        k, v = self._use_cache(k, v, kv_cache, self_attention)   # provided: the KV cache of notebook 06
        if key_mask is not None:
            self._check_key_mask(key_mask, k)
            # YOUR CODE HERE (notebook 04, §5)
            raise NotImplementedError('MultiHeadAttention.forward() is not written yet (notebook 04, §5). Hint: Give the (B, T_k) key mask the two axes it lacks so that it broadcasts against the scores (B, H, T_q, T_k): the same keys hidden for every head and every query.')
            mask = _both(mask, key_mask)                         # provided: combine with `mask`
        out, weights = self._attend(q, k, v, mask, is_causal, return_weights)  # provided: (B, H, T_q, d_head)
        # YOUR CODE HERE (notebook 04, §5)
        raise NotImplementedError('MultiHeadAttention.forward() is not written yet (notebook 04, §5). Hint: Glue the heads of `out` back together with your merge_heads and mix them with the output projection.')
        return (out, weights) if return_weights else out

    # -- provided plumbing: input checks, the KV cache, the choice of attention kernel ---------

    def _check_inputs(self, query, key, value, mask) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(f"{name} must have shape (batch, seq, d_model={self.d_model}), got "
                                 f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key and value must have the same batch and length, got "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"query and key must have the same batch size, got {query.shape[0]} and {key.shape[0]}")
        if mask is not None and (not isinstance(mask, torch.Tensor) or mask.dim() not in (2, 4)):
            raise ValueError(
                "mask must be a tensor of shape (T_q, T_k) or (B or 1, n_heads or 1, T_q, T_k), got "
                f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}; "
                "a padding mask (B, T_k) goes in as pad[:, None, None, :], a (B, T_q, T_k) mask as mask[:, None]")

    def _check_key_mask(self, key_mask, k) -> None:
        if not isinstance(key_mask, torch.Tensor) or key_mask.dtype != torch.bool \
                or tuple(key_mask.shape) != (k.shape[0], k.shape[-2]):
            raise ValueError(
                f"key_mask must be a boolean tensor of shape (batch, T_k) = ({k.shape[0]}, {k.shape[-2]}) "
                "(True at the real keys, as padding_mask returns; with a cache T_k counts the cached keys), got "
                f"{(key_mask.dtype, tuple(key_mask.shape)) if isinstance(key_mask, torch.Tensor) else type(key_mask).__name__}")

    def _use_cache(self, k, v, kv_cache, self_attention):
        """Append to (self-attention) or reuse (cross-attention) the cached keys and values."""
        if kv_cache is None:
            return k, v
        if not isinstance(kv_cache, dict):
            raise TypeError(f"kv_cache must be a dict (start with {{}}), got {type(kv_cache).__name__}")
        if "k" in kv_cache:
            if self_attention:
                k = torch.cat([kv_cache["k"], k], dim=-2)         # (B, H, T_seen + T_new, d_head)
                v = torch.cat([kv_cache["v"], v], dim=-2)
            else:
                k, v = kv_cache["k"], kv_cache["v"]               # the encoder output is fixed
        kv_cache["k"], kv_cache["v"] = k, v
        return k, v

    def _full_mask(self, mask, is_causal, n_q, n_k, q):
        """The mask to apply (or None): `mask` combined with the causal mask when asked."""
        if mask is not None:
            mask = mask.to(q.device) if mask.dtype == torch.bool else mask.to(device=q.device, dtype=q.dtype)
        if not is_causal:
            return mask
        return _both(mask, causal_mask(n_q, n_k, device=q.device))  # causal: bool (T_q, T_k)

    def _attend(self, q, k, v, mask, is_causal, return_weights):
        """(out, weights or None): the fused kernel, or your scaled_dot_product_attention."""
        n_q, n_k = q.shape[-2], k.shape[-2]
        p = self.dropout if self.training else 0.0
        if self.use_fast_path and not return_weights:
            if mask is None and (not is_causal or n_q == n_k):
                # The common cases (no mask, or a plain square causal mask): the kernel builds the
                # mask itself and can skip the hidden half of the work entirely.
                return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=is_causal), None
            full = self._full_mask(mask, is_causal, n_q, n_k, q)
            # A query whose keys are all masked gets a zero output (as in your version), whatever
            # the kernel would do: let it attend anywhere, then zero its output.
            keep = full.any(dim=-1, keepdim=True) if full.dtype == torch.bool else \
                (full > float("-inf")).any(dim=-1, keepdim=True)
            full = full | ~keep if full.dtype == torch.bool else full.masked_fill(~keep, 0.0)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=p)
            return out * keep.to(out.dtype), None
        full = self._full_mask(mask, is_causal, n_q, n_k, q)
        if p > 0.0:
            # Dropout on the weights (as PyTorch does): drop some, rescale the rest, re-average.
            _, weights = scaled_dot_product_attention(q, k, v, full, return_weights=True)
            weights = F.dropout(weights, p)
            return weights @ v, weights
        if return_weights:
            return scaled_dot_product_attention(q, k, v, full, return_weights=True)
        return scaled_dot_product_attention(q, k, v, full), None

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, d_head={self.d_head}, "
                f"dropout={self.dropout}, use_fast_path={self.use_fast_path}")


def _both(mask: torch.Tensor | None, allowed: torch.Tensor) -> torch.Tensor:
    """`mask` (None, boolean or additive) further restricted to where the boolean `allowed` is True."""
    allowed = allowed.to(mask.device) if mask is not None else allowed
    if mask is None:
        return allowed
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.masked_fill(~allowed, float("-inf"))


def load_from_torch(mha: MultiHeadAttention, torch_mha: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy the weights of PyTorch's ``nn.MultiheadAttention`` into `mha` (in place; returns it).

    PyTorch fuses the three input projections into one ``in_proj_weight`` of shape
    (3 d_model, d_model), rows stacked as q; k; v (and ``in_proj_bias`` likewise), unless it was
    built with different key/value sizes (then ``q_proj_weight``, ``k_proj_weight``,
    ``v_proj_weight``). Its heads are cut the same way as :func:`split_heads` does, so with the
    same weights both modules compute the same function.

    Raises:
        ValueError: if the sizes or the presence of biases differ.
    """
    if torch_mha.embed_dim != mha.d_model or torch_mha.num_heads != mha.n_heads:
        raise ValueError(f"size mismatch: torch has embed_dim={torch_mha.embed_dim}, num_heads={torch_mha.num_heads}; "
                         f"this module has d_model={mha.d_model}, n_heads={mha.n_heads}")
    has_bias = mha.q_proj.bias is not None
    if has_bias != (torch_mha.in_proj_bias is not None):
        raise ValueError(f"bias mismatch: this module has bias={has_bias}, the torch module "
                         f"bias={torch_mha.in_proj_bias is not None}")
    if torch_mha.bias_k is not None or torch_mha.bias_v is not None:
        raise ValueError("add_bias_kv=True has no equivalent here")
    d = mha.d_model
    with torch.no_grad():
        if torch_mha._qkv_same_embed_dim:
            weights = torch_mha.in_proj_weight.split(d, dim=0)       # q; k; v, each (d, d)
        else:
            weights = (torch_mha.q_proj_weight, torch_mha.k_proj_weight, torch_mha.v_proj_weight)
        biases = torch_mha.in_proj_bias.split(d) if has_bias else (None, None, None)
        for proj, w, b in zip((mha.q_proj, mha.k_proj, mha.v_proj), weights, biases):
            if tuple(w.shape) != tuple(proj.weight.shape):
                raise ValueError(f"projection shape mismatch: {tuple(w.shape)} vs {tuple(proj.weight.shape)}")
            proj.weight.copy_(w)
            if b is not None:
                proj.bias.copy_(b)
        mha.out_proj.weight.copy_(torch_mha.out_proj.weight)
        if has_bias:
            mha.out_proj.bias.copy_(torch_mha.out_proj.bias)
    return mha
