"""Benchmark multi-head attention: the learner's path, the fast path and PyTorch's own module.

For a few (batch, seq, d_model, heads) sizes, times one forward + backward pass of self-attention
(float32, training mode, dropout 0) with:

  * ``learner``   ``course_lib.attention.MultiHeadAttention`` with ``use_fast_path = False``: the
                  explicit softmax(QK^T/sqrt(d_k))V of notebook 04 (materialises the n x n weights);
  * ``fast``      the same module with ``use_fast_path = True`` (``F.scaled_dot_product_attention``);
  * ``torch``     ``nn.MultiheadAttention(batch_first=True)`` with the same weights,
                  ``need_weights=False`` (its fastest setting);

and prints the median time of each (runs interleaved, so that a busy machine slows all three
alike), the ratio fast / torch (the goal: <= 1.1) and learner / fast. With ``--causal`` the
attention is causal (PyTorch's module then gets the mask as a tensor plus ``is_causal=True``).

Usage (from the repository root):

    PYTHONPATH=solutions python benchmarks/bench_attention.py            # the reference
    PYTHONPATH=. python benchmarks/bench_attention.py                    # your course_lib
    PYTHONPATH=solutions python benchmarks/bench_attention.py --device cuda --causal --repeat 50
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from course_lib.attention import MultiHeadAttention, load_from_torch

SIZES = [  # (batch, seq, d_model, heads)
    (32, 64, 128, 4),
    (8, 256, 256, 4),
    (4, 512, 512, 8),
    (1, 1024, 512, 8),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def _step(run, x: torch.Tensor, grad: torch.Tensor) -> None:
    out = run(x)
    out.backward(grad)


def bench_size(batch: int, seq: int, d_model: int, heads: int, *, device: torch.device, causal: bool,
               repeat: int, warmup: int) -> dict[str, float]:
    """Median seconds of one forward + backward for the three implementations."""
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(d_model, heads, batch_first=True).to(device)
    ours = load_from_torch(MultiHeadAttention(d_model, heads).to(device), reference)
    x = torch.randn(batch, seq, d_model, device=device, requires_grad=True)
    grad = torch.randn(batch, seq, d_model, device=device)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(seq, device=device) if causal else None

    def run_learner(inp):
        ours.use_fast_path = False
        return ours(inp, is_causal=causal)

    def run_fast(inp):
        ours.use_fast_path = True
        return ours(inp, is_causal=causal)

    def run_torch(inp):
        return reference(inp, inp, inp, need_weights=False, attn_mask=mask, is_causal=causal)[0]

    runs = {"learner": run_learner, "fast": run_fast, "torch": run_torch}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup + repeat):
        for name, run in runs.items():
            x.grad = None
            _sync(device)
            start = time.perf_counter()
            _step(run, x, grad)
            _sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--causal", action="store_true", help="causal self-attention")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per implementation and size")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"{'causal' if args.causal else 'no mask'}, forward + backward, median of {args.repeat}")
    header = f"{'batch':>5} {'seq':>5} {'d_model':>7} {'heads':>5} | {'learner ms':>10} {'fast ms':>8} " \
             f"{'torch ms':>8} | {'fast/torch':>10} {'learner/fast':>12}"
    print(header)
    print("-" * len(header))
    ratios = []
    for batch, seq, d_model, heads in SIZES:
        t = bench_size(batch, seq, d_model, heads, device=device, causal=args.causal,
                       repeat=args.repeat, warmup=args.warmup)
        ratio = t["fast"] / t["torch"]
        ratios.append(ratio)
        print(f"{batch:>5} {seq:>5} {d_model:>7} {heads:>5} | {t['learner'] * 1e3:>10.2f} {t['fast'] * 1e3:>8.2f} "
              f"{t['torch'] * 1e3:>8.2f} | {ratio:>10.2f} {t['learner'] / t['fast']:>12.2f}")
    worst = max(ratios)
    print(f"fast path vs nn.MultiheadAttention: worst ratio {worst:.2f} "
          f"({'within' if worst <= 1.1 else 'NOT within'} the 1.1x goal)")


if __name__ == "__main__":
    main()
