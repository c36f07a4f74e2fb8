"""Shared fixtures for the test suite.

The op tests (tests/ops/) build their inputs with the fixtures below:
float64 tensors that require grad, drawn from a NumPy Generator seeded from the
test's id, so every test sees the same numbers on every run and under xdist,
whatever order the tests run in.

Tests on real data ask for the ``mnist`` or ``fashion_mnist`` fixture, which gets the
data set as a user's code does (``tinygan.data``: $TINYGAN_DATA, then the cache, then a
verified download, once, under a file lock that the xdist workers share), and fails
them with the reason when it cannot be had: no test skips for lack of data.  The only
skips are the GPU tests without CuPy and a GPU and the cross-checks against PyTorch
without torch; the end of the run says how many of each, and why, on one line.
"""
from __future__ import annotations

import re
import signal
import zlib
from collections import Counter

import numpy as np
import pytest

import tinygan
from tinygan.testing import gradcheck, gradgradcheck


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A NumPy Generator seeded from the test's node id (stable across runs and workers)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def _away(rng: np.random.Generator, shape, margin: float) -> np.ndarray:
    """sign * (margin + |randn|): no entry closer than ``margin`` to 0 (the kink of abs, relu...)."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return sign * (margin + np.abs(rng.standard_normal(shape)))


def _distinct(rng: np.random.Generator, shape, gap: float) -> np.ndarray:
    """Values at least ``gap`` apart from each other (no ties for max/min), in random order."""
    n = int(np.prod(shape, dtype=np.int64))
    values = (np.arange(n) - n / 2) * gap + rng.uniform(0, gap / 4, n)
    return rng.permutation(values).reshape(shape)


@pytest.fixture
def make(rng):
    """``make(*shape, kind=..., requires_grad=True, dtype=float64, scale=1.0)`` -> Tensor.

    kinds: ``normal`` (randn), ``positive`` (0.5 + |randn|, for log, sqrt, pow bases),
    ``away`` (sign * (0.1 + |randn|): away from the kinks at 0), ``distinct`` (no ties, for
    max/min), ``uniform`` (in [-1, 1)).
    The returned tensor owns its data; take the NumPy reference from ``x.data.copy()``
    (gradcheck nudges ``x.data`` in place and restores it).
    """
    def make(*shape, kind: str = "normal", requires_grad: bool = True, dtype=np.float64,
             scale: float = 1.0) -> tinygan.Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        if kind == "normal":
            arr = rng.standard_normal(shape)
        elif kind == "positive":
            arr = 0.5 + np.abs(rng.standard_normal(shape))
        elif kind == "away":
            arr = _away(rng, shape, 0.1)
        elif kind == "distinct":
            arr = _distinct(rng, shape, 0.1)
        elif kind == "uniform":
            arr = rng.uniform(-1.0, 1.0, shape)
        else:
            raise ValueError(f"make: unknown kind {kind!r}")
        arr = np.asarray(arr * scale, dtype=dtype)
        return tinygan.tensor(arr, dtype=dtype, requires_grad=requires_grad)
    return make


@pytest.fixture
def check_grads():
    """``check_grads(fn, *inputs)``: first- and second-order gradient checks, asserting both."""
    def check(fn, *inputs, atol: float = 1e-5, rtol: float = 1e-3, eps: float = 1e-6,
              second: bool = True) -> None:
        assert gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
        if second:
            assert gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    return check


@pytest.fixture
def check_float32_kept():
    """``check_float32_kept(op)``: a float32 input gives a float32 NumPy output and a float32
    gradient (no silent promotion to float64 through a Python scalar or a NumPy default)."""
    def check(op) -> None:
        x = tinygan.tensor([[0.5, 1.5, 2.0], [1.25, -0.75, 3.0]], requires_grad=True)
        y = op(x)
        assert y.dtype == np.float32, y.dtype
        assert type(y.data) is np.ndarray
        (g,) = tinygan.grad(y.sum(), x)
        assert g.dtype == np.float32, g.dtype
    return check


def assert_matches(t: tinygan.Tensor, expected, *, rtol: float = 1e-10, atol: float = 1e-12,
                   dtype=None) -> None:
    """``t`` has exactly the reference's shape (and dtype, if given) and values close to it."""
    expected = np.asarray(expected)
    assert isinstance(t, tinygan.Tensor), type(t)
    assert isinstance(t.data, np.ndarray) and not isinstance(t.data, np.generic), type(t.data)
    assert t.shape == expected.shape, (t.shape, expected.shape)
    if dtype is not None:
        assert t.dtype == np.dtype(dtype), (t.dtype, dtype)
    np.testing.assert_allclose(t.data, expected, rtol=rtol, atol=atol)


@pytest.fixture
def close():
    """``close(t, expected, rtol=..., atol=..., dtype=None)``: shape, dtype and values check."""
    return assert_matches


@pytest.fixture
def terminal_sigint():
    """SIGINT handled as in a terminal (Python's KeyboardInterrupt) while the test runs, whatever
    disposition the process inherited: a shell starts a background job with SIGINT ignored,
    and tinygan's training loop rightly leaves an ignored SIGINT alone -- so a Ctrl-C test
    run from such a job would see no Ctrl-C at all.  (Main thread only, like signals.)"""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture
def drawn_grids(monkeypatch) -> list:
    """Every grid picture ``tinygan.viz.image_grid_figure`` makes during the test, as a list of
    dicts (images as a NumPy copy, nrow, title); the pictures are still made and written."""
    from tinygan import viz
    drawn, original = [], viz.image_grid_figure

    def spy(images, nrow=8, title=None, **kw):
        drawn.append(dict(images=np.array(images), nrow=nrow, title=title))
        return original(images, nrow=nrow, title=title, **kw)
    monkeypatch.setattr(viz, "image_grid_figure", spy)
    return drawn


# -- real data sets -----------------------------------------------------------------------
def _data_set(name: str) -> None:
    """Find, or download and verify, every file of data set ``name`` (tinygan.data's lookup);
    fail the test that asked, with every source tried and why it failed, when that can't be done."""
    from tinygan.data import fetch
    try:
        fetch.load_raw(name)
        return
    except Exception as exc:  # no network, no package client, a corrupt cached file, ...
        problem = f"{type(exc).__name__}: {exc}"
    pytest.fail(f"this test needs {name}, which could not be found or downloaded.\n{problem}",
                pytrace=False)


@pytest.fixture(scope="session")
def mnist() -> None:
    """MNIST, found or fetched once per worker (see the module docstring)."""
    _data_set("mnist")


@pytest.fixture(scope="session")
def fashion_mnist() -> None:
    """Fashion-MNIST, found or fetched once per worker (see the module docstring)."""
    _data_set("fashion-mnist")


# -- what was skipped, and why ----------------------------------------------------------------
SKIP_KINDS = (("PyTorch cross-checks", re.compile(r"torch")),
              ("GPU tests", re.compile(r"cupy|cuda|gpu", re.IGNORECASE)))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter) -> None:
    """One line: how many tests skipped, of which kind, and why (the first reason of each kind);
    a skip of any other kind gets a line of its own, since no other test should skip."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if getattr(r, "skipped", False)]
    if not skipped:
        return
    kinds, why, others = Counter(), {}, Counter()
    for report in skipped:
        reason = _skip_reason(report)
        kind = next((k for k, pattern in SKIP_KINDS if pattern.search(reason)), None)
        if kind is None:
            others[reason] += 1
        else:
            kinds[kind] += 1
            why.setdefault(kind, reason)
    parts = [f"{kinds[k]} {k} ({why[k]})" for k, _ in SKIP_KINDS if kinds[k]]
    parts += [f"{n} other{'s' if n > 1 else ''}" for n in [sum(others.values())] if n]
    terminalreporter.write_line(f"skipped {len(skipped)}: " + ", ".join(parts))
    for reason, n in others.most_common():
        terminalreporter.write_line(f"  UNEXPECTED: {n} skipped because: {reason}", red=True, bold=True)


@pytest.fixture
def launched(monkeypatch):
    """The names of the CUDA kernels launched through the loader (kernels/cuda.py) in the test."""
    from tinygan.kernels import cuda
    names = []
    real = cuda.function

    def spy(source, name):
        names.append(name)
        return real(source, name)
    monkeypatch.setattr(cuda, "function", spy)
    return names
