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
