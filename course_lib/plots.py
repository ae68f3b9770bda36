"""Plots shared by the notebooks (no exercises here): attention heatmaps and an explorer widget.

    from course_lib.plots import attention_heatmap, attention_explorer, plot_heads

* :func:`attention_heatmap` draws one (n_q, n_k) weight matrix on a matplotlib Axes, the query
  tokens down the side (one row per query: "who is looking") and the key tokens along the
  bottom ("who is looked at").
* :func:`plot_heads` draws every head of one layer side by side.
* :func:`attention_explorer` is a widget: pick a sentence, a layer and a head (or all heads of
  the layer) and see the heatmap. It works for any model: you give it a function that returns
  the tokens and the weights of a sentence.

matplotlib and ipywidgets are imported when a function is called, so that ``import course_lib``
stays light.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

__all__ = ["attention_heatmap", "plot_heads", "attention_explorer"]


def _as_array(weights: Any):
    """A 2-D+ numpy array of floats from a tensor (any device, with or without grad) or array."""
    import numpy as np

    if hasattr(weights, "detach"):
        weights = weights.detach().float().cpu().numpy()
    return np.asarray(weights, dtype=float)


def attention_heatmap(ax, weights, q_tokens: Sequence[str], k_tokens: Sequence[str], title: str | None = None,
                      *, vmax: float | None = 1.0, cmap: str = "Blues", annotate: bool | None = None,
                      colorbar: bool = False):
    """Draw one attention map on `ax`.

    Args:
        ax: a matplotlib Axes.
        weights: (n_q, n_k) tensor or array; row i = how query i spreads its attention over the keys.
        q_tokens: n_q labels for the rows (the queries).
        k_tokens: n_k labels for the columns (the keys).
        title: optional title.
        vmax: the value drawn darkest (default 1.0, so that maps are comparable; None = the
            largest weight of this map).
        cmap: a matplotlib colormap name.
        annotate: write each weight in its cell (default: only when the map is at most 12 x 12).
        colorbar: add a colorbar next to the Axes.

    Returns:
        The AxesImage (for a shared colorbar).

    Raises:
        ValueError: if the shapes and the numbers of tokens do not agree.
    """
    w = _as_array(weights)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (n_q, n_k), got shape {w.shape}: pick one layer and head first")
    if w.shape != (len(q_tokens), len(k_tokens)):
        raise ValueError(f"weights have shape {w.shape} but there are {len(q_tokens)} query and "
                         f"{len(k_tokens)} key tokens")
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=vmax if vmax is not None else max(float(w.max()), 1e-9),
                      aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(k_tokens)))
    ax.set_xticklabels([str(t) for t in k_tokens], rotation=90, fontsize=8)
    ax.set_yticks(range(len(q_tokens)))
    ax.set_yticklabels([str(t) for t in q_tokens], fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title, fontsize=10)
    if annotate is None:
        annotate = w.shape[0] <= 12 and w.shape[1] <= 12
    if annotate:
        top = vmax if vmax is not None else float(w.max())
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                if w[i, j] >= 0.005:
                    ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if w[i, j] > 0.6 * top else "black")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return image


def plot_heads(weights, q_tokens: Sequence[str], k_tokens: Sequence[str] | None = None,
               title: str | None = None, *, max_cols: int = 4, size: float = 3.2, head_names=None):
    """All heads of one layer, side by side.

    Args:
        weights: (n_heads, n_q, n_k).
        q_tokens, k_tokens: row and column labels (k_tokens defaults to q_tokens).
        title: the figure's title.
        max_cols: heads per row of subplots.
        size: inches per subplot.
        head_names: optional titles, one per head (default "head 0", "head 1", ...).

    Returns:
        The matplotlib Figure (call plt.show() to display it).
    """
    import matplotlib.pyplot as plt

    w = _as_array(weights)
    if w.ndim != 3:
        raise ValueError(f"weights must be (n_heads, n_q, n_k), got shape {w.shape}")
    k_tokens = q_tokens if k_tokens is None else k_tokens
    n_heads = w.shape[0]
    cols = min(n_heads, max_cols)
    rows = math.ceil(n_heads / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 0.5, size * rows + 0.4), squeeze=False)
    for h in range(rows * cols):
        ax = axes[h // cols][h % cols]
        if h >= n_heads:
            ax.axis("off")
            continue
        name = head_names[h] if head_names is not None else f"head {h}"
        attention_heatmap(ax, w[h], q_tokens, k_tokens, name, annotate=False)
        if h % cols:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _normalise(result) -> tuple[list[str], list[str], Any]:
    """(q_tokens, k_tokens, weights) from what get_weights returned."""
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
        raise ValueError("get_weights(sentence) must return (tokens, weights) or (q_tokens, k_tokens, weights)")
    if len(result) == 2:
        tokens, weights = result
        return list(tokens), list(tokens), _as_array(weights)
    q_tokens, k_tokens, weights = result
    return list(q_tokens), list(k_tokens), _as_array(weights)


def attention_explorer(get_weights: Callable[[str], Any], sentences: Sequence[str], n_layers: int, n_heads: int,
                       *, size: float = 5.0):
    """A widget: choose a sentence, a layer and a head, see the attention heatmap with the tokens on both axes.

    Args:
        get_weights: ``get_weights(sentence)`` returns ``(tokens, weights)`` for self-attention
            (tokens: list of n strings; weights: (n_layers, n_heads, n, n), a tensor or array), or
            ``(q_tokens, k_tokens, weights)`` with weights (n_layers, n_heads, n_q, n_k) for
            cross-attention. Called once per sentence (results are cached).
        sentences: the choices of the sentence menu.
        n_layers, n_heads: the model's sizes (the ranges of the two sliders).
        size: inches of the heatmap.

    Returns:
        An ipywidgets VBox (display it, or leave it last in a cell). Ticking "all heads" shows
        every head of the chosen layer at once.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not sentences:
        raise ValueError("attention_explorer needs at least one sentence")
    cache: dict[str, tuple[list[str], list[str], Any]] = {}

    def weights_of(sentence: str):
        if sentence not in cache:
            q_tokens, k_tokens, w = _normalise(get_weights(sentence))
            if w.ndim != 4 or w.shape[:2] != (n_layers, n_heads):
                raise ValueError(f"get_weights returned weights of shape {w.shape}, expected "
                                 f"({n_layers}, {n_heads}, n_q, n_k)")
            cache[sentence] = (q_tokens, k_tokens, w)
        return cache[sentence]

    sentence_menu = widgets.Dropdown(options=list(sentences), description="sentence",
                                     layout=widgets.Layout(width="95%"))
    layer_slider = widgets.IntSlider(value=0, min=0, max=max(n_layers - 1, 0), description="layer",
                                     disabled=n_layers == 1)
    head_slider = widgets.IntSlider(value=0, min=0, max=max(n_heads - 1, 0), description="head",
                                    disabled=n_heads == 1)
    all_heads = widgets.Checkbox(value=False, description="all heads of the layer")
    output = widgets.Output()

    def redraw(*_):
        q_tokens, k_tokens, w = weights_of(sentence_menu.value)
        layer, head = layer_slider.value, head_slider.value
        head_slider.disabled = all_heads.value or n_heads == 1
        with output:
            output.clear_output(wait=True)
            if all_heads.value:
                plot_heads(w[layer], q_tokens, k_tokens, f"layer {layer}, all {n_heads} heads")
            else:
                fig, ax = plt.subplots(figsize=(size, size))
                attention_heatmap(ax, w[layer, head], q_tokens, k_tokens, f"layer {layer}, head {head}",
                                  colorbar=True)
                fig.tight_layout()
            plt.show()

    for control in (sentence_menu, layer_slider, head_slider, all_heads):
        control.observe(redraw, names="value")
    box = widgets.VBox([sentence_menu, widgets.HBox([layer_slider, head_slider, all_heads]), output])
    redraw()
    box.redraw = redraw  # for tests and for notebooks that change the model and want a refresh
    return box
