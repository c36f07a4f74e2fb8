"""tinygan.ops.shape: reshape/view, transpose, permute, flatten, squeeze, unsqueeze, expand,
indexing, cat, stack, split, chunk, pad.

Shape ops move values without changing them, so the forward reference is the same move in
NumPy (np.reshape, np.transpose, a[index], np.concatenate, np.pad...), and the gradient must
put every value's gradient back where the value came from -- adding up where one value went
to several places (repeated indices, replicate/reflect padding, expand).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F


# -----------------------------------------------------------------------------
# reshape / view
# -----------------------------------------------------------------------------
RESHAPE = [
    ((2, 3, 4), (6, 4)),
    ((2, 3, 4), (4, -1)),
    ((2, 3, 4), (-1,)),
    ((2, 3, 4), (1, 2, 1, 12)),
    ((2, 3, 4), (2, 3, 4)),
    ((6,), (2, -1)),
    ((), (1,)),
    ((1,), ()),
    ((5,), (5, 1)),
]


@pytest.mark.parametrize("shape,new", RESHAPE, ids=str)
def test_reshape_view(shape, new, make, close, check_grads):
    x = make(shape)
    expected = np.reshape(x.data.copy(), new)
    close(tinygan.reshape(x, new), expected, dtype=np.float64)
    close(x.reshape(new), expected)
    close(x.reshape(*new), expected)
    close(x.view(*new), expected)
    close(x.view(new), expected)
    close(x.view_as(tinygan.zeros(expected.shape)), expected)
    check_grads(lambda t: t.reshape(new), x)


# -----------------------------------------------------------------------------
# transpose, permute, .T, .mT
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("d0,d1", [(0, 1), (0, 2), (-1, -2), (2, 0), (1, 1)], ids=str)
def test_transpose(d0, d1, make, close, check_grads):
    x = make(2, 3, 4)
    expected = np.swapaxes(x.data.copy(), d0, d1)
    close(tinygan.transpose(x, d0, d1), expected, dtype=np.float64)
    close(x.transpose(d0, d1), expected)
    check_grads(lambda t: t.transpose(d0, d1), x)


def test_transpose_of_0d_and_1d(make, close):
    s = make(())
    close(s.transpose(0, -1), s.data)           # as PyTorch: a 0-d tensor has dims 0 and -1
    close(s.squeeze(-1), s.data)
    close(s.squeeze(0), s.data)
    with pytest.raises(IndexError):
        s.squeeze(1)
    v = make(4)
    close(v.transpose(0, -1), v.data)
    with pytest.raises(IndexError):
        v.transpose(0, 1)


@pytest.mark.parametrize("dims", [(2, 0, 1), (0, 2, 1), (1, 0, 2), (-1, 0, 1), (0, 1, 2), (-3, -1, -2)],
                         ids=str)
def test_permute(dims, make, close, check_grads):
    x = make(2, 3, 4)
    expected = np.transpose(x.data.copy(), dims)
    close(tinygan.permute(x, dims), expected, dtype=np.float64)
    close(x.permute(dims), expected)
    close(x.permute(*dims), expected)
    check_grads(lambda t: t.permute(dims), x)


@pytest.mark.parametrize("dims", [(0, 3), (0, 1, 3), (0, -3), (0, 0), (1,), (0, 1, 2)], ids=str)
def test_permute_rejects_non_permutations(dims, make):
    # (0, 3) on a 2-d tensor must not wrap around to (0, 1).
    x = make(2, 3)
    with pytest.raises((ValueError, IndexError)):
        x.permute(dims)


def test_T_and_mT(make, close, check_grads):
    m = make(2, 3)
    close(m.T, m.data.T)
    b = make(2, 3, 4)
    close(b.mT, np.swapaxes(b.data, -1, -2))
    close(b.T, np.transpose(b.data))
    check_grads(lambda t: t.mT, b)


# -----------------------------------------------------------------------------
# flatten, squeeze, unsqueeze
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("start,end,new", [(0, -1, (24,)), (1, -1, (2, 12)), (0, 1, (6, 4)),
                                           (1, 2, (2, 12)), (-2, -1, (2, 12)), (2, 2, (2, 3, 4))],
                         ids=str)
def test_flatten(start, end, new, make, close, check_grads):
    x = make(2, 3, 4)
    expected = x.data.copy().reshape(new)
    close(tinygan.flatten(x, start, end), expected, dtype=np.float64)
    close(x.flatten(start_dim=start, end_dim=end), expected)
    check_grads(lambda t: t.flatten(start, end), x)


def test_flatten_defaults_and_0d(make, close):
    x = make(2, 3, 4)
    close(x.flatten(), x.data.reshape(-1))
    close(x.flatten(1), x.data.reshape(2, -1))
    s = make(())
    close(s.flatten(), s.data.reshape(1))


@pytest.mark.parametrize("dim,new", [(None, (3, 2)), (0, (3, 1, 2)), (2, (1, 3, 2)), (-2, (1, 3, 2)),
                                     (1, (1, 3, 1, 2)), ((0, 2), (3, 2)), ((0, 1), (3, 1, 2))],
                         ids=str)
def test_squeeze(dim, new, make, close, check_grads):
    x = make(1, 3, 1, 2)
    expected = x.data.copy().reshape(new)
    close(tinygan.squeeze(x, dim), expected, dtype=np.float64)
    close(x.squeeze() if dim is None else x.squeeze(dim), expected)
    check_grads(lambda t: t.squeeze(dim), x)


@pytest.mark.parametrize("dim,new", [(0, (1, 2, 3)), (1, (2, 1, 3)), (2, (2, 3, 1)), (-1, (2, 3, 1)),
                                     (-3, (1, 2, 3)), (-2, (2, 1, 3))], ids=str)
def test_unsqueeze(dim, new, make, close, check_grads):
    x = make(2, 3)
    expected = np.expand_dims(x.data.copy(), dim)
    assert expected.shape == new
    close(tinygan.unsqueeze(x, dim), expected, dtype=np.float64)
    close(x.unsqueeze(dim), expected)
    check_grads(lambda t: t.unsqueeze(dim), x)


def test_unsqueeze_out_of_range(make):
    with pytest.raises(IndexError):
        make(2, 3).unsqueeze(3)
    with pytest.raises(IndexError):
        make(2, 3).unsqueeze(-4)


# -----------------------------------------------------------------------------
# expand / broadcast_to
# -----------------------------------------------------------------------------
EXPAND = [
    ((3, 1), (3, 4), (3, 4)),
    ((3, 1), (-1, 4), (3, 4)),
    ((3, 1), (2, 3, 4), (2, 3, 4)),        # a new leading dim
    ((3, 1), (2, -1, 4), (2, 3, 4)),       # -1 keeps a dim, after a new leading one
    ((1,), (5,), (5,)),
    ((), (2, 3), (2, 3)),
    ((1, 3, 1), (2, 2, 3, 2), (2, 2, 3, 2)),
    ((2, 3), (2, 3), (2, 3)),
]


@pytest.mark.parametrize("shape,sizes,out", EXPAND, ids=str)
def test_expand(shape, sizes, out, make, close, check_grads):
    x = make(shape)
    expected = np.broadcast_to(x.data.copy(), out)
    close(tinygan.expand(x, sizes), expected, dtype=np.float64)
    close(x.expand(*sizes), expected)
    close(x.expand(sizes), expected)
    close(x.expand_as(tinygan.zeros(out)), expected)
    close(x.broadcast_to(out), expected)
    check_grads(lambda t: t.expand(sizes), x)


def test_expand_gradient_adds_up(make):
    x = make(3, 1)
    (g,) = tinygan.grad(x.expand(2, 3, 4).sum(), x)
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(g.data, np.full((3, 1), 8.0))


@pytest.mark.parametrize("sizes", [(2, 4), (-1, 3, 1), (2,), (3, 4, 1)], ids=str)
def test_expand_invalid(sizes, make):
    with pytest.raises(ValueError):
        make(3, 1).expand(sizes)


# -----------------------------------------------------------------------------
# indexing
# -----------------------------------------------------------------------------
INDICES = {
    "int": 1,
    "neg_int": -1,
    "slice": slice(1, None),
    "neg_step": slice(None, None, -1),
    "neg_step2": np.s_[::-2, 3:0:-2],
    "int_int": np.s_[1, -2],
    "int_int_int": np.s_[0, 1, 1],         # a 0-d result
    "col": np.s_[:, -1],
    "ellipsis": np.s_[..., 0],
    "ellipsis_mid": np.s_[1, ..., ::-1],
    "none": np.s_[None, 1],
    "none_mid": np.s_[1, None, ::-1],
    "none_end": np.s_[..., None],
    "empty_slice": np.s_[2:2],
    "list_repeat": [0, 2, 0, 0],
    "array_2d": np.array([[0, 1], [2, 2]]),
    "arrays_pair": (np.array([0, 2, 0]), np.array([1, 1, 1])),   # (0, 1) twice
    "slice_and_list": np.s_[:, [3, 0, 3]],
    "int_and_array": np.s_[1, np.array([0, 0, 3])],
    "neg_array": np.array([-1, 0, -1]),
    "bool_first_dim": np.array([True, False, True]),
    "bool_two_dims": np.array([[True, False, True, True], [False, False, True, False],
                               [True, True, False, False]]),
    "slice_and_bool": np.s_[1:, np.array([False, True, True, False])],
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(name, make, close, check_grads):
    x = make(3, 4, 2)
    index = INDICES[name]
    expected = x.data.copy()[index]
    close(x[index], expected, dtype=np.float64)
    close(x.__getitem__(index), expected)
    check_grads(lambda t: t[index], x)


@pytest.mark.parametrize("kind", ["int_tensor", "bool_tensor", "tensor_pair", "scalar_tensor"])
def test_getitem_with_tensor_indices(kind, make, close, check_grads):
    x = make(3, 4)
    a = x.data.copy()
    if kind == "int_tensor":
        index, np_index = tinygan.tensor([2, 0, 2]), np.array([2, 0, 2])
    elif kind == "bool_tensor":
        index, np_index = x > 0, a > 0
    elif kind == "tensor_pair":
        index = (tinygan.tensor([0, 2, 2]), tinygan.tensor([3, 1, 1]))
        np_index = (np.array([0, 2, 2]), np.array([3, 1, 1]))
    else:
        index, np_index = tinygan.tensor(1), 1
    close(x[index], a[np_index], dtype=np.float64)
    check_grads(lambda t: t[index], x)


def test_repeated_indices_add_their_gradients(make):
    x = make(5)
    y = x[[0, 2, 0, 0, 4]]
    gy = tinygan.tensor([1.0, 10.0, 100.0, 1000.0, 10000.0], dtype=tinygan.float64)
    (g,) = tinygan.grad(y, x, grad_outputs=gy)
    # exact: sums of small integers, nothing to round
    np.testing.assert_array_equal(g.data, [1101.0, 0.0, 10.0, 0.0, 10000.0])
    m = make(3, 2)
    (g,) = tinygan.grad(m[np.array([2, 2]), np.array([1, 1])].sum(), m)
    np.testing.assert_array_equal(g.data, [[0, 0], [0, 0], [0, 2.0]])


def test_index_gradient_second_order_with_repeats(make):
    # grad of sum(x[i]^2) is 2 x * count(i); its derivative again is 2 * count(i).
    x = make(4)
    (g,) = tinygan.grad((x[[1, 1, 3]] ** 2).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 2 * x.data * np.array([0, 2, 0, 1]), rtol=1e-12)
    (gg,) = tinygan.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, [0.0, 4.0, 0.0, 2.0], rtol=1e-12)


def test_index_results_are_ndarrays(make):
    x = make(3)
    y = x[1]
    assert type(y.data) is np.ndarray and y.data.ndim == 0
    z = tinygan.tensor([1.0, 2.0])[0]
    assert type(z.data) is np.ndarray and z.dtype == np.float32


# -----------------------------------------------------------------------------
# cat, stack, split, chunk
# -----------------------------------------------------------------------------
CAT = [
    ([(2, 3), (1, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 2)], -1),
    ([(2, 1, 2), (2, 3, 2)], -2),
    ([(3,), (2,), (1,)], 0),
]


@pytest.mark.parametrize("shapes,dim", CAT, ids=str)
def test_cat(shapes, dim, make, close, check_grads):
    xs = [make(s) for s in shapes]
    expected = np.concatenate([x.data.copy() for x in xs], axis=dim)
    close(tinygan.cat(xs, dim), expected, dtype=np.float64)
    close(tinygan.cat(tuple(xs), dim=dim), expected)
    check_grads(lambda *ts: tinygan.cat(ts, dim), *xs)


def test_cat_with_a_constant_input(make, close, check_grads):
    a, b = make(2, 3), make(2, 2, requires_grad=False)
    y = tinygan.cat([a, b], 1)
    close(y, np.concatenate([a.data, b.data], 1))
    check_grads(lambda t: tinygan.cat([t, b], 1), a)
    (g,) = tinygan.grad((y * y).sum(), a)
    np.testing.assert_allclose(g.data, 2 * a.data, rtol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("n", [1, 3])
def test_stack(n, dim, make, close, check_grads):
    xs = [make(2, 3) for _ in range(n)]
    expected = np.stack([x.data.copy() for x in xs], axis=dim)
    close(tinygan.stack(xs, dim), expected, dtype=np.float64)
    close(tinygan.stack(xs, dim=dim), expected)
    check_grads(lambda *ts: tinygan.stack(ts, dim), *xs)


def test_cat_stack_shape_mismatch(make):
    with pytest.raises(ValueError):
        tinygan.cat([make(2, 3), make(3, 2)], 0)
    with pytest.raises(ValueError):
        tinygan.stack([make(2, 3), make(2, 2)])


# (shape, split_size_or_sections, dim, expected piece sizes along dim)
SPLIT = [
    ((6, 2), 2, 0, [2, 2, 2]),
    ((5, 2), 2, 0, [2, 2, 1]),            # the last piece is smaller
    ((2, 5), 3, 1, [3, 2]),
    ((2, 5), 7, -1, [5]),                 # one piece bigger than the dim
    ((2, 6), [1, 3, 2], 1, [1, 3, 2]),    # sections
    ((4, 3), (3, 0, 1), 0, [3, 0, 1]),    # an empty section
    ((2, 3, 4), [2, 2], -1, [2, 2]),
]


@pytest.mark.parametrize("shape,arg,dim,sizes", SPLIT, ids=str)
def test_split(shape, arg, dim, sizes, make, close, check_grads):
    x = make(shape)
    a = x.data.copy()
    pieces = tinygan.split(x, arg, dim)
    assert isinstance(pieces, tuple) and len(pieces) == len(sizes)
    bounds = np.cumsum([0] + sizes)
    for p, lo, hi in zip(pieces, bounds[:-1], bounds[1:]):
        close(p, np.take(a, np.arange(lo, hi), axis=dim), dtype=np.float64)
    for p, q in zip(pieces, x.split(arg, dim=dim)):
        close(q, p.data)
    check_grads(lambda t: tinygan.split(t, arg, dim), x)


# (length of the dim, chunks, expected piece sizes) -- as torch.chunk documents: pieces of
# ceil(n / chunks), so there may be fewer than ``chunks`` of them.
CHUNK = [(6, 3, [2, 2, 2]), (5, 3, [2, 2, 1]), (5, 4, [2, 2, 1]), (4, 6, [1, 1, 1, 1]), (3, 1, [3])]


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("n,chunks,sizes", CHUNK, ids=str)
def test_chunk(n, chunks, sizes, dim, make, close, check_grads):
    shape = (n, 2) if dim == 0 else (2, n)
    x = make(shape)
    a = x.data.copy()
    pieces = tinygan.chunk(x, chunks, dim)
    assert [p.shape[dim] for p in pieces] == sizes
    start = 0
    for p, s in zip(pieces, sizes):
        close(p, np.take(a, np.arange(start, start + s), axis=dim), dtype=np.float64)
        start += s
    assert [p.shape for p in x.chunk(chunks, dim)] == [p.shape for p in pieces]
    check_grads(lambda t: tinygan.chunk(t, chunks, dim), x)


def test_split_gradient_of_some_pieces(make):
    # Pieces that don't reach the loss get a zero gradient.
    x = make(5)
    a, b, c = x.split([2, 1, 2])
    (g,) = tinygan.grad(a.sum() + 3 * c.sum(), x)
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(g.data, [1, 1, 0, 3, 3])


def test_split_bad_sections(make):
    with pytest.raises(ValueError):
        make(5).split([2, 2])
    with pytest.raises(ValueError):
        make(5).split(0)


# -----------------------------------------------------------------------------
# pad
# -----------------------------------------------------------------------------
# (input shape, pad as torch.nn.functional.pad takes it: last dim first)
PAD = [
    ((2, 4), (1, 2)),                        # 1 padded dim
    ((2, 4), (0, 3)),
    ((1, 2, 3, 4), (1, 2, 2, 0)),            # 2 padded dims (W then H)
    ((1, 2, 3, 3), (1, 1, 2, 1, 1, 0)),      # 3 padded dims (W, H, then C)
    ((5,), (2, 2)),
]


def _np_widths(ndim, pad):
    k = len(pad) // 2
    return [(0, 0)] * (ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("reflect", "reflect"),
                                          ("replicate", "edge")])
@pytest.mark.parametrize("shape,pad", PAD, ids=str)
def test_pad(shape, pad, mode, np_mode, make, close, check_grads):
    x = make(shape)
    kw = {"constant_values": 0.0} if np_mode == "constant" else {}
    expected = np.pad(x.data.copy(), _np_widths(len(shape), pad), mode=np_mode, **kw)
    close(tinygan.pad(x, pad, mode=mode), expected, dtype=np.float64)
    close(F.pad(x, pad, mode), expected)
    check_grads(lambda t: F.pad(t, pad, mode=mode), x)


@pytest.mark.parametrize("shape,pad", PAD, ids=str)
def test_pad_constant_value(shape, pad, make, close, check_grads):
    x = make(shape)
    expected = np.pad(x.data.copy(), _np_widths(len(shape), pad), constant_values=-2.5)
    close(F.pad(x, pad, value=-2.5), expected, dtype=np.float64)
    close(F.pad(x, pad, "constant", -2.5), expected)
    check_grads(lambda t: F.pad(t, pad, value=-2.5), x)


def test_pad_gradients_add_up_where_values_repeat():
    x = tinygan.tensor([1.0, 2.0, 3.0], dtype=tinygan.float64, requires_grad=True)
    # replicate (2, 1): [1, 1, 1, 2, 3, 3] -- x0 appears 3 times, x2 twice
    (g,) = tinygan.grad(F.pad(x, (2, 1), mode="replicate").sum(), x)
    # exact: sums of ones, nothing to round
    np.testing.assert_array_equal(g.data, [3.0, 1.0, 2.0])
    # reflect (2, 1): [3, 2, 1, 2, 3, 2] -- x1 three times, x2 twice
    y = F.pad(x, (2, 1), mode="reflect")
    np.testing.assert_array_equal(y.data, [3.0, 2.0, 1.0, 2.0, 3.0, 2.0])
    (g,) = tinygan.grad(y.sum(), x)
    np.testing.assert_array_equal(g.data, [1.0, 3.0, 2.0])
    # constant: the padding is not x
    (g,) = tinygan.grad(F.pad(x, (2, 1), value=7.0).sum(), x)
    np.testing.assert_array_equal(g.data, [1.0, 1.0, 1.0])


def test_pad_errors(make):
    x = make(2, 3)
    with pytest.raises(ValueError):
        F.pad(x, (3, 0), mode="reflect")     # reflect needs pad < size
    with pytest.raises(ValueError):
        F.pad(x, (1,))
    with pytest.raises(ValueError):
        F.pad(x, (1, 1), mode="circular-ish")


def test_pad_zero_is_identity(make, close):
    x = make(2, 3)
    for mode in ("constant", "reflect", "replicate"):
        close(F.pad(x, (0, 0, 0, 0), mode=mode), x.data)


# -----------------------------------------------------------------------------
# dtypes: float32 in, float32 out (and float32 gradients)
# -----------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": lambda x: x.reshape(3, 2), "view": lambda x: x.view(-1),
    "transpose": lambda x: x.transpose(0, 1), "permute": lambda x: x.permute(1, 0),
    "T": lambda x: x.T, "flatten": lambda x: x.flatten(), "squeeze": lambda x: x[None].squeeze(0),
    "unsqueeze": lambda x: x.unsqueeze(1), "expand": lambda x: x[:, None].expand(2, 4, 3),
    "index": lambda x: x[1], "index_list": lambda x: x[[0, 0, 1]], "mask": lambda x: x[x > 1],
    "cat": lambda x: tinygan.cat([x, x], 0), "stack": lambda x: tinygan.stack([x, x], 1),
    "split": lambda x: x.split(2, 1)[0], "chunk": lambda x: x.chunk(2, 0)[1],
    "pad_const": lambda x: F.pad(x, (1, 1), value=2.0), "pad_reflect": lambda x: F.pad(x, (1, 1), "reflect"),
    "pad_replicate": lambda x: F.pad(x, (2, 1, 1, 0), "replicate"),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_float32_stays_float32(name, check_float32_kept):
    check_float32_kept(SHAPE_OPS[name])
