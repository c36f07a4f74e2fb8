"""Shared fixtures for the test suite.

The op tests (tests/test_ops_*.py) build their inputs with the fixtures below:
float64 tensors that require grad, drawn from a NumPy Generator seeded from the
test's id, so every test sees the same numbers on every run and under xdist,
whatever order the tests run in.
"""
from __future__ import annotations

import zlib

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
