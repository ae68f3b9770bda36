"""One place chooses the device, and the learner can override it."""

import pytest
import torch

from course_lib import device


def test_explicit_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert device.get_device("cpu") == torch.device("cpu")


def test_environment_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")


def test_auto_prefers_an_accelerator(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "auto")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device.get_device().type == expected


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x"])
def test_unknown_device_is_a_clear_error(name):
    with pytest.raises(ValueError, match="device"):
        device.get_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_missing_gpu_is_reported_not_ignored():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        device.get_device("cuda")


def test_run_mode(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert device.run_mode(torch.device("cpu")) == "quick"
    assert device.run_mode(torch.device("cuda")) == "full"
    monkeypatch.setenv("COURSE_MODE", "full")
    assert device.run_mode(torch.device("cpu")) == "full"
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="COURSE_MODE"):
        device.run_mode()


def test_configure_threads_keeps_the_fastest_count(monkeypatch, capsys):
    """configure_threads times the step with each thread count and keeps the fastest; an explicit
    count and COURSE_THREADS win over measuring."""
    import time

    import torch

    monkeypatch.delenv("COURSE_THREADS", raising=False)
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    before = torch.get_num_threads()
    calls = []

    def step():   # slow with more than 2 threads, fastest with exactly 2: a busy machine's shape
        calls.append(torch.get_num_threads())
        time.sleep({1: 0.004, 2: 0.002}.get(torch.get_num_threads(), 0.02))

    try:
        assert device.configure_threads(step=step) == 2
        assert torch.get_num_threads() == 2
        assert set(calls) == {1, 2, 4}
        assert "measured: 1 thread" in capsys.readouterr().out
        assert device.configure_threads(3, step=step) == 3
        monkeypatch.setenv("COURSE_THREADS", "1")
        assert device.configure_threads() == 1
        assert "from COURSE_THREADS" in capsys.readouterr().out
        monkeypatch.delenv("COURSE_THREADS")
        assert device.configure_threads(verbose=False) in (1, 2, 4)   # the built-in probe
    finally:
        torch.set_num_threads(before)
