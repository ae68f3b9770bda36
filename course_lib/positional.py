"""Positional encodings: telling attention *where* each token is.  Notebook 03.

The problem in one paragraph
----------------------------
Self-attention compares every token with every other token by dot products, and nothing in
those dot products says which token came first. Shuffle the input rows and the output rows are
shuffled the same way, nothing else changes: "the dog bit the cat" and "the cat bit the dog"
are the same bag of words to it. (:func:`attention_without_positions` lets you see this.) That
holds when every token sees every token; a causal mask (each token sees only the ones before it,
as in a GPT decoder) breaks the symmetry, and a decoder can infer positions from it, but only
indirectly. So we give the model the positions ourselves, in one of two ways:

* **add** a position vector to each token's embedding before the first layer: a fixed
  sinusoidal one (:func:`sinusoidal_table`, "Attention Is All You Need", 2017) or a learned one
  (:class:`LearnedPositionalEmbedding`, GPT-2, BERT);
* **rotate** the query and key vectors inside attention by an angle proportional to the position
  (RoPE, :func:`rope_frequencies` + :func:`apply_rope`; RoFormer 2021, used by Llama, Qwen,
  Mistral...). The score between a query at position m and a key at position n then depends on
  the offset m - n only, not on where the pair sits in the sequence.

What learners implement (the marked regions; notebook 03, sections 1-4)
-----------------------------------------------------------------------
1. :func:`sinusoidal_table`                the (max_len, d_model) table of sines and cosines
2. :class:`LearnedPositionalEmbedding`     a trainable (max_len, d_model) table, added to x
3. :func:`rope_frequencies`                the cos and sin tables RoPE rotates by
4. :func:`apply_rope`                      the rotation of queries or keys

RoPE pairing convention used here: "rotate-half" (GPT-NeoX, Llama in Hugging Face)
---------------------------------------------------------------------------------
RoPE rotates pairs of coordinates in 2-D planes. *Which* coordinates form a pair is a
convention, and the frequency tables and the rotation must agree on it. This module pairs
coordinate ``j`` with coordinate ``j + head_dim/2`` (the first half with the second half), and
pair ``j`` turns at frequency ``base ** (-2j / head_dim)``. The original RoFormer paper (and
Meta's Llama code) pairs neighbours ``(2j, 2j+1)`` instead ("interleaved"). The two give the
same model up to a fixed permutation of the weights' columns, but mixing them up is a real bug.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "attention_without_positions",
    "sinusoidal_table",
    "LearnedPositionalEmbedding",
    "rope_frequencies",
    "apply_rope",
]


# ---------------------------------------------------------------------------------------------
# Provided: why we need positions at all
# ---------------------------------------------------------------------------------------------

def attention_without_positions(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> torch.Tensor:
    """Single-head self-attention with no positional information (a preview of notebook 04).

    Each token asks a question (its query), every token offers a label (its key) and a content
    (its value); a token's output is the average of all values, weighted by how well its query
    matches each key. Nothing here looks at the *order* of the rows of `x`.

    Args:
        x: token vectors, shape (seq, d_model) or (batch, seq, d_model).
        w_q, w_k: projection matrices, shape (d_model, d_k).
        w_v: projection matrix, shape (d_model, d_v).

    Returns:
        The attention outputs, shape (seq, d_v) or (batch, seq, d_v). Permuting the rows of `x`
        permutes the rows of the output in the same way and changes nothing else
        ("permutation equivariance").
    """
    q, k, v = x @ w_q, x @ w_k, x @ w_v                     # (..., seq, d_k), (..., seq, d_k), (..., seq, d_v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., seq, seq): query i vs key j
    weights = torch.softmax(scores, dim=-1)                 # each row sums to 1
    return weights @ v                                      # (..., seq, d_v)


# ---------------------------------------------------------------------------------------------
# §1 The sinusoidal table
# ---------------------------------------------------------------------------------------------

def sinusoidal_table(
    max_len: int,
    d_model: int,
    base: float = 10000.0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The fixed positional encodings of "Attention Is All You Need" (section 3.5).

    For position ``pos`` and pair index ``i`` (``0 <= i < d_model/2``)::

        PE[pos, 2i]     = sin(pos / base ** (2i / d_model))
        PE[pos, 2i + 1] = cos(pos / base ** (2i / d_model))

    Column pair ``i`` is a clock ticking at angular speed ``base ** (-2i/d_model)`` radians per
    position: the first columns turn fast (one turn every 2*pi ~ 6.3 positions), the last ones
    slowly (one turn every 2*pi*base positions). Because each pair is a (sin, cos) point on a
    circle, PE[pos + k] is PE[pos] rotated pair by pair by an angle that depends on k only; that is
    why a dot product PE[p] . PE[p + k] depends on the distance k, not on p.

    Args:
        max_len: number of positions (rows), > 0.
        d_model: size of each encoding (columns), > 0 and even.
        base: the "10000" of the paper; a larger base gives slower clocks.
        dtype: dtype of the result. The angles are computed in float64 whatever `dtype` is, so
            that a float64 table is accurate to float64 precision.
        device: where the result lives (default: the CPU).

    Returns:
        A tensor of shape (max_len, d_model), `dtype`, on `device`.

    Raises:
        ValueError: if max_len or d_model is not positive, or d_model is odd (sin and cos come
            in pairs).
    """
    if max_len <= 0 or d_model <= 0:
        raise ValueError(f"max_len and d_model must be positive, got max_len={max_len}, d_model={d_model}")
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (each sin column has a cos partner), got {d_model}")
    if base <= 0:
        raise ValueError(f"base must be positive, got {base}")
    # YOUR CODE HERE (notebook 03, §1)
    raise NotImplementedError('sinusoidal_table() is not written yet (notebook 03, §1). Hint: Fill the even columns with sines and the odd columns with cosines of pos / base^(2i/d_model) (i the pair index), computed in float64, then convert to the requested dtype and device.')


# ---------------------------------------------------------------------------------------------
# §2 Learned absolute positions
# ---------------------------------------------------------------------------------------------

class LearnedPositionalEmbedding(nn.Module):
    """A trainable vector per position, added to the token vectors (GPT-2, BERT).

    Instead of a formula, the model learns one d_model-vector per position, like a word embedding
    indexed by position. It can learn anything the task needs, but knows nothing about positions
    it never saw: a model trained with max_len=1024 has no vector for position 1024.

    Attributes:
        weight: an ``nn.Parameter`` of shape (max_len, d_model), so that ``.parameters()``,
            optimizers, ``.to(device)`` and ``state_dict()`` all see it.
        max_len, d_model: the sizes it was built with.
    """

    def __init__(self, max_len: int, d_model: int, init_std: float = 0.02) -> None:
        """Args:
            max_len: the number of positions (> 0).
            d_model: the size of each vector (> 0).
            init_std: standard deviation of the normal initialisation (GPT-2 uses 0.02: small, so
                that the positions do not drown the token embeddings at the start of training).
        """
        super().__init__()
        if max_len <= 0 or d_model <= 0:
            raise ValueError(f"max_len and d_model must be positive, got max_len={max_len}, d_model={d_model}")
        self.max_len = max_len
        self.d_model = d_model
        # YOUR CODE HERE (notebook 03, §2)
        raise NotImplementedError('LearnedPositionalEmbedding.__init__() is not written yet (notebook 03, §2). Hint: Store a trainable (max_len, d_model) table, drawn at random with standard deviation init_std, as self.weight, registered so that .parameters() sees it.')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the position vectors to a batch of token vectors.

        Args:
            x: shape (..., seq, d_model), e.g. (batch, seq, d_model), with seq <= max_len. Row t
                of each sequence is the token at position t.

        Returns:
            ``x + weight[:seq]``, the same shape as x: row t of every sequence gets weight[t].

        Raises:
            ValueError: if x has fewer than 2 dims, its last dim is not d_model, or seq > max_len.
        """
        if x.dim() < 2:
            raise ValueError(f"x must have shape (..., seq, d_model), got shape {tuple(x.shape)}")
        seq_len, width = x.shape[-2], x.shape[-1]
        if width != self.d_model:
            raise ValueError(f"x has last dimension {width}, but this embedding has d_model={self.d_model}")
        if seq_len > self.max_len:
            raise ValueError(
                f"sequence of length {seq_len} is longer than max_len={self.max_len}: learned positions "
                "exist only for the positions the table was built for"
            )
        # YOUR CODE HERE (notebook 03, §2)
        raise NotImplementedError('LearnedPositionalEmbedding.forward() is not written yet (notebook 03, §2). Hint: Add the position vectors of the first seq positions (seq = the second-to-last size of x) to x, for any batch dimensions, without changing x in place.')


# ---------------------------------------------------------------------------------------------
# §3-4 Rotary position embedding (RoPE)
# ---------------------------------------------------------------------------------------------

def rope_frequencies(
    head_dim: int,
    max_len: int,
    base: float = 10000.0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cos and sin tables that RoPE rotates by, in the rotate-half layout.

    Pair ``j`` (``0 <= j < head_dim/2``) is made of coordinates ``j`` and ``j + head_dim/2`` and
    turns by ``theta_j = base ** (-2j / head_dim)`` radians per position. With
    ``angle[pos, j] = pos * theta_j`` (shape (max_len, head_dim/2)), both tables repeat the angles
    for the two halves::

        cos = cos(cat([angle, angle], dim=-1))      # (max_len, head_dim)
        sin = sin(cat([angle, angle], dim=-1))      # (max_len, head_dim)

    so that column c of the tables belongs to pair ``c mod head_dim/2``.

    Args:
        head_dim: size of one attention head's query/key vectors (> 0, even).
        max_len: number of positions (> 0).
        base: the frequency base (10000 in RoFormer and Llama 2; Llama 3 uses 500000).
        dtype, device: of the two results (the angles are computed in float64 on the CPU).

    Returns:
        ``(cos, sin)``, each of shape (max_len, head_dim), `dtype`, on `device`.

    Raises:
        ValueError: if head_dim is odd or a size is not positive.
    """
    if head_dim <= 0 or max_len <= 0:
        raise ValueError(f"head_dim and max_len must be positive, got head_dim={head_dim}, max_len={max_len}")
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs of coordinates), got {head_dim}")
    if base <= 0:
        raise ValueError(f"base must be positive, got {base}")
    # YOUR CODE HERE (notebook 03, §3)
    raise NotImplementedError('rope_frequencies() is not written yet (notebook 03, §3). Hint: In float64, compute angle(pos, j) = pos · base^(-2j/head_dim) for the head_dim/2 pairs, lay the angles out twice side by side (column c belongs to pair c mod head_dim/2), and return their (cos, sin) in the requested dtype and device.')


def apply_rope(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    positions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rotate query or key vectors by their positions (RoPE, rotate-half pairing).

    For each pair ``j`` (coordinates ``x1 = x[..., j]`` and ``x2 = x[..., j + head_dim/2]``) at
    position ``p``, with ``c = cos(p * theta_j)`` and ``s = sin(p * theta_j)``::

        out[..., j]              = x1 * c - x2 * s
        out[..., j + head_dim/2] = x2 * c + x1 * s

    which is a 2-D rotation of (x1, x2) by the angle p * theta_j. In one line, with
    ``rotate_half(x) = cat([-x2, x1], dim=-1)``: ``out = x * cos + rotate_half(x) * sin``.

    Rotations keep lengths, and rotating q by angle m*theta and k by n*theta changes their dot
    product exactly as rotating q by (m - n)*theta and leaving k alone: the attention score
    depends on the offset m - n only.

    Args:
        x: queries or keys, shape (..., seq, head_dim), e.g. (batch, heads, seq, head_dim).
        cos, sin: the tables of :func:`rope_frequencies`, shape (max_len, head_dim).
        positions: optional 1-D integer tensor of shape (seq,): the position of each row of x.
            Default: 0, 1, ..., seq - 1 (and seq must be <= max_len).

    Returns:
        A new tensor of the same shape, dtype and device as x (x itself is not modified).

    Raises:
        ValueError: if the shapes of x, cos, sin and positions do not fit together.
    """
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., seq, head_dim), got shape {tuple(x.shape)}")
    seq_len, head_dim = x.shape[-2], x.shape[-1]
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even, got x of shape {tuple(x.shape)}")
    if cos.shape != sin.shape or cos.dim() != 2 or cos.shape[-1] != head_dim:
        raise ValueError(
            f"cos and sin must both have shape (max_len, head_dim={head_dim}), "
            f"got {tuple(cos.shape)} and {tuple(sin.shape)}"
        )
    if positions is None:
        if seq_len > cos.shape[0]:
            raise ValueError(f"sequence of length {seq_len} is longer than the tables' max_len={cos.shape[0]}")
    elif positions.dim() != 1 or positions.shape[0] != seq_len:
        raise ValueError(f"positions must have shape (seq,)=({seq_len},), got {tuple(positions.shape)}")
    # YOUR CODE HERE (notebook 03, §4)
    raise NotImplementedError("apply_rope() is not written yet (notebook 03, §4). Hint: Take the cos/sin rows of each row's position (0..seq-1, or `positions`) in x's dtype and device, and turn each pair (x[..., j], x[..., j + head_dim/2]) by its angle; return a new tensor.")
