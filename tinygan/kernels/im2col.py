"""Convolution as matrix multiplication: im2col, GEMM, col2im (the arrays behind ops/conv.py).

A convolution of x (N, C, H, W) with w (O, C, kh, kw) dots, for every output
pixel, the C * kh * kw input values under the kernel with a row of w.  im2col
copies those patches into a matrix, one row per output pixel,

    cols[(n, ho, wo), (i, j, c)] = x_pad[n, c, ho*s + i*d, wo*s + j*d]

so the convolution is ONE matrix product ``cols (M, K) @ w' (K, O)``, done by BLAS
in float32 (M = N*Ho*Wo output pixels, K = kh*kw*C).  The weight gradient is one
more GEMM, ``gy^T @ cols``.  The input gradient -- the transposed convolution --
is itself a convolution of gy (see ``_SubPixel``), or, in the general case, a
GEMM followed by col2im, which adds every patch back where it came from.

The speed is decided by memory, not arithmetic:

* One copy per im2col.  The patches are a *strided view* of the padded input:
  ``as_strided`` describes all N*Ho*Wo*kh*kw windows without copying anything,
  and one assignment copies the view into the cols matrix.  (kh*kw separate
  slice assignments, one per kernel offset, cost 4-10x more: NumPy pays its
  per-run overhead kh*kw times over.)
* Layout.  With channels last -- x as (N, H, W, C) and (i, j, c) ordered with c
  innermost -- that copy moves runs of C (or kw*C) contiguous floats.  Channels
  first, the runs are single floats for a strided convolution.  Channels first
  is kept where channels last has nothing to gain: few channels (the 1-channel
  image layers of MNIST models) and grouped convolutions.  Images stay NCHW
  outside this file; the layout changes cost one transposing copy of the input
  and one of the output, done chunk by chunk while the data is in cache.
* No col2im where it can be avoided.  col2im reads, adds and writes the input
  gradient kh*kw times over; computing the input gradient as a convolution of
  gy reads gy through im2col once and writes the gradient once.
* Size.  cols is kh*kw/s^2 times larger than x (9x for a 3x3 convolution).  A
  150 MB cols matrix filled and read back costs more than the GEMM itself, so
  the batch is processed in chunks whose cols stay in the cache (``CHUNK``).
  On a GPU the whole batch goes at once.  With stride 1 along the height, kernel
  rows read the same image rows shifted, so only the kw taps along the width are
  copied (kh times less) and the kh kernel rows become kh GEMMs on shifted views.

On a GPU (CuPy arrays) the layout is channels first, the whole batch at once, and
the input gradient always goes through col2im.  There, each copy above is a kernel
launch, and the launches, not the bytes, set the pace of a small network: the
CuPy composition spends three on im2col (a zeroed padded buffer, the transposing
copy into it, the strided copy out of it) and 2*kh*kw + 2 on col2im (a zeroed
buffer, an add and a write-back per kernel tap, the final transposing copy) --
34 for a 4x4 kernel.  ``im2col.cu`` does each in ONE launch, writing only its
output: im2col with a thread per entry of cols, col2im as a gather with a thread
per image element that adds the entries landing on it in a fixed order (the same
numbers as the composition, bit for bit, on every run; no atomics).  The launchers
``launch_im2col`` / ``launch_col2im`` at the end of this file are shared by the GPU
path and the emulator tests; ``TINYGAN_KERNELS=0`` gives back the composition.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import benchmark, cuda
from .threads import add_up, get_num_threads, parallel_map, split

CHUNK = 1 << 19          # floats of cols per chunk (2 MB): stays in this machine's L2 + L3 share
CHUNK_THREADED = 1 << 20  # the same with several threads: fewer, larger chunks (see Geometry.chunks)
CHANNELS_LAST_MIN = 8    # fewer input channels than this: channels-first layout
KEEP_BYTES = 32 << 20    # channels first: a forward's cols up to this size are kept for conv_weight
WIDTH_ONLY_MIN = 256     # output pixels per sample from which stride-1 rows copy only kw taps


class Geometry:
    """Sizes of one convolution: input (N, C, H, W), weight (O, C/g, kh, kw), output (Ho, Wo)."""

    __slots__ = ("N", "C", "H", "W", "O", "kh", "kw", "s", "p", "d", "g", "Ho", "Wo")

    def __init__(self, x_shape, w_conv_shape, stride, padding, dilation, groups, out_hw):
        self.N, self.C, self.H, self.W = x_shape
        self.O, _, self.kh, self.kw = w_conv_shape
        self.s, self.p, self.d, self.g = stride, padding, dilation, groups
        self.Ho, self.Wo = out_hw

    def channels_last(self, xp) -> bool:
        return xp is np and self.g == 1 and self.C >= CHANNELS_LAST_MIN

    def chunks(self, xp) -> list:
        """Slices of the batch whose cols fit in ``CHUNK`` floats (all of it at once on a GPU).

        On the CPU their number is a multiple of the threads (``cpu_threads``), and
        their sizes differ by at most one sample, so every thread gets the same work.
        With more than one thread the chunks are twice as large (``CHUNK_THREADED``):
        each NumPy call of a chunk gives up Python's lock (the GIL) and must take it back,
        and while one thread runs a chunk's Python the other waits for it at every such
        call.  Fewer, larger chunks wait less.  Measured on StyleGAN-lite's training step
        on 2 cores: 4% faster on 2 threads with chunks of 2**20 floats, and 3% slower on
        1 thread (the cols no longer fit in the core's cache) -- so one size for each.
        """
        if xp is not np:
            return [slice(0, self.N)]
        per_sample = self.C * self.kh * self.kw * self.Ho * self.Wo
        threads = get_num_threads()
        limit = CHUNK if threads == 1 else CHUNK_THREADED
        fits = max(1, limit // max(per_sample, 1))        # samples per chunk, at most
        parts = -(-self.N // fits)
        return split(self.N, -(-parts // threads) * threads)

    def offsets(self):
        """(i, j, rows, cols): each kernel offset and the strided window of x_pad it reads."""
        (sh, sw), (dh, dw) = self.s, self.d
        hs, ws = sh * (self.Ho - 1) + 1, sw * (self.Wo - 1) + 1
        for i in range(self.kh):
            for j in range(self.kw):
                yield i, j, slice(i * dh, i * dh + hs, sh), slice(j * dw, j * dw + ws, sw)


# -- keeping a forward's cols for the weight gradient ----------------------------------------
class KeptCols:
    """The cols of one x, made by a convolution's forward, for one ``conv_weight`` of that x.

    y = conv(x, w) and gw = conv_weight(x, gy) both multiply by the patch matrix of
    x.  ``conv_keeping`` fills this holder (channels first, up to ``KEEP_BYTES``; see
    ``conv``), ``conv_weight_kept`` uses what it holds once instead of rebuilding it,
    then empties it.  What is held is only ever a copy of what conv_weight would
    build from x, so the results are the same either way.
    """

    __slots__ = ("cols",)

    def __init__(self):
        self.cols = None          # the (batch slice, cols) pairs of conv, or None

    @classmethod
    def shared_by(cls, conv_runs: bool, weight_runs: bool) -> "KeptCols | None":
        """The holder a ``conv`` of some x and a ``conv_weight`` of the same x share, when
        both will run; None (nothing kept) when either will not."""
        return cls() if conv_runs and weight_runs else None

    def take(self):
        """What is held (or None), leaving the holder empty."""
        cols, self.cols = self.cols, None
        return cols


def conv_keeping(x, w, geo: Geometry, kept: "KeptCols | None"):
    """y = conv(x, w), leaving the cols of x in ``kept`` when given (and worth keeping)."""
    y, cols = conv(x, w, geo, keep=kept is not None)
    if kept is not None:
        kept.cols = cols
    return y


def conv_weight_kept(x, gy, geo: Geometry, w_shape, kept: "KeptCols | None"):
    """gw = conv_weight(x, gy), from the cols ``kept`` holds for this x if any (then emptied)."""
    return conv_weight(x, gy, geo, w_shape, kept.take() if kept is not None else None)


# -- 1x1 convolutions: a matrix product per sample, in place -------------------------------
def _pointwise(geo: Geometry, xp) -> bool:
    """A 1x1 kernel, stride 1, no padding, one group, on the CPU: each sample's output is
    w (O, C) @ x (C, H*W) as the image lies, channels first -- no patches to gather and no
    change of layout (which would cost more than the product at few channels)."""
    return (xp is np and geo.kh == geo.kw == 1 and geo.s == (1, 1) and geo.p == (0, 0)
            and geo.g == 1)


def _batch_chunks(geo: Geometry) -> list:
    """The batch split over the threads (a per-sample product needs no cache blocking)."""
    return split(geo.N, min(geo.N, get_num_threads()))


def _pointwise_conv(x, w, geo: Geometry):
    w2 = w.reshape(geo.O, geo.C)
    xs = x.reshape(geo.N, geo.C, -1)
    y = np.empty((geo.N, geo.O, geo.H * geo.W), dtype=x.dtype)
    parallel_map(lambda sl: np.matmul(w2, xs[sl], out=y[sl]), _batch_chunks(geo))
    return y.reshape(geo.N, geo.O, geo.H, geo.W)


def _pointwise_weight(x, gy, geo: Geometry, w_shape):
    xs, gys = x.reshape(geo.N, geo.C, -1), gy.reshape(geo.N, geo.O, -1)
    # sum over n of gy[n] (O, HW) @ x[n]^T (HW, C): the samples side by side along HW
    parts = parallel_map(lambda sl: np.einsum("nop,ncp->oc", gys[sl], xs[sl], optimize=True),
                         _batch_chunks(geo))
    return add_up(parts).reshape(w_shape)


def _pointwise_input(gy, w, geo: Geometry):
    wt = w.reshape(geo.O, geo.C).T
    gys = gy.reshape(geo.N, geo.O, -1)
    gx = np.empty((geo.N, geo.C, geo.H * geo.W), dtype=gy.dtype)
    parallel_map(lambda sl: np.matmul(wt, gys[sl], out=gx[sl]), _batch_chunks(geo))
    return gx.reshape(geo.N, geo.C, geo.H, geo.W)


# -- the three maps -------------------------------------------------------------------------
def conv(x, w, geo: Geometry, keep: bool = False):
    """y = conv(x, w): x (N, C, H, W), w (O, C/g, kh, kw) -> (y (N, O, Ho, Wo), saved).

    ``saved``: with ``keep``, in the channels-first layout, the cols of x (up to
    ``KEEP_BYTES``), which ``conv_weight`` of the same x can use instead of building
    them again: there im2col copies single floats, and rebuilding costs more than
    keeping.  Channels last, rebuilding is one fast copy per chunk, cheaper than
    holding a batch-sized array (and, on Linux, than the page faults of allocating
    it anew every step): nothing is kept, ``saved`` is None.
    """
    xp = backend.get_array_module(x)
    if _pointwise(geo, xp):
        return _pointwise_conv(x, w, geo), None
    N, O, HW = geo.N, geo.O, geo.Ho * geo.Wo
    y = xp.empty((N, O, geo.Ho, geo.Wo), dtype=x.dtype)
    if geo.channels_last(xp):
        wk = w.transpose(2, 3, 1, 0).reshape(-1, O)                     # (K, O), K = (i, j, c)

        def chunk(sl):
            # padding and layout change chunk by chunk too: im2col then reads them from cache
            xs = _pad_nhwc(x[sl], geo.p, geo.p)
            ym = _gemm_nhwc(_im2col_nhwc(xs, geo), wk, sl.stop - sl.start)   # (n, Ho*Wo, O)
            # O innermost -> (n, O, Ho*Wo): a small transposing copy, still in cache
            y[sl].reshape(-1, O, HW)[...] = ym.transpose(0, 2, 1)
        parallel_map(chunk, geo.chunks(xp))
        return y, None
    wm = w.reshape(geo.g, O // geo.g, -1)                                # (g, O/g, K), K = (c, i, j)
    keep = keep and N * HW * geo.C * geo.kh * geo.kw * x.itemsize <= KEEP_BYTES

    def chunk(sl):
        cols = _im2col_nchw(x[sl], geo)                                  # (g, K, n*Ho*Wo)
        y[sl] = (wm @ cols).reshape(O, -1, geo.Ho, geo.Wo).transpose(1, 0, 2, 3)
        return (sl, cols) if keep else None      # not kept: each chunk's cols freed at once
    kept = parallel_map(chunk, geo.chunks(xp))
    return y, (kept if keep else None)


def conv_weight(x, gy, geo: Geometry, w_shape, saved=None):
    """gw = sum over the batch of gy times the patches of x: (O, C/g, kh, kw).

    ``saved``: what ``conv(x, w, geo, keep=True)`` returned for this x, if anything.
    """
    xp = backend.get_array_module(x)
    if _pointwise(geo, xp):
        return _pointwise_weight(x, gy, geo, w_shape)
    O, HW = geo.O, geo.Ho * geo.Wo
    if geo.channels_last(xp):
        def chunk(sl):
            blocks = _im2col_nhwc(_pad_nhwc(x[sl], geo.p, geo.p), geo)
            if blocks[0].ndim == 2:       # one (n*Ho*Wo, K) matrix: one GEMM over the whole chunk,
                # with gy as (O, n*Ho*Wo): moving N in front of O copies runs of Ho*Wo floats
                gym = xp.ascontiguousarray(gy[sl].reshape(-1, O, HW).transpose(1, 0, 2)).reshape(O, -1)
                part = gym @ blocks[0]                                   # (O, K), K = (i, j, c)
            else:                         # one (n, Ho*Wo, kw*C) block per kernel row: per sample,
                gy3 = gy[sl].reshape(-1, O, HW)                          # where gy is (O, Ho*Wo) as is
                part = xp.concatenate([(gy3 @ b).sum(0) for b in blocks], axis=1)
            return part
        gw = add_up(parallel_map(chunk, geo.chunks(xp)))
        return xp.ascontiguousarray(gw.reshape(O, geo.kh, geo.kw, geo.C).transpose(0, 3, 1, 2))

    def chunk_nchw(pair):
        sl, cols = pair
        if cols is None:
            cols = _im2col_nchw(x[sl], geo)                              # (g, K, n*Ho*Wo)
        return _gemm_layout_nchw(gy[sl], geo) @ cols.transpose(0, 2, 1)   # (g, O/g, K)
    # the (batch slice, cols) pairs that conv kept, or the chunks with cols to build
    pairs = saved if saved is not None else [(sl, None) for sl in geo.chunks(xp)]
    return add_up(parallel_map(chunk_nchw, pairs)).reshape(w_shape)


def conv_input(gy, w, geo: Geometry):
    """gx = the adjoint of conv in x: gy (N, O, Ho, Wo) -> (N, C, H, W).  The transposed conv."""
    xp = backend.get_array_module(gy)
    if _pointwise(geo, xp):
        return _pointwise_input(gy, w, geo)
    plan = _SubPixel.plan(geo)
    # channels last on both sides: gy is read in runs of O floats, gx written in runs of C
    if geo.channels_last(xp) and geo.O >= CHANNELS_LAST_MIN and plan is not None:
        return plan.run(gy, w)
    wt = w.reshape(geo.g, geo.O // geo.g, -1).transpose(0, 2, 1)          # (g, K, O/g)
    gx = xp.empty((geo.N, geo.C, geo.H, geo.W), dtype=gy.dtype)

    def chunk(sl):
        cols = wt @ _gemm_layout_nchw(gy[sl], geo)                         # (g, K, n*Ho*Wo)
        _col2im_nchw(cols, geo, sl.stop - sl.start, gx[sl])
    parallel_map(chunk, geo.chunks(xp))
    return gx


# -- the transposed convolution as a stride-1 convolution (no col2im) ------------------------
class _SubPixel:
    """conv_input computed as a stride-1 convolution of gy, then a pixel shuffle.

    Along one axis, with stride s, kernel k and dilation 1, row r = s*u + a of the
    padded input receives gy[u - t] * w[a + s*t] for every t with a + s*t < k.  So
    each of the s "phases" a of the input gradient is an ordinary stride-1
    convolution of gy with a T = ceil(k/s) tap kernel (taps a, a+s, ... of w,
    flipped), and all s*s phases come out of ONE GEMM with s*s*C output columns
    (the "sub-pixel convolution" of Shi et al. 2016); interleaving the phases
    ("pixel shuffle") and cropping the padding gives gx.  For s = 1 it is the
    familiar rule that the input gradient of a convolution is the full
    convolution of gy with the flipped kernel (any dilation d), and the padding
    is trimmed in advance: d(k-1) - p zeros around gy instead of d(k-1).
    Covers every stride with dilation 1, and stride 1 with any dilation while
    p <= d(k-1); anything else takes col2im.
    """

    def __init__(self, geo: Geometry, axes):
        self.geo = geo
        # per axis: T taps, their dilation, zeros around gy, output length U, crop offset
        (self.Th, self.dh, self.zh, self.U, self.oh), (self.Tw, self.dw, self.zw, self.V, self.ow) = axes

    @classmethod
    def plan(cls, geo: Geometry) -> "_SubPixel | None":
        axes = []
        for k, s, p, d, n_in, n_out in zip((geo.kh, geo.kw), geo.s, geo.p, geo.d,
                                           (geo.H, geo.W), (geo.Ho, geo.Wo)):
            if s == 1 and d * (k - 1) >= p:
                axes.append((k, d, d * (k - 1) - p, n_in, 0))
            elif d == 1:
                t = -(-k // s)
                axes.append((t, 1, t - 1, n_out + t - 1, p))
            else:
                return None
        return cls(geo, axes)

    def weight(self, w):
        """w (O, C, kh, kw) -> (Th*Tw*O, sh*sw*C): row (th, tw, o), column (a, b, c) holds
        w[o, c, a + sh*(Th-1-th), b + sw*(Tw-1-tw)], 0 past the kernel's edge."""
        xp = backend.get_array_module(w)
        geo, (sh, sw) = self.geo, self.geo.s
        if sh * self.Th != geo.kh or sw * self.Tw != geo.kw:
            wz = xp.zeros((geo.O, geo.C, sh * self.Th, sw * self.Tw), dtype=w.dtype)
            wz[:, :, :geo.kh, :geo.kw] = w
            w = wz
        w6 = w.reshape(geo.O, geo.C, self.Th, sh, self.Tw, sw)[:, :, ::-1, :, ::-1, :]
        return w6.transpose(2, 4, 0, 3, 5, 1).reshape(self.Th * self.Tw * geo.O, -1)

    def run(self, gy, w):
        """gy (N, O, Ho, Wo) -> gx (N, C, H, W)."""
        xp = backend.get_array_module(gy)
        geo, (sh, sw) = self.geo, self.geo.s
        N, C, H, W = geo.N, geo.C, geo.H, geo.W
        U, V, oh, ow = self.U, self.V, self.oh, self.ow
        # the stride-1 convolution: gy (N, O, Ho, Wo) -> (N, sh*sw*C, U, V)
        inner = Geometry((N, geo.O, geo.Ho, geo.Wo), (sh * sw * C, geo.O, self.Th, self.Tw),
                         (1, 1), (self.zh, self.zw), (self.dh, self.dw), 1, (U, V))
        wk = self.weight(w)                                              # (Th*Tw*O, sh*sw*C)
        h, w_ = min(H, U * sh - oh), min(W, V * sw - ow)   # rows/cols past h, w_: read by no window
        gx = (xp.zeros if (h, w_) != (H, W) else xp.empty)((N, C, H, W), dtype=gy.dtype)

        def chunk(sl):
            n = sl.stop - sl.start
            gyh = _pad_nhwc(gy[sl], inner.p, inner.p)
            z = _gemm_nhwc(_im2col_nhwc(gyh, inner), wk, n).reshape(n, U, V, sh, sw, C)
            if sh * sw > 1:
                # pixel shuffle: row s*u + a of the padded input is phase a of row u.  In
                # channels-last order this copy moves runs of sw*C floats; going straight to
                # NCHW would interleave single floats and cost 4x more.
                shuffled = xp.empty((n, U, sh, V, sw, C), dtype=z.dtype)
                shuffled[...] = z.transpose(0, 1, 3, 2, 4, 5)
                z = shuffled
            z = z.reshape(n, U * sh, V * sw, C)
            gx[sl, :, :h, :w_] = z[:, oh:oh + h, ow:ow + w_].transpose(0, 3, 1, 2)
        parallel_map(chunk, inner.chunks(xp))
        return gx


# -- channels last: runs of C contiguous floats ----------------------------------------------
def _pad_nhwc(x, before, after):
    """(N, C, H, W) -> zero-padded (N, H + before + after, W + ..., C): one copy, then every
    patch is a view.  ``before``/``after``: (rows, columns) of zeros."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    (ph, pw), (qh, qw) = before, after
    xh = xp.empty((N, ph + H + qh, pw + W + qw, C), dtype=x.dtype)
    if ph or pw or qh or qw:
        xh[:, :ph], xh[:, ph + H:], xh[:, :, :pw], xh[:, :, pw + W:] = 0, 0, 0, 0
    xh[:, ph:ph + H, pw:pw + W] = x.transpose(0, 2, 3, 1)
    return xh


def _im2col_nhwc(xh, geo: Geometry) -> list:
    """xh (n, Hp, Wp, C) -> the patch matrix, rows (n, ho, wo), columns (i, j, c), as a list
    of column blocks: ``[cols (n*Ho*Wo, kh*kw*C)]``, or, for stride 1 along the height, kh
    blocks (n, Ho*Wo, kw*C), one per kernel row i, that side by side make the same matrix.

    The patches are a strided view first -- one output pixel to the right is s
    columns of xh, one kernel tap to the right d columns; as_strided just writes
    those steps (in bytes) down -- and then ONE copy.  With stride 1 along the
    height, kernel row i of output row ho reads input row ho + i*d: all kernel rows
    read the same rows of the image, shifted.  So only the kw taps along the width
    are copied, for every input row -- kh times less copying than the full matrix
    (3x for a 3x3 kernel) -- and kernel row i's block is rows [i*d, i*d + Ho) of
    that copy, a view.  The GEMM is then kh GEMMs whose results add up.  Those
    blocks are separate per sample (rows of one sample's image are not next to the
    next sample's), so each is a GEMM per sample: worth it only when a sample has
    enough output pixels (``WIDTH_ONLY_MIN``) for BLAS to run at full speed.
    """
    xp = backend.get_array_module(xh)
    (sh, sw), (dh, dw) = geo.s, geo.d
    bn, bh, bw, bc = xh.strides
    n, C = xh.shape[0], xh.shape[3]
    if sh == 1 and geo.kh > 1 and geo.Ho * geo.Wo >= WIDTH_ONLY_MIN:
        rows = xh.shape[1]
        view = xp.lib.stride_tricks.as_strided(xh, (n, rows, geo.Wo, geo.kw, C), (bn, bh, sw * bw, dw * bw, bc))
        cols = xp.empty(view.shape, dtype=xh.dtype)
        cols[...] = view
        cols = cols.reshape(n, rows * geo.Wo, geo.kw * C)
        HW = geo.Ho * geo.Wo
        return [cols[:, i * dh * geo.Wo:i * dh * geo.Wo + HW] for i in range(geo.kh)]
    view = xp.lib.stride_tricks.as_strided(
        xh, (n, geo.Ho, geo.Wo, geo.kh, geo.kw, C), (bn, sh * bh, sw * bw, dh * bh, dw * bw, bc))
    cols = xp.empty(view.shape, dtype=xh.dtype)
    cols[...] = view
    return [cols.reshape(n * geo.Ho * geo.Wo, -1)]


def _gemm_nhwc(blocks: list, wk, n: int):
    """The patch matrix of n samples (as blocks, see _im2col_nhwc) @ wk (K, O) -> (n, Ho*Wo, O)."""
    wr = wk.reshape(len(blocks), -1, wk.shape[1])       # the rows of wk that each block meets
    y = blocks[0] @ wr[0]
    for b, w in zip(blocks[1:], wr[1:]):
        y += b @ w
    return y.reshape(n, -1, wk.shape[1])


# -- channels first: for few channels and for groups ---------------------------------------
def _im2col_nchw(x, geo: Geometry):
    """x (n, C, H, W) -> cols (g, C/g * kh * kw, n * Ho * Wo), rows ordered (c, i, j)."""
    if _kernel(x):
        return launch_im2col(_compiled, x, geo)
    xp = backend.get_array_module(x)
    n = x.shape[0]
    ph, pw = geo.p
    (sh, sw), (dh, dw) = geo.s, geo.d
    xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=x.dtype)
    xpad[:, :, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(1, 0, 2, 3)
    bc, bn, bh, bw = xpad.strides
    view = xp.lib.stride_tricks.as_strided(                              # (C, kh, kw, n, Ho, Wo)
        xpad, (geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo), (bc, dh * bh, dw * bw, bn, sh * bh, sw * bw))
    cols = xp.empty(view.shape, dtype=x.dtype)
    cols[...] = view
    return cols.reshape(geo.g, -1, n * geo.Ho * geo.Wo)


def _col2im_nchw(cols, geo: Geometry, n: int, out) -> None:
    """The adjoint of _im2col_nchw: cols (g, C/g * kh * kw, n * Ho * Wo) -> out (n, C, H, W)."""
    if _kernel(cols):
        launch_col2im(_compiled, cols, geo, n, out)
        return
    xp = backend.get_array_module(cols)
    ph, pw = geo.p
    cols = cols.reshape(geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo)
    xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=cols.dtype)
    for i, j, rows, columns in geo.offsets():
        xpad[:, :, rows, columns] += cols[:, i, j]
    out[...] = xpad[:, :, ph:ph + geo.H, pw:pw + geo.W].transpose(1, 0, 2, 3)


def _gemm_layout_nchw(gy, geo: Geometry):
    """(n, O, Ho, Wo) -> (g, O/g, n*Ho*Wo), the GEMM layout of an output gradient."""
    xp = backend.get_array_module(gy)
    return xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(geo.g, geo.O // geo.g, -1)


# -- on a GPU: one kernel each (im2col.cu) -----------------------------------------------------
SOURCE = "im2col.cu"
BLOCK = 256                       # threads per block
MAX_BLOCKS = 1 << 16              # the kernels loop grid-stride past this many blocks
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
cuda.declare(SOURCE, [f"{op}<{c}>" for op in ("im2col", "col2im") for c in _CTYPES.values()])


def _kernel(a) -> bool:
    """The CUDA kernels take a's im2col / col2im: a CuPy array of float32 or float64, kernels on."""
    return cuda.use_kernel(a) and a.dtype in _CTYPES


def _compiled(name):
    return cuda.function(SOURCE, name)


def _launch_args(geo: Geometry, n: int) -> tuple:
    """The sizes every im2col.cu kernel takes after its two arrays, as their C types (int)."""
    (sh, sw), (ph, pw), (dh, dw) = geo.s, geo.p, geo.d
    return tuple(np.int32(v) for v in (n, geo.C, geo.H, geo.W, geo.kh, geo.kw, geo.Ho, geo.Wo,
                                       sh, sw, ph, pw, dh, dw))


def _kernel_name(op: str, dtype) -> str:
    if np.dtype(dtype) not in _CTYPES:
        raise TypeError(f"{op}: the CUDA kernel takes float32 or float64, got {np.dtype(dtype)}")
    return f"{op}<{_CTYPES[np.dtype(dtype)]}>"


def _check_int32(op: str, geo: Geometry, n: int) -> None:
    """The kernels split an index into parts of 32 bits (see im2col.cu): each part must fit."""
    parts = {"N*Ho*Wo": n * geo.Ho * geo.Wo, "C*kh*kw": geo.C * geo.kh * geo.kw,
             "N*C": n * geo.C, "H*W": geo.H * geo.W}
    big = {k: v for k, v in parts.items() if v >= 2 ** 31}
    if big:
        raise ValueError(f"{op}: sizes past the kernel's 32-bit index parts: {big} (image "
                         f"({n}, {geo.C}, {geo.H}, {geo.W}), kernel ({geo.kh}, {geo.kw})); "
                         f"split the batch")


def _grid(total: int) -> tuple:
    return (max(1, min(MAX_BLOCKS, -(-total // BLOCK))),)


def launch_im2col(get, x, geo: Geometry):
    """x (n, C, H, W) -> cols (g, C/g * kh * kw, n * Ho * Wo), rows (c, i, j): the matrix of
    ``_im2col_nchw``, made by ONE kernel (``im2col<T>``, a thread per entry) instead of a zeroed
    padded copy of x and a strided copy of it.  ``get(name)`` returns the kernel callable."""
    xp = backend.get_array_module(x)
    name = _kernel_name("im2col", x.dtype)
    if x.ndim != 4 or tuple(x.shape[1:]) != (geo.C, geo.H, geo.W):
        raise ValueError(f"im2col: x has shape {tuple(x.shape)}, expected (n, {geo.C}, {geo.H}, {geo.W})")
    n = x.shape[0]
    _check_int32("im2col", geo, n)
    x = xp.ascontiguousarray(x)
    cols = xp.empty((geo.C * geo.kh * geo.kw, n * geo.Ho * geo.Wo), dtype=x.dtype)
    if cols.size:
        get(name)(_grid(cols.size), (BLOCK,), (x, cols, *_launch_args(geo, n), np.int64(cols.size)))
    return cols.reshape(geo.g, -1, n * geo.Ho * geo.Wo)


def launch_col2im(get, cols, geo: Geometry, n: int, out=None):
    """The adjoint of ``launch_im2col``: cols (g, C/g * kh * kw, n * Ho * Wo) -> (n, C, H, W),
    by ONE gathering kernel (``col2im<T>``, a thread per image element summing the entries that
    land on it in a fixed order: deterministic, no atomics).  Written into ``out`` when it is
    given and C-contiguous (the kernel writes every element), else into a new array; returned."""
    xp = backend.get_array_module(cols)
    name = _kernel_name("col2im", cols.dtype)
    expected = (geo.g, geo.C // geo.g * geo.kh * geo.kw, n * geo.Ho * geo.Wo)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: cols has shape {tuple(cols.shape)}, expected {expected} for "
                         f"an image ({n}, {geo.C}, {geo.H}, {geo.W})")
    _check_int32("col2im", geo, n)
    cols = xp.ascontiguousarray(cols)
    shape = (n, geo.C, geo.H, geo.W)
    target = out if (out is not None and out.flags.c_contiguous and out.dtype == cols.dtype) else \
        xp.empty(shape, dtype=cols.dtype)
    if target.size:
        get(name)(_grid(target.size), (BLOCK,), (cols, target, *_launch_args(geo, n), np.int64(target.size)))
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


# -- benchmarks/kernels.py: the kernels against the CuPy composition, on DCGAN's convolutions --
def _register_dcgan_cases() -> None:
    """DCGAN's four convolutions (models/dcgan.py), each seen as the convolution whose im2col or
    col2im it runs: D's two forward convolutions run im2col, G's two transposed convolutions
    (and D's input gradients) run col2im.  ``TINYGAN_KERNELS=0`` makes the same call run the
    CuPy composition it replaces."""
    layers = [  # name, batch, x (N, C, H, W) of the convolution, its weight's (O, kh, kw), output size
        ("D.conv1", 64, (1, 28, 28), 64, 14), ("D.conv2", 64, (64, 14, 14), 128, 7),
        ("G.convT1", 64, (64, 14, 14), 128, 7), ("G.convT2", 64, (1, 28, 28), 64, 14),
        ("D.conv2", 256, (64, 14, 14), 128, 7), ("G.convT1", 256, (64, 14, 14), 128, 7),
    ]
    for layer, n, (C, H, W), O, out in layers:
        geo = Geometry((n, C, H, W), (O, C, 4, 4), (2, 2), (1, 1), (1, 1), 1, (out, out))
        if layer.startswith("D"):
            benchmark.register(
                f"im2col f32 DCGAN {layer} x ({n}, {C}, {H}, {W}) k4 s2 p1",
                inputs=lambda xp, shape=(n, C, H, W): (xp.ones(shape, dtype=xp.float32),),
                run=lambda x, geo=geo: _im2col_nchw(x, geo))
        else:
            benchmark.register(
                f"col2im f32 DCGAN {layer} -> ({n}, {C}, {H}, {W}) k4 s2 p1",
                inputs=lambda xp, n=n, geo=geo: (
                    xp.ones((1, geo.C * 16, n * geo.Ho * geo.Wo), dtype=xp.float32),
                    xp.empty((n, geo.C, geo.H, geo.W), dtype=xp.float32)),
                run=lambda cols, out, n=n, geo=geo: (_col2im_nchw(cols, geo, n, out), out)[1])


_register_dcgan_cases()
