"""pytest options shared by the whole suite.

    pytest                     the public checks run on the reference package (solutions/), as CI does
    pytest --impl student      ... on your course_lib/ (this is what `make check` runs)
    pytest --device cuda       run tensor checks on another device (default: cpu)
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--impl", choices=["reference", "student"], default="reference",
                     help="which course_lib the public checks import (default: reference)")
    parser.addoption("--device", default="cpu", help="device for tensor checks: cpu, cuda, mps, auto")


def pytest_configure(config):
    impl = config.getoption("--impl")
    root = REPO / "solutions" if impl == "reference" else REPO
    # Put the chosen package first, before any installed course_lib, here and in subprocesses.
    sys.path.insert(0, str(root))
    os.environ["COURSE_TEST_IMPL_ROOT"] = str(root)
    os.environ["COURSE_DEVICE"] = config.getoption("--device")
    os.environ.setdefault("COURSE_MODE", "quick")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
