"""scale.cu run on the CPU by the CUDA emulator (tinygan/kernels/emulator) through the same
launcher the GPU uses, against its twin: float32 and float64, sizes that are not multiples of
the block, a grid smaller than the array (the grid-stride loop), serial schedules, and once
under ThreadSanitizer and once under AddressSanitizer.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import emulator, scale


def emulated(**options):
    return lambda name: emulator.function(scale.SOURCE, name, **options)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (31,), (255,), (256,), (257,), (3, 5, 7), (0,)])
def test_scale_in_the_emulator_matches_its_twin(dtype, shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    y = scale.launch_scale(emulated(), x, -2.5)
    assert y.shape == x.shape and y.dtype == x.dtype
    # exact: one IEEE multiplication per element in both
    np.testing.assert_array_equal(y, scale.scale_reference(x, -2.5))


@pytest.mark.parametrize("schedule", ["forward", "reverse"])
def test_a_grid_smaller_than_the_array_covers_it_by_striding(monkeypatch, schedule):
    monkeypatch.setattr(scale, "MAX_BLOCKS", 2)          # 512 threads for 1283 elements
    x = np.arange(5 * scale.BLOCK + 3, dtype=np.float64)
    y = scale.launch_scale(emulated(schedule=schedule), x, 3.0)
    np.testing.assert_array_equal(y, 3.0 * x)            # exact: integers times 3


@pytest.mark.parametrize("sanitizer", ["thread", "address"])
def test_scale_under_the_sanitizers(sanitizer):
    # 300 elements: the last block's threads 44..255 must not touch memory past the arrays.
    x = np.linspace(-1, 1, 300, dtype=np.float32)
    y = scale.launch_scale(emulated(sanitize=sanitizer), x, 0.5)
    np.testing.assert_array_equal(y, scale.scale_reference(x, 0.5))   # exact: halving
