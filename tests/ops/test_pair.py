"""tinygan.ops.pair: one reading of "an int or a pair of ints" for every 2-D op and layer.

The helper on its own, then every entry point that takes a size, stride, padding or dilation
as an int or a pair (conv2d, conv_transpose2d, max_pool2d, avg_pool2d, interpolate and their
layers): NumPy integers of every width, 0-d arrays and tensors give the same result as a
Python int; floats, bools, strings, wrong lengths and out-of-range values give an error that
names the op, the argument and the value, of the kind PyTorch raises (TypeError for a wrong
type; ValueError where PyTorch raises a RuntimeError or ValueError for a wrong value).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygan
import tinygan.nn as nn
import tinygan.nn.functional as F
from tinygan.ops.pair import pair

INT_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
             np.uint64]


# -----------------------------------------------------------------------------
# the helper
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", INT_TYPES)
def test_integers_of_any_type(kind):
    for v, expected in [(kind(3), (3, 3)), ((kind(3), kind(1)), (3, 1)), ([kind(2), 5], (2, 5))]:
        out = pair(v, "stride", "conv2d")
        assert out == expected and all(type(i) is int for i in out)


def test_arrays_and_tensors_of_integers():
    assert pair(np.array(3), "size", "op") == (3, 3)
    assert pair(np.array([3, 1]), "size", "op") == (3, 1)
    assert pair(tinygan.tensor(3), "size", "op") == (3, 3)
    assert pair(tinygan.tensor([3, 1]), "size", "op") == (3, 1)
    assert pair(range(2, 4), "size", "op") == (2, 3)


@pytest.mark.parametrize("value, error", [
    (2.0, TypeError), (np.float64(2.0), TypeError), (np.float32(2.0), TypeError),
    (True, TypeError), (np.bool_(False), TypeError), ("2", TypeError), ("22", TypeError),
    (None, TypeError), (object(), TypeError), ((2.0, 1), TypeError), ((1, True), TypeError),
    ((1, "2"), TypeError), (np.array(2.0), TypeError), (tinygan.tensor(2.0), TypeError),
    (np.array([True, False]), TypeError), ((), ValueError), ((2,), ValueError),
    ([1, 2, 3], ValueError), (np.zeros((2, 2), int), TypeError),
])
def test_refused_with_the_op_the_argument_and_the_value(value, error):
    with pytest.raises(error) as info:
        pair(value, "stride", "conv2d")
    assert str(info.value) == f"conv2d: stride must be an int or a pair of ints, got {value!r}"


def test_bounds():
    assert pair(0, "padding", "conv2d", at_least=0) == (0, 0)
    assert pair((1, 0), "padding", "conv2d") == (1, 0)            # no bound unless asked
    with pytest.raises(ValueError, match=re.escape("conv2d: padding must be non-negative, got (1, -1)")):
        pair((1, -1), "padding", "conv2d", at_least=0)
    with pytest.raises(ValueError, match=re.escape("conv2d: stride must be positive, got 0")):
        pair(0, "stride", "conv2d", at_least=1)
    with pytest.raises(ValueError, match=re.escape("op: k must be >= 3, got np.int64(2)")):
        pair(np.int64(2), "k", "op", at_least=3)


def test_real_numbers_for_scale_factors():
    assert pair(2, "scale_factor", "interpolate", real=True) == (2.0, 2.0)
    assert pair((np.float32(1.5), np.int64(2)), "scale_factor", "interpolate", real=True) == (1.5, 2.0)
    for bad, error in [(True, TypeError), ("2", TypeError), ((1.5, None), TypeError),
                       ((1.5,), ValueError)]:
        with pytest.raises(error, match=re.escape(
                f"interpolate: scale_factor must be a number or a pair of numbers, got {bad!r}")):
            pair(bad, "scale_factor", "interpolate", real=True)


# -----------------------------------------------------------------------------
# every entry point
# -----------------------------------------------------------------------------
def _x():
    return tinygan.tensor(np.random.default_rng(0).standard_normal((1, 2, 8, 8)))


def _w(*shape):
    return tinygan.tensor(np.random.default_rng(1).standard_normal(shape))


def _layer(cls, *args, **kw):
    """Make the layer with its weights drawn from one seed, and run it on the image."""
    tinygan.manual_seed(0)
    return cls(*args, dtype=tinygan.float64, **kw)(_x())


# name -> (call(v), op named in the errors, argument, bound, a valid int)
ENTRIES = {
    "conv2d stride": (lambda v: F.conv2d(_x(), _w(3, 2, 3, 3), stride=v), "conv2d", "stride", 1, 2),
    "conv2d padding": (lambda v: F.conv2d(_x(), _w(3, 2, 3, 3), padding=v), "conv2d", "padding", 0, 1),
    "conv2d dilation": (lambda v: F.conv2d(_x(), _w(3, 2, 3, 3), dilation=v), "conv2d", "dilation",
                        1, 2),
    "conv_transpose2d stride": (lambda v: F.conv_transpose2d(_x(), _w(2, 3, 3, 3), stride=v),
                                "conv_transpose2d", "stride", 1, 2),
    "conv_transpose2d padding": (lambda v: F.conv_transpose2d(_x(), _w(2, 3, 3, 3), padding=v),
                                 "conv_transpose2d", "padding", 0, 1),
    "conv_transpose2d output_padding": (
        lambda v: F.conv_transpose2d(_x(), _w(2, 3, 3, 3), stride=3, output_padding=v),
        "conv_transpose2d", "output_padding", 0, 2),
    "conv_transpose2d dilation": (lambda v: F.conv_transpose2d(_x(), _w(2, 3, 3, 3), dilation=v),
                                  "conv_transpose2d", "dilation", 1, 2),
    "max_pool2d kernel_size": (lambda v: F.max_pool2d(_x(), v), "max_pool2d", "kernel_size", 1, 2),
    "max_pool2d stride": (lambda v: F.max_pool2d(_x(), 3, v), "max_pool2d", "stride", 1, 2),
    "max_pool2d padding": (lambda v: F.max_pool2d(_x(), 3, 2, v), "max_pool2d", "padding", 0, 1),
    "max_pool2d dilation": (lambda v: F.max_pool2d(_x(), 3, 1, 0, v), "max_pool2d", "dilation",
                            1, 2),
    "avg_pool2d kernel_size": (lambda v: F.avg_pool2d(_x(), v), "avg_pool2d", "kernel_size", 1, 2),
    "avg_pool2d stride": (lambda v: F.avg_pool2d(_x(), 3, v), "avg_pool2d", "stride", 1, 2),
    "avg_pool2d padding": (lambda v: F.avg_pool2d(_x(), 3, 2, v), "avg_pool2d", "padding", 0, 1),
    "interpolate size": (lambda v: F.interpolate(_x(), size=v), "interpolate", "size", None, 5),
    "Conv2d kernel_size": (lambda v: _layer(nn.Conv2d, 2, 3, v), "Conv2d", "kernel_size", 1, 2),
    "Conv2d stride": (lambda v: _layer(nn.Conv2d, 2, 3, 3, stride=v), "Conv2d", "stride", 1, 2),
    "Conv2d padding": (lambda v: _layer(nn.Conv2d, 2, 3, 3, padding=v), "Conv2d", "padding", 0, 1),
    "Conv2d dilation": (lambda v: _layer(nn.Conv2d, 2, 3, 3, dilation=v), "Conv2d", "dilation",
                        1, 2),
    "ConvTranspose2d kernel_size": (lambda v: _layer(nn.ConvTranspose2d, 2, 3, v),
                                    "ConvTranspose2d", "kernel_size", 1, 2),
    "ConvTranspose2d stride": (lambda v: _layer(nn.ConvTranspose2d, 2, 3, 3, stride=v),
                               "ConvTranspose2d", "stride", 1, 2),
    "ConvTranspose2d padding": (lambda v: _layer(nn.ConvTranspose2d, 2, 3, 3, padding=v),
                                "ConvTranspose2d", "padding", 0, 1),
    "ConvTranspose2d output_padding": (
        lambda v: _layer(nn.ConvTranspose2d, 2, 3, 3, stride=3, output_padding=v),
        "ConvTranspose2d", "output_padding", 0, 2),
    "ConvTranspose2d dilation": (lambda v: _layer(nn.ConvTranspose2d, 2, 3, 3, dilation=v),
                                 "ConvTranspose2d", "dilation", 1, 2),
    # The pooling layers and Upsample keep their arguments as given (as PyTorch's do) and
    # pass them to the functional op at forward, which reads and checks them.
    "MaxPool2d kernel_size": (lambda v: nn.MaxPool2d(v)(_x()), "max_pool2d", "kernel_size", 1, 2),
    "MaxPool2d stride": (lambda v: nn.MaxPool2d(3, v)(_x()), "max_pool2d", "stride", 1, 2),
    "MaxPool2d padding": (lambda v: nn.MaxPool2d(3, 2, v)(_x()), "max_pool2d", "padding", 0, 1),
    "MaxPool2d dilation": (lambda v: nn.MaxPool2d(3, 1, 0, v)(_x()), "max_pool2d", "dilation",
                           1, 2),
    "AvgPool2d kernel_size": (lambda v: nn.AvgPool2d(v)(_x()), "avg_pool2d", "kernel_size", 1, 2),
    "AvgPool2d stride": (lambda v: nn.AvgPool2d(3, v)(_x()), "avg_pool2d", "stride", 1, 2),
    "AvgPool2d padding": (lambda v: nn.AvgPool2d(3, 2, v)(_x()), "avg_pool2d", "padding", 0, 1),
    "Upsample size": (lambda v: nn.Upsample(size=v)(_x()), "interpolate", "size", None, 5),
}


def _integer_forms(good: int) -> list:
    return ([t(good) for t in INT_TYPES[1:]]
            + [np.array(good), tinygan.tensor(good), (np.int64(good), good), [np.uint8(good), good],
               np.array([good, good]), tinygan.tensor([good, good])])


@pytest.mark.parametrize("entry", ENTRIES)
def test_numpy_integers_give_what_a_python_int_gives(entry):
    call, *_, good = ENTRIES[entry]
    expected = call(good).data
    for v in _integer_forms(good):
        np.testing.assert_array_equal(call(v).data, expected, err_msg=repr(v))


@pytest.mark.parametrize("entry", ENTRIES)
def test_wrong_types_and_lengths_name_the_op_argument_and_value(entry):
    call, op, arg, _, good = ENTRIES[entry]
    for bad, error in [(float(good), TypeError), (np.float64(good), TypeError), (True, TypeError),
                       (str(good), TypeError), ((float(good), good), TypeError),
                       ((good, good, good), ValueError), ([good], ValueError)]:
        if isinstance(bad, str) and op in ("conv2d", "Conv2d") and arg == "padding":
            expected = f"{op}: padding must be 'valid', 'same', an int or a pair of ints, got '{good}'"
            error = ValueError           # PyTorch: "Invalid padding string"
        else:
            expected = f"{op}: {arg} must be an int or a pair of ints, got {bad!r}"
        with pytest.raises(error) as info:
            call(bad)
        assert str(info.value) == expected, bad


@pytest.mark.parametrize("entry", [e for e in ENTRIES if ENTRIES[e][3] is not None])
def test_out_of_range_values_name_the_op_argument_and_value(entry):
    call, op, arg, bound, good = ENTRIES[entry]
    words = {0: "non-negative", 1: "positive"}[bound]
    for bad in [bound - 1, (good, bound - 1), np.int64(-3)]:
        with pytest.raises(ValueError) as info:
            call(bad)
        assert str(info.value) == f"{op}: {arg} must be {words}, got {bad!r}"


def test_interpolate_sizes_and_scale_factors():
    x = _x()
    with pytest.raises(ValueError, match=r"interpolate: the output size \(0, 0\) must be positive"):
        F.interpolate(x, size=np.int64(0))
    expected = F.interpolate(x, scale_factor=2).data
    for s in [2.0, np.float32(2), np.int64(2), (2, np.float64(2.0)), [2, 2]]:
        np.testing.assert_array_equal(F.interpolate(x, scale_factor=s).data, expected)
        np.testing.assert_array_equal(nn.Upsample(scale_factor=s)(x).data, expected)
    for bad, error in [(True, TypeError), ("2", TypeError), ((2,), ValueError), ((2, 2, 2), ValueError)]:
        message = f"must be a number or a pair of numbers, got {bad!r}"
        with pytest.raises(error, match=re.escape(f"interpolate: scale_factor {message}")):
            F.interpolate(x, scale_factor=bad)
        with pytest.raises(error, match=re.escape(f"Upsample: scale_factor {message}")):
            nn.Upsample(scale_factor=bad)
    assert nn.Upsample(scale_factor=np.int64(2)).scale_factor == 2.0          # a float, as PyTorch
    assert nn.Upsample(scale_factor=(2, 3)).scale_factor == (2.0, 3.0)


def test_conv_padding_strings_and_layers_store_pairs():
    x, w = _x(), _w(3, 2, 3, 3)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="same").data, F.conv2d(x, w, padding=1).data)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="valid").data, F.conv2d(x, w).data)
    conv = nn.Conv2d(2, 3, np.int64(3), stride=(np.int32(2), 1), padding=np.uint8(1))
    assert conv.kernel_size == (3, 3) and conv.stride == (2, 1) and conv.padding == (1, 1)
    assert all(type(v) is int for v in conv.kernel_size + conv.stride + conv.padding)
    assert conv.weight.shape == (3, 2, 3, 3)


# -----------------------------------------------------------------------------
# against PyTorch: the same values accepted, the same kind of error otherwise
# -----------------------------------------------------------------------------
def _torch_entries(torch):
    tF, tnn = torch.nn.functional, torch.nn
    x = torch.tensor(_x().data)
    w, wt = torch.tensor(_w(3, 2, 3, 3).data), torch.tensor(_w(2, 3, 3, 3).data)
    return {
        "conv2d stride": lambda v: tF.conv2d(x, w, stride=v),
        "conv2d padding": lambda v: tF.conv2d(x, w, padding=v),
        "conv2d dilation": lambda v: tF.conv2d(x, w, dilation=v),
        "conv_transpose2d stride": lambda v: tF.conv_transpose2d(x, wt, stride=v),
        "conv_transpose2d padding": lambda v: tF.conv_transpose2d(x, wt, padding=v),
        "conv_transpose2d output_padding": lambda v: tF.conv_transpose2d(x, wt, stride=3,
                                                                         output_padding=v),
        "conv_transpose2d dilation": lambda v: tF.conv_transpose2d(x, wt, dilation=v),
        "max_pool2d kernel_size": lambda v: tF.max_pool2d(x, v),
        "max_pool2d stride": lambda v: tF.max_pool2d(x, 3, v),
        "max_pool2d padding": lambda v: tF.max_pool2d(x, 3, 2, v),
        "max_pool2d dilation": lambda v: tF.max_pool2d(x, 3, 1, 0, v),
        "avg_pool2d kernel_size": lambda v: tF.avg_pool2d(x, v),
        "avg_pool2d stride": lambda v: tF.avg_pool2d(x, 3, v),
        "avg_pool2d padding": lambda v: tF.avg_pool2d(x, 3, 2, v),
        "interpolate size": lambda v: tF.interpolate(x, size=v),
        "Conv2d kernel_size": lambda v: tnn.Conv2d(2, 3, v, dtype=torch.float64)(x),
        "Conv2d stride": lambda v: tnn.Conv2d(2, 3, 3, stride=v, dtype=torch.float64)(x),
        "Conv2d padding": lambda v: tnn.Conv2d(2, 3, 3, padding=v, dtype=torch.float64)(x),
        "Conv2d dilation": lambda v: tnn.Conv2d(2, 3, 3, dilation=v, dtype=torch.float64)(x),
        "ConvTranspose2d kernel_size": lambda v: tnn.ConvTranspose2d(2, 3, v, dtype=torch.float64)(x),
        "ConvTranspose2d stride": lambda v: tnn.ConvTranspose2d(2, 3, 3, stride=v,
                                                                dtype=torch.float64)(x),
        "ConvTranspose2d padding": lambda v: tnn.ConvTranspose2d(2, 3, 3, padding=v,
                                                                 dtype=torch.float64)(x),
        "ConvTranspose2d output_padding": lambda v: tnn.ConvTranspose2d(
            2, 3, 3, stride=3, output_padding=v, dtype=torch.float64)(x),
        "ConvTranspose2d dilation": lambda v: tnn.ConvTranspose2d(2, 3, 3, dilation=v,
                                                                  dtype=torch.float64)(x),
        "MaxPool2d kernel_size": lambda v: tnn.MaxPool2d(v)(x),
        "MaxPool2d stride": lambda v: tnn.MaxPool2d(3, v)(x),
        "MaxPool2d padding": lambda v: tnn.MaxPool2d(3, 2, v)(x),
        "MaxPool2d dilation": lambda v: tnn.MaxPool2d(3, 1, 0, v)(x),
        "AvgPool2d kernel_size": lambda v: tnn.AvgPool2d(v)(x),
        "AvgPool2d stride": lambda v: tnn.AvgPool2d(3, v)(x),
        "AvgPool2d padding": lambda v: tnn.AvgPool2d(3, 2, v)(x),
        "Upsample size": lambda v: tnn.Upsample(size=v)(x),
    }


def _outcome(call, v):
    """The output shape, or the kind of error: TypeError, or ValueError for PyTorch's
    RuntimeError and ValueError alike (tinygan raises ValueError for a wrong value)."""
    try:
        return tuple(call(v).shape)
    except TypeError:
        return TypeError
    except (ValueError, RuntimeError):
        return ValueError


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("entry", ENTRIES)
def test_accepted_and_refused_as_pytorch(entry):
    torch = pytest.importorskip("torch")
    torch_call = _torch_entries(torch)[entry]
    call, *_, good = ENTRIES[entry]
    values = [np.int64(good), np.int32(good), np.uint8(good), (np.int64(good), good),
              [good, np.int16(good)], good, float(good), np.float64(good), True, str(good),
              (float(good), good), -1, 0, (good,), (good, good, good)]
    for v in values:
        ours, theirs = _outcome(call, v), _outcome(torch_call, v)
        if ours != theirs:
            # Stricter than PyTorch on purpose, and only here: PyTorch's conv and pooling ops
            # repeat a one-element sequence for both dims, and its Conv2d takes a kernel_size
            # of True as 1; tinygan asks for an int or a pair.
            one_element = isinstance(v, (list, tuple)) and len(v) == 1
            assert isinstance(theirs, tuple) and ((one_element and ours is ValueError)
                                                  or (v is True and ours is TypeError)), \
                (entry, v, ours, theirs)
