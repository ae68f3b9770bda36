"""Where tensors live, chosen in one place.

Every notebook and test asks `get_device()` instead of writing "cuda" or "cpu" itself. The
choice, in order:

1. the argument you pass, e.g. `get_device("cpu")`;
2. the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto``);
3. ``auto``: CUDA if present, else Apple's MPS if present, else the CPU.

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
