"""Where tensors live, chosen in one place.

Every notebook and test asks `get_device()` instead of writing "cuda" or "cpu" itself. The
choice, in order:

1. the argument you pass, e.g. `get_device("cpu")`;
2. the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto``);
3. ``auto``: CUDA if present, else Apple's MPS if present, else the CPU.

`configure_threads()` sets how many CPU threads PyTorch uses, by measuring when it can (a small
model on a busy machine is often fastest on one thread).

`run_mode()` answers the other question the notebooks ask: "quick" (sized for a 2-core laptop,
seconds to a minute per cell) or "full" (bigger models and data, meant for a GPU). It reads
``COURSE_MODE`` and defaults to "quick" on a CPU and "full" on an accelerator. A third mode,
"smoke", is for the course's own tests: every notebook runs end to end in seconds, with results
too small to mean anything.
"""

from __future__ import annotations

import os

VALID_MODES = ("smoke", "quick", "full")


def get_device(preference: str | None = None):
    """Return the `torch.device` to use.

    Args:
        preference: "auto", "cpu", "cuda", "cuda:N" or "mps". None reads ``COURSE_DEVICE``
            (default "auto").

    Raises:
        ValueError: for an unknown name, or when the requested accelerator is not available
            (so a typo or a missing GPU is reported instead of silently running on the CPU).
    """
    import torch  # imported here so that `import course_lib` stays fast

    choice = (preference or os.environ.get("COURSE_DEVICE") or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as err:
        raise ValueError(
            f"Unknown device {choice!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
            "(set it with get_device(...) or the COURSE_DEVICE environment variable)."
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {choice!r} was requested but PyTorch sees no CUDA GPU here.")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"Device {choice!r} was requested but Apple's MPS is not available here.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Device {choice!r} is not supported by the course (use cpu, cuda or mps).")
    return device


def run_mode(device=None) -> str:
    """Return "quick" or "full" (see the module docstring); ``COURSE_MODE`` overrides (also "smoke")."""
    mode = os.environ.get("COURSE_MODE", "").strip().lower()
    if mode:
        if mode not in VALID_MODES:
            raise ValueError(f"COURSE_MODE must be one of {VALID_MODES}, not {mode!r}.")
        return mode
    device = device if device is not None else get_device()
    return "quick" if getattr(device, "type", str(device)) == "cpu" else "full"


def describe() -> str:
    """One line for the top of each notebook: the device, the mode and how to change them."""
    device = get_device()
    return (
        f"device: {device} · mode: {run_mode(device)} "
        "(change with the COURSE_DEVICE / COURSE_MODE environment variables)"
    )


def configure_threads(threads: int | None = None, *, step=None, verbose: bool = True) -> int:
    """Choose how many CPU threads PyTorch uses for one operation, and set it.

    More threads are not always faster. A small model's matrix products are too small to split
    well, and on a machine whose cores are busy with other work a second thread mostly waits for
    a core: on a loaded 2-core machine one thread was up to 10x faster per step than two. So:

    1. `threads` if given, else the ``COURSE_THREADS`` environment variable;
    2. else MEASURE: time `step` (a function of no arguments running one training step; by
       default, a few matrix products of the size of the course's small models) with 1, 2, 4, ...
       threads, up to the cores this process may use, and keep the fastest. Each count gets a
       warm-up call and the median of up to 5 timed calls, so one hiccup does not decide.

    Also sets one inter-op thread (the course's models have no parallel branches to run).
    On a GPU the choice barely matters (the CPU only launches kernels).

    Returns:
        The number of threads now set.
    """
    import contextlib
    import time

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(RuntimeError):  # only allowed before the first parallel op
        torch.set_num_interop_threads(1)
    how = "as asked"
    if threads is None and os.environ.get("COURSE_THREADS"):
        threads, how = int(os.environ["COURSE_THREADS"]), "from COURSE_THREADS"
    if threads is None and cores == 1:
        threads, how = 1, "1 core"
    if threads is None:
        what = "ms/step"
        if step is None:   # a feed-forward layer of a 128-wide model on 16 x 64 tokens, forward only
            what = "ms per probe"
            x, w1, w2 = torch.randn(1024, 128), torch.randn(128, 512), torch.randn(512, 128)

            def step():
                for _ in range(4):
                    (x @ w1).relu_() @ w2

        candidates = sorted({1, *[c for c in (2, 4, 8, 16) if c < cores], cores})
        timings = {}
        for n in candidates:
            torch.set_num_threads(n)
            step()                                   # warm up (thread pool, allocations, caches)
            samples = []
            for _ in range(5):
                start = time.perf_counter()
                step()
                samples.append(time.perf_counter() - start)
                if timings and len(samples) >= 2 and min(samples) > 3 * min(timings.values()):
                    break                            # clearly slower twice: no need to insist
            timings[n] = sorted(samples)[len(samples) // 2]   # the median
        threads = min(timings, key=timings.get)
        how = "measured: " + ", ".join(f"{n} thread{'s' * (n > 1)} {1000 * t:.1f} {what}" for n, t in timings.items())
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    if verbose:
        print(f"PyTorch CPU threads: {threads} ({how})")
    return threads
