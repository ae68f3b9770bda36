"""The Transformer encoder, and a small BERT built from it.  Notebook 05.

An encoder turns a sequence of token vectors into a sequence of *contextual* vectors: after it,
the vector of "bank" in "the river bank" differs from the one in "the bank account", because
every position has looked at every other position (self-attention, notebook 04) and thought
about what it saw (a small feed-forward network). One encoder *layer* does both, each wrapped
in a residual connection and a layer normalisation; an encoder is a stack of identical layers.

    x ──► self-attention ──► + ──► LayerNorm ──► feed-forward ──► + ──► LayerNorm ──►   post-norm
    │                        ▲                │                    ▲                    (the 2017 paper)
    └────────────────────────┘                └────────────────────┘

    x ──► LayerNorm ──► self-attention ──► + ──► LayerNorm ──► feed-forward ──► + ──►   pre-norm
    │                                      ▲  │                                 ▲       (GPT-2 and
    └──────────────────────────────────────┘  └─────────────────────────────────┘        most LLMs)

BERT (2018) is such an encoder trained to fill in blanks: 15% of the tokens of a text are
hidden or changed (:func:`mlm_corrupt`) and the model is scored on those positions only
(:func:`mlm_loss`). Because every token sees the whole text, left and right, the vectors it
learns are good features for classifying or tagging text; it cannot *generate* text left to
right, which is the decoder's job (notebook 06).

What learners implement (the marked regions; notebook 05, sections 1-7)
------------------------------------------------------------------------
1. :meth:`LayerNorm.forward`              normalise each vector over its features, then scale and shift
2. :meth:`FeedForward.forward`            the position-wise network d_model -> d_ff -> d_model
3. :meth:`EncoderLayer.forward_post_norm` residual connections, LayerNorm after each sub-layer
4. :meth:`EncoderLayer.forward_pre_norm`  residual connections, LayerNorm before each sub-layer
5. :class:`Encoder` (``__init__`` and ``forward``)   a stack of layers with a padding mask
6. :func:`mlm_corrupt`                    BERT's masking: 15% chosen; of those 80% [MASK], 10% random, 10% kept
7. :func:`mlm_loss`                       cross-entropy on the chosen positions only

Conventions (the same as PyTorch's ``nn.TransformerEncoderLayer(batch_first=True)``)
-------------------------------------------------------------------------------------
* Tensors are batch first: ``(batch, seq, d_model)``.
* A padding mask is a bool tensor ``(batch, seq)``, True at real tokens and False at padding
  (what ``course_lib.attention.padding_mask(lengths)`` returns). PyTorch's
  ``src_key_padding_mask`` is the opposite (True = ignore): pass ``~padding_mask`` to it.
* The vectors at padded positions are computed but meaningless (nobody attends to them and the
  losses ignore them); only the real positions are compared with PyTorch.
* Parameter names follow PyTorch's layer (``linear1``, ``linear2``, ``norm1``, ``norm2``), and the
  attention is 04's :class:`~course_lib.attention.MultiHeadAttention` with separate
  ``q_proj``/``k_proj``/``v_proj``/``out_proj``: :func:`load_from_torch` copies the weights of an
  ``nn.TransformerEncoderLayer`` or ``nn.TransformerEncoder`` into these classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import MultiHeadAttention

__all__ = [
    "LayerNorm",
    "FeedForward",
    "EncoderLayer",
    "Encoder",
    "mlm_corrupt",
    "mlm_loss",
    "load_from_torch",
    "uniform_like",
    "random_tokens_like",
    "IGNORE_INDEX",
    "BertConfig",
    "MiniBERT",
]

IGNORE_INDEX = -100  # the label of a position that is not scored (PyTorch's cross_entropy default)


# ---------------------------------------------------------------------------------------------
# §1 Layer normalisation
# ---------------------------------------------------------------------------------------------

class LayerNorm(nn.Module):
    """Layer normalisation (Ba, Kiros and Hinton, 2016), equal to ``nn.LayerNorm(d_model)``.

    Each vector (one token at one position) is normalised *on its own*, over its ``d_model``
    features: subtract its mean, divide by its standard deviation, then scale and shift by two
    learned vectors::

        y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

    where mean and var are over the last dimension and var is the *biased* (population)
    variance, dividing by d_model and not d_model - 1. Unlike batch normalisation nothing is
    averaged across the batch or the sequence, so a token's output does not depend on which
    other sentences share its batch, and training and inference compute the same thing.

    Attributes:
        weight: ``nn.Parameter`` of shape (d_model,), initialised to ones (the scale, "gamma").
        bias: ``nn.Parameter`` of shape (d_model,), initialised to zeros (the shift, "beta").
        eps: added to the variance so that a constant vector does not divide by zero.
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        self.d_model = d_model
        self.eps = eps
        # The same names and shapes as nn.LayerNorm, so their state_dicts are interchangeable.
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each vector of `x` over its last dimension.

        Args:
            x: shape (..., d_model), e.g. (batch, seq, d_model).

        Returns:
            A tensor of the same shape: each vector has mean ``bias`` and (before the scale)
            variance 1 over its features, then is scaled by ``weight`` and shifted by ``bias``.
        """
        if x.shape[-1:] != (self.d_model,):
            raise ValueError(f"x must have shape (..., {self.d_model}), got {tuple(x.shape)}")
        # YOUR CODE HERE (notebook 05, §1)
        raise NotImplementedError('LayerNorm.forward() is not written yet (notebook 05, §1). Hint: Standardise every vector using statistics taken along its own features (the last axis, keepdim so they broadcast), with the population variance (divide by d, as nn.LayerNorm does) and eps inside the square root; finish with the learned scale and shift.')


# ---------------------------------------------------------------------------------------------
# §2 The position-wise feed-forward network
# ---------------------------------------------------------------------------------------------

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


class FeedForward(nn.Module):
    """The position-wise feed-forward network: ``linear2(dropout(activation(linear1(x))))``.

    "Position-wise" means the same small two-layer network is applied to every position
    separately: no information moves between positions here (attention does that). In the paper
    d_model = 512 and d_ff = 2048: each vector is widened 4x, passed through a ReLU, and
    projected back. About two thirds of an encoder layer's parameters live here.

    Attributes:
        linear1: ``nn.Linear(d_model, d_ff)``, the widening projection.
        activation: ``nn.ReLU()`` (the paper) or ``nn.GELU()`` (BERT, GPT-2).
        dropout: ``nn.Dropout(dropout)``, applied after the activation (as in PyTorch's layer).
        linear2: ``nn.Linear(d_ff, d_model)``, the projection back.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, *, activation: str = "relu",
                 bias: bool = True) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.d_ff = d_model, d_ff
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)       # 512 -> 2048 in the paper
        self.activation = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)       # 2048 -> 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: shape (..., d_model).

        Returns:
            Shape (..., d_model): every vector transformed on its own by the same network.
        """
        if x.shape[-1:] != (self.d_model,):
            raise ValueError(f"x must have shape (..., {self.d_model}), got {tuple(x.shape)}")
        # YOUR CODE HERE (notebook 05, §2)
        raise NotImplementedError('FeedForward.forward() is not written yet (notebook 05, §2). Hint: Widen with the first linear layer, apply the nonlinearity, then dropout, and project back with the second linear layer (no residual here: the layer around it adds that).')


# ---------------------------------------------------------------------------------------------
# §3-4 One encoder layer: residual connections, and LayerNorm after (post-norm) or before (pre-norm)
# ---------------------------------------------------------------------------------------------

class EncoderLayer(nn.Module):
    """One Transformer encoder layer: self-attention and a feed-forward network, each in a
    residual connection with a LayerNorm. Equal to ``nn.TransformerEncoderLayer(d_model, n_heads,
    d_ff, dropout, activation, batch_first=True, norm_first=norm_first)`` with the same weights.

    * ``norm_first=False`` (post-norm, "Attention Is All You Need", BERT)::

          x = norm1(x + attention_block(x))
          x = norm2(x + feed_forward_block(x))

    * ``norm_first=True`` (pre-norm, GPT-2 and most models since)::

          x = x + attention_block(norm1(x))
          x = x + feed_forward_block(norm2(x))

    The residual ``x + ...`` lets each sub-layer learn a *change* to its input, and gives the
    gradient a direct path from the loss to every layer. Pre-norm keeps that path free of any
    normalisation, which is why deep pre-norm stacks train without a learning-rate warm-up.

    Attributes:
        self_attn: 04's ``MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)``.
        ff: ``FeedForward(d_model, d_ff, dropout, activation=activation, bias=bias)``.
        norm1, norm2: ``LayerNorm(d_model, eps)``, around the attention and the feed-forward.
        dropout1, dropout2: dropout on each sub-layer's output, before it is added to x.
        norm_first: which of the two wirings `forward` uses.
        keep_attention: set it to True to keep the attention weights of the last forward in
            ``attention_weights`` (batch, n_heads, seq, seq) (the notebook's heatmaps use it).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, *,
                 norm_first: bool = False, activation: str = "relu", bias: bool = True,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.d_model = d_model
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, dropout, activation=activation, bias=bias)
        self.norm1 = LayerNorm(d_model, eps)
        self.norm2 = LayerNorm(d_model, eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.keep_attention = False
        self.attention_weights: torch.Tensor | None = None

    # Provided: the two sub-layers, as PyTorch's layer computes them (its _sa_block, _ff_block).

    def attention_block(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention over `x` (batch, seq, d_model), then dropout; padded keys are ignored.

        `padding_mask` (batch, seq) is True at real tokens; it becomes the key mask
        (batch, 1, 1, seq): the same for every head and every query.
        """
        mask = None if padding_mask is None else padding_mask[:, None, None, :]   # (B, 1, 1, T)
        if self.keep_attention:
            out, weights = self.self_attn(x, mask=mask, return_weights=True)
            self.attention_weights = weights.detach()                             # (B, H, T, T)
        else:
            out = self.self_attn(x, mask=mask)
        return self.dropout1(out)

    def feed_forward_block(self, x: torch.Tensor) -> torch.Tensor:
        """The feed-forward network on `x` (batch, seq, d_model), then dropout."""
        return self.dropout2(self.ff(x))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            x: shape (batch, seq, d_model).
            padding_mask: optional bool (batch, seq), True at real tokens.

        Returns:
            Shape (batch, seq, d_model). Positions where padding_mask is False hold values that
            nothing should use.
        """
        _validate(x, padding_mask, self.d_model)
        if self.norm_first:
            return self.forward_pre_norm(x, padding_mask)
        return self.forward_post_norm(x, padding_mask)

    def forward_post_norm(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The original wiring: each sub-layer's output is added to its input, then normalised.

        Args/Returns: as :meth:`forward`.
        """
        # YOUR CODE HERE (notebook 05, §3)
        raise NotImplementedError('EncoderLayer.forward_post_norm() is not written yet (notebook 05, §3). Hint: Two steps, attention then feed-forward: run the sub-layer on x, add x back (the residual), and only then normalise the sum (norm1 for the first step, norm2 for the second).')

    def forward_pre_norm(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pre-norm wiring: each sub-layer reads a normalised copy of x, and its output is
        added to x itself, which is never normalised on the way (the "residual stream").

        Args/Returns: as :meth:`forward`.
        """
        # YOUR CODE HERE (notebook 05, §4)
        raise NotImplementedError('EncoderLayer.forward_pre_norm() is not written yet (notebook 05, §4). Hint: Two steps again, but normalise first: feed norm1(x) to attention and norm2(x) to the feed-forward, and add each result to the un-normalised x.')


def _validate(x: torch.Tensor, padding_mask: torch.Tensor | None, d_model: int) -> None:
    """Clear errors for the usual shape mistakes (learners need not write these)."""
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"x must have shape (batch, seq, {d_model}), got {tuple(x.shape)}")
    if padding_mask is not None:
        if padding_mask.dtype != torch.bool:
            raise ValueError(f"padding_mask must be a bool tensor (True at real tokens), got {padding_mask.dtype}")
        if tuple(padding_mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"padding_mask must have shape (batch, seq) = {tuple(x.shape[:2])}, "
                             f"got {tuple(padding_mask.shape)}")


# ---------------------------------------------------------------------------------------------
# §5 The encoder: a stack of layers
# ---------------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """A stack of `n_layers` identical (but separately trained) encoder layers, equal to
    ``nn.TransformerEncoder(layer, n_layers, norm=LayerNorm if norm_first else None)``.

    A pre-norm stack ends with one more LayerNorm (``self.norm``): its residual stream is never
    normalised inside the layers, so the last layer's output is normalised once at the end. A
    post-norm stack already ends with a LayerNorm (each layer's norm2), so ``self.norm`` is None.

    Attributes:
        layers: an ``nn.ModuleList`` of `n_layers` distinct ``EncoderLayer`` objects.
        norm: ``LayerNorm(d_model, eps)`` when norm_first, else None.
    """

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, *,
                 norm_first: bool = False, activation: str = "relu", bias: bool = True,
                 eps: float = 1e-5) -> None:
        """Args: as :class:`EncoderLayer`, plus `n_layers` (> 0), the depth of the stack."""
        super().__init__()
        if n_layers <= 0:
            raise ValueError(f"n_layers must be positive, got {n_layers}")
        self.d_model = d_model
        self.norm_first = norm_first
        # YOUR CODE HERE (notebook 05, §5)
        raise NotImplementedError('Encoder.__init__() is not written yet (notebook 05, §5). Hint: Register n_layers separate EncoderLayer objects (passing every option on) in an nn.ModuleList named self.layers, and set self.norm to a final LayerNorm for a pre-norm stack and to None otherwise.')

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            x: shape (batch, seq, d_model), e.g. token + position embeddings.
            padding_mask: optional bool (batch, seq), True at real tokens (every layer uses it).

        Returns:
            Shape (batch, seq, d_model): one contextual vector per position.
        """
        _validate(x, padding_mask, self.d_model)
        # YOUR CODE HERE (notebook 05, §5)
        raise NotImplementedError('Encoder.forward() is not written yet (notebook 05, §5). Hint: Pass x through every layer in order, giving each one the same padding mask, then apply the final norm if there is one.')


# ---------------------------------------------------------------------------------------------
# §6-7 BERT's masked-language-model objective
# ---------------------------------------------------------------------------------------------

def uniform_like(ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Provided: one random number in [0, 1) per position of `ids`, drawn from `generator`.

    Returns a float tensor shaped and placed like `ids`. (A generator lives on one device; the
    numbers are drawn there and moved to `ids`' device, so a CPU generator serves a GPU batch.)
    """
    device = generator.device if generator is not None else ids.device
    return torch.rand(ids.shape, generator=generator, device=device).to(ids.device)


def random_tokens_like(ids: torch.Tensor, vocab_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Provided: one token id drawn uniformly from [0, vocab_size) per position of `ids`."""
    device = generator.device if generator is not None else ids.device
    return torch.randint(vocab_size, ids.shape, generator=generator, device=device).to(ids.device)


def mlm_corrupt(
    ids: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    *,
    generator: torch.Generator | None = None,
    mask_prob: float = 0.15,
    special_ids: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-language-model corruption of a batch of token ids.

    1. Each position is *chosen* independently with probability `mask_prob` (15%), except the
       positions holding one of `special_ids` (padding, [CLS], ...), which are never chosen.
    2. Each chosen position, independently again:
       * with probability 0.8 becomes `mask_id` (the model must guess the word);
       * with probability 0.1 becomes a random token id in [0, vocab_size);
       * with probability 0.1 keeps its token (so the model cannot assume that an unmasked
         token is always right, and [MASK], absent at fine-tuning time, is not the only cue).
    3. The labels hold the original id at chosen positions and ``IGNORE_INDEX`` (-100)
       everywhere else, so that the loss (:func:`mlm_loss`) scores the chosen positions only.

    Every random number comes from `generator` (use :func:`uniform_like` and
    :func:`random_tokens_like`), so the same generator state gives the same corruption and the
    global random state is left alone.

    Args:
        ids: integer tensor of any shape, e.g. (batch, seq).
        mask_id: the id of the [MASK] token.
        vocab_size: random replacements are drawn from [0, vocab_size).
        generator: a ``torch.Generator`` (None: PyTorch's global one).
        mask_prob: the probability that a position is chosen.
        special_ids: ids that are never chosen.

    Returns:
        ``(corrupted, labels)``, both shaped like `ids`, int64, on ids' device; `ids` itself is
        not modified.
    """
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(f"ids must be an integer tensor, got {ids.dtype}")
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    ids = ids.long()
    # YOUR CODE HERE (notebook 05, §6)
    raise NotImplementedError('mlm_corrupt() is not written yet (notebook 05, §6). Hint: Pick positions with one uniform draw compared to mask_prob (never the special ids); then, among the picked positions only, use a second uniform draw to split them 0.8 / 0.1 / 0.1 between the mask id, a random token and the unchanged token; the labels keep the original id where picked and -100 elsewhere.')


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The masked-LM loss: mean cross-entropy over the positions whose label is not -100.

    Args:
        logits: shape (..., vocab_size), e.g. (batch, seq, vocab_size): the model's scores.
        labels: integer tensor of shape (...), e.g. (batch, seq): the original token id at the
            chosen positions and ``IGNORE_INDEX`` (-100) elsewhere.

    Returns:
        A scalar tensor: the average, over the chosen positions only, of ``-log softmax(logits)
        [label]``. The other positions contribute nothing, to the value or to the gradient. When
        no position is chosen the loss is 0 (not NaN), so that a batch without any chosen
        position does not break training.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits must have shape labels.shape + (vocab_size,), got logits "
                         f"{tuple(logits.shape)} and labels {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
    # YOUR CODE HERE (notebook 05, §7)
    raise NotImplementedError("mlm_loss() is not written yet (notebook 05, §7). Hint: Add up the cross-entropy of the labelled positions only (PyTorch's cross_entropy can skip the -100 ones for you) and divide by how many labelled positions there are, with at least 1 in the denominator.")


# ---------------------------------------------------------------------------------------------
# Provided: copying PyTorch's weights into these classes
# ---------------------------------------------------------------------------------------------

def load_from_torch(module: nn.Module, source: nn.Module | Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy the weights of PyTorch's encoder into ours, so that both compute the same function.

    Args:
        module: an :class:`EncoderLayer` or an :class:`Encoder`.
        source: an ``nn.TransformerEncoderLayer`` (for an EncoderLayer) or an
            ``nn.TransformerEncoder`` (for an Encoder), or its ``state_dict()``.

    Returns:
        `module` (its parameters overwritten in place).

    PyTorch keeps the three attention projections in one matrix ``in_proj_weight`` of shape
    (3 * d_model, d_model), stacked query; key; value: its three row blocks become ``q_proj``,
    ``k_proj`` and ``v_proj``. Everything else has the same name on both sides.
    """
    state = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    if isinstance(module, EncoderLayer):
        _load_layer(module, state, "")
    elif isinstance(module, Encoder):
        for index, layer in enumerate(module.layers):
            _load_layer(layer, state, f"layers.{index}.")
        if module.norm is not None:
            _copy(module.norm.weight, state, "norm.weight")
            _copy(module.norm.bias, state, "norm.bias")
    else:
        raise TypeError(f"load_from_torch expects an EncoderLayer or an Encoder, got {type(module).__name__}")
    return module


def _copy(param: torch.Tensor, state: Mapping[str, torch.Tensor], key: str) -> None:
    if key not in state:
        raise KeyError(f"the PyTorch weights have no {key!r} (is it the right kind of layer, with the same bias setting?)")
    value = state[key]
    if tuple(param.shape) != tuple(value.shape):
        raise ValueError(f"{key}: PyTorch's shape {tuple(value.shape)} does not match ours {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(value)


def _load_layer(layer: EncoderLayer, state: Mapping[str, torch.Tensor], prefix: str) -> None:
    attn = layer.self_attn
    q, k, v = state[prefix + "self_attn.in_proj_weight"].chunk(3, dim=0)      # each (d_model, d_model)
    parts = {"q_proj": q, "k_proj": k, "v_proj": v}
    bias_key = prefix + "self_attn.in_proj_bias"
    biases = dict(zip(parts, state[bias_key].chunk(3, dim=0))) if bias_key in state else {}
    for name, weight in parts.items():
        projection = getattr(attn, name)
        _copy(projection.weight, {name: weight}, name)
        if projection.bias is not None:
            _copy(projection.bias, biases, name)
    for ours, theirs in [("self_attn.out_proj", "self_attn.out_proj"), ("ff.linear1", "linear1"),
                         ("ff.linear2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")]:
        target = layer.get_submodule(ours)
        _copy(target.weight, state, f"{prefix}{theirs}.weight")
        if getattr(target, "bias", None) is None:
            continue
        if ours.startswith("norm") and f"{prefix}{theirs}.bias" not in state:
            with torch.no_grad():          # PyTorch's layer with bias=False has bias-free LayerNorms
                target.bias.zero_()
        else:
            _copy(target.bias, state, f"{prefix}{theirs}.bias")


# ---------------------------------------------------------------------------------------------
# Provided: a small BERT (used by the notebook)
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class BertConfig:
    """Sizes of a :class:`MiniBERT`. BERT-base is d_model=768, n_heads=12, n_layers=12, d_ff=3072."""

    vocab_size: int
    max_len: int = 128          # longest sequence (learned positions exist up to here)
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None     # None: 4 * d_model, as in the paper
    dropout: float = 0.1
    norm_first: bool = True     # pre-norm trains more easily from scratch; BERT itself is post-norm
    activation: str = "gelu"    # BERT's choice
    n_classes: int = 2          # the size of the classification head

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model


class MiniBERT(nn.Module):
    """A BERT-style model: embeddings -> :class:`Encoder` -> two heads.

    * token embedding + learned position embedding (notebook 02 and 03), normalised as in BERT;
    * the encoder stack (your §1-§5);
    * ``mlm_head``: a linear layer to vocabulary scores at every position (masked-LM training);
    * ``classifier``: a linear layer on the *pooled* output, the average of the vectors of the
      real tokens, to ``n_classes`` scores (BERT pools its [CLS] token instead; averaging works
      as well here and needs no extra token).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.emb_norm = LayerNorm(c.d_model)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = Encoder(c.n_layers, c.d_model, c.n_heads, c.d_ff, c.dropout, norm_first=c.norm_first,
                               activation=c.activation)
        self.mlm_head = nn.Linear(c.d_model, c.vocab_size)
        self.classifier = nn.Linear(c.d_model, c.n_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # BERT's initialisation: small normal weights (std 0.02), zero biases.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids (batch, seq) int64 -> contextual vectors (batch, seq, d_model)."""
        if ids.dim() != 2 or ids.shape[1] > self.config.max_len:
            raise ValueError(f"ids must have shape (batch, seq <= {self.config.max_len}), got {tuple(ids.shape)}")
        positions = torch.arange(ids.shape[1], device=ids.device)                # (T,)
        x = self.tok_emb(ids) + self.pos_emb(positions)                          # (B, T, d_model)
        x = self.dropout(self.emb_norm(x))
        return self.encoder(x, padding_mask)                                     # (B, T, d_model)

    def mlm_logits(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Vocabulary scores at every position: (batch, seq, vocab_size)."""
        return self.mlm_head(self(ids, padding_mask))

    def pooled(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The average of the vectors of the real tokens: (batch, seq, d_model) -> (batch, d_model)."""
        if padding_mask is None:
            return hidden.mean(dim=1)
        weights = padding_mask.to(hidden.dtype).unsqueeze(-1)                    # (B, T, 1): 1 at real tokens
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)

    def classify(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores from the pooled output: (batch, n_classes)."""
        return self.classifier(self.pooled(self(ids, padding_mask), padding_mask))

    def attention_maps(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The attention weights of every layer for a batch: a list of (batch, n_heads, seq, seq)."""
        layers = list(self.encoder.layers)
        for layer in layers:
            layer.keep_attention = True
        try:
            with torch.no_grad():
                self(ids, padding_mask)
            return [layer.attention_weights for layer in layers]
        finally:
            for layer in layers:
                layer.keep_attention = False
                layer.attention_weights = None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
