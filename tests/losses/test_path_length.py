"""tinygan.losses.path_length_penalty: StyleGAN2's path length regularization (eq. 4).

On a linear generator g(w) = A w (reshaped to an image) J^T y is exactly A^T y, so
the lengths, the running mean and the penalty are written here in closed form in
NumPy.  On a tanh generator J^T y = A^T ((1 - tanh^2) * y) by hand.  The penalty's
gradient with respect to A (and to ws) is checked by central differences in float64
-- a second derivative through ``tinygan.grad``.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import losses
from tinygan.testing import gradcheck

from tolerances import sum_tolerance

N, C, H, W = 3, 2, 3, 2                 # H != W: the 1/sqrt(H W) scale is tested as a product
L, WDIM = 4, 5                          # num_ws, w_dim
PIX = C * H * W


def _linear_g(A):
    """g(ws) = A flatten(ws), as (N, C, H, W): A is (C H W, num_ws w_dim) or (C H W, w_dim)."""
    return lambda ws: (ws.reshape(ws.shape[0], -1) @ A.T).reshape(ws.shape[0], C, H, W)


def _tanh_g(A):
    return lambda ws: (ws.reshape(ws.shape[0], -1) @ A.T).tanh().reshape(ws.shape[0], C, H, W)


def _np_lengths(jt_y, num_ws):
    """sqrt(1/L sum_l sum_k (J^T y)[l, k]^2) per sample, from J^T y flattened to (N, L w_dim)."""
    g = jt_y.reshape(len(jt_y), num_ws, -1)
    return np.sqrt((g * g).sum(2).mean(1))


def _np_penalty(lengths, a, decay):
    new = a + decay * (lengths.mean() - a)
    return ((lengths - new) ** 2).mean(), new


def _ws(rng, shape, dtype=np.float64):
    return tinygan.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


@pytest.mark.parametrize("ws_shape", [(N, L, WDIM), (N, WDIM)], ids=["N,L,wdim", "N,wdim"])
@pytest.mark.parametrize("pl_mean", [0.0, 0.8])
@pytest.mark.parametrize("decay", [0.01, 0.5])
def test_linear_generator_lengths_and_penalty_in_closed_form(ws_shape, pl_mean, decay, rng):
    num_ws = ws_shape[1] if len(ws_shape) == 3 else 1
    A = rng.standard_normal((PIX, int(np.prod(ws_shape[1:]))))
    ws = _ws(rng, ws_shape)
    noise = rng.standard_normal((N, C, H, W))
    fake = _linear_g(tinygan.tensor(A, requires_grad=True))(ws)
    penalty, new_mean = losses.path_length_penalty(fake, ws, pl_mean, decay,
                                                   noise=tinygan.tensor(noise))
    y = noise.reshape(N, PIX) / np.sqrt(H * W)
    lengths = _np_lengths(y @ A, num_ws)                           # J^T y = A^T y exactly
    want, want_mean = _np_penalty(lengths, pl_mean, decay)
    np.testing.assert_allclose(new_mean.item(), want_mean, rtol=1e-12)
    np.testing.assert_allclose(penalty.item(), want, rtol=1e-10, atol=1e-15)
    assert new_mean.shape == () and not new_mean.requires_grad   # state, not a graph
    assert penalty.shape == () and penalty.requires_grad         # a graph back to A


def test_float32_matches_float64_within_the_sums_tolerance(rng):
    A = rng.standard_normal((PIX, L * WDIM))
    ws64 = rng.standard_normal((N, L, WDIM))
    noise = rng.standard_normal((N, C, H, W))
    out = {}
    for dt in (np.float32, np.float64):
        ws = tinygan.tensor(ws64.astype(dt), requires_grad=True)
        p, m = losses.path_length_penalty(_linear_g(tinygan.tensor(A.astype(dt)))(ws), ws, 0.5,
                                          0.01, noise=tinygan.tensor(noise.astype(dt)))
        assert p.dtype == dt and m.dtype == dt
        out[dt] = (p.item(), m.item())
    # J^T y is a sum of PIX products; its squares summed over L*WDIM; lengths ~ |A^T y|.
    y = noise.reshape(N, PIX) / np.sqrt(H * W)
    g_tol = sum_tolerance(np.abs(y) @ np.abs(A), PIX, np.float32).max()
    lengths = _np_lengths(y @ A, L)
    len_tol = 4 * g_tol + sum_tolerance(lengths.max() ** 2, L * WDIM, np.float32)
    np.testing.assert_allclose(out[np.float32][1], out[np.float64][1], atol=len_tol, rtol=0)
    # penalty = mean (l - a)^2: its error is about 2 |l - a| times the lengths' error
    spread = np.abs(lengths - out[np.float64][1]).max()
    np.testing.assert_allclose(out[np.float32][0], out[np.float64][0],
                               atol=4 * spread * len_tol + 1e-6 * out[np.float64][0], rtol=0)


def test_tanh_generator_lengths_match_a_hand_written_jacobian(rng):
    A = rng.standard_normal((PIX, L * WDIM)) * 0.3
    ws = _ws(rng, (N, L, WDIM))
    noise = rng.standard_normal((N, C, H, W))
    fake = _tanh_g(tinygan.tensor(A))(ws)
    penalty, new_mean = losses.path_length_penalty(fake, ws, 1.0, 0.01,
                                                   noise=tinygan.tensor(noise))
    t = np.tanh(ws.detach().numpy().reshape(N, -1) @ A.T)
    y = noise.reshape(N, PIX) / np.sqrt(H * W)
    lengths = _np_lengths(((1 - t * t) * y) @ A, L)
    want, want_mean = _np_penalty(lengths, 1.0, 0.01)
    np.testing.assert_allclose(new_mean.item(), want_mean, rtol=1e-12)
    np.testing.assert_allclose(penalty.item(), want, rtol=1e-10)


def test_the_running_mean_is_a_lerp_towards_the_batch_mean(rng):
    A = rng.standard_normal((PIX, L * WDIM))
    ws = _ws(rng, (N, L, WDIM))
    noise = tinygan.tensor(rng.standard_normal((N, C, H, W)))
    fake = _linear_g(tinygan.tensor(A))(ws)
    kw = dict(noise=noise)
    _, m1 = losses.path_length_penalty(fake, ws, 0.0, 1.0, **kw)      # decay 1: the batch mean
    batch_mean = m1.item()
    # decay 0: the mean stays put, and the penalty is the mean squared distance to it
    p0, m0 = losses.path_length_penalty(fake, ws, 2.0, 0.0, **kw)
    assert m0.item() == 2.0          # exact: 2 + 0 * (m - 2) is 2 in floating point
    p1, _ = losses.path_length_penalty(fake, ws, 2.0, 1.0, **kw)
    # the lengths' own spread: with decay 1 the penalty is their (biased) variance
    lengths = _np_lengths(noise.numpy().reshape(N, PIX) / np.sqrt(H * W) @ A, L)
    np.testing.assert_allclose(batch_mean, lengths.mean(), rtol=1e-12)
    np.testing.assert_allclose(p1.item(), lengths.var(), rtol=1e-10)
    np.testing.assert_allclose(p0.item(), ((lengths - 2.0) ** 2).mean(), rtol=1e-12)
    # the state carried over steps: a_{t+1} = a_t + decay (mean_t - a_t), with the mean passed
    # back as a 0-d tensor or a 0-d NumPy array
    a = 0.0
    mean = tinygan.tensor(0.0, dtype=tinygan.float64)
    for step in range(3):
        _, mean = losses.path_length_penalty(fake, ws, mean if step != 1 else mean.numpy(),
                                             0.01, **kw)
        a = a + 0.01 * (batch_mean - a)
        np.testing.assert_allclose(mean.item(), a, rtol=1e-12)


def test_penalty_gradient_in_the_generator_weights_by_finite_differences(rng):
    """The penalty as a function of A (and of ws), checked by central differences: a
    second derivative, since the penalty is built from tinygan.grad's J^T y."""
    noise = tinygan.tensor(rng.standard_normal((N, C, H, W)))
    ws0 = rng.standard_normal((N, L, WDIM))

    # gradcheck evaluates under no_grad; the generator's graph to ws is needed all the same
    def linear(A):
        ws = tinygan.tensor(ws0, requires_grad=True)
        with tinygan.enable_grad():
            fake = _linear_g(A)(ws)
        return losses.path_length_penalty(fake, ws, 0.7, 0.01, noise=noise)[0]

    def tanh(A, ws):
        with tinygan.enable_grad():
            fake = _tanh_g(A)(ws)
        return losses.path_length_penalty(fake, ws, 0.7, 0.01, noise=noise)[0]

    A = tinygan.tensor(rng.standard_normal((PIX, L * WDIM)), requires_grad=True)
    assert gradcheck(linear, [A])
    A = tinygan.tensor(rng.standard_normal((PIX, L * WDIM)) * 0.3, requires_grad=True)
    assert gradcheck(tanh, [A, _ws(rng, (N, L, WDIM))])
    # the graph reaches A
    (gA,) = tinygan.grad(tanh(A, _ws(rng, (N, L, WDIM))), A)
    assert np.abs(gA.numpy()).max() > 0


def test_the_gradient_includes_the_running_mean_term(rng):
    """d penalty / d lengths = 2/N (l - a') - 2 decay/N mean(l - a') (a' depends on the
    batch mean): checked against NumPy for the linear generator's gradient in A."""
    A = rng.standard_normal((PIX, WDIM))
    noise = rng.standard_normal((N, C, H, W))
    At = tinygan.tensor(A, requires_grad=True)
    ws = _ws(rng, (N, WDIM))
    decay = 0.3
    p, _ = losses.path_length_penalty(_linear_g(At)(ws), ws, 0.4, decay,
                                      noise=tinygan.tensor(noise))
    (gA,) = tinygan.grad(p, At)
    y = noise.reshape(N, PIX) / np.sqrt(H * W)
    g = y @ A                                               # (N, WDIM)
    lengths = np.sqrt((g * g).sum(1))
    new = 0.4 + decay * (lengths.mean() - 0.4)
    dl = 2 / N * (lengths - new) - 2 * decay / N * (lengths - new).sum() / N * np.ones(N)
    # d lengths_i / dA = y_i g_i^T / lengths_i
    want = np.einsum("n,np,nk->pk", dl / lengths, y, g)
    np.testing.assert_allclose(gA.numpy(), want, rtol=1e-10, atol=1e-14)


def test_default_noise_comes_from_the_seeded_generator(rng):
    A = tinygan.tensor(rng.standard_normal((PIX, L * WDIM)))
    ws = _ws(rng, (N, L, WDIM))
    fake = _linear_g(A)(ws)
    tinygan.manual_seed(5)
    p1, _ = losses.path_length_penalty(fake, ws, 0.5)
    tinygan.manual_seed(5)
    noise = tinygan.randn(N, C, H, W, dtype=tinygan.float64)
    p2, _ = losses.path_length_penalty(fake, ws, 0.5, noise=noise)
    assert p1.item() == p2.item()    # exact: the same draws, the same arithmetic
    p3, _ = losses.path_length_penalty(fake, ws, 0.5)
    assert p3.item() != p1.item()


def test_under_no_grad_it_still_evaluates(rng):
    A = tinygan.tensor(rng.standard_normal((PIX, L * WDIM)))
    ws = _ws(rng, (N, L, WDIM))
    fake = _linear_g(A)(ws)
    with tinygan.no_grad():
        p, m = losses.path_length_penalty(fake, ws, 0.0)
    assert np.isfinite(p.item()) and m.item() > 0


def test_bad_arguments_are_refused_with_the_shapes_at_fault(rng):
    A = tinygan.tensor(rng.standard_normal((PIX, L * WDIM)))
    ws = _ws(rng, (N, L, WDIM))
    fake = _linear_g(A)(ws)
    pl = losses.path_length_penalty
    with pytest.raises(ValueError, match=r"path_length_penalty: fake_images .*\(N, C, H, W\).*\(3, 12\)"):
        pl(fake.reshape(N, -1), ws, 0.0)
    with pytest.raises(ValueError, match=r"path_length_penalty: ws .*\(N, num_ws, w_dim\).*\(3, 4, 5, 1\)"):
        pl(fake, ws.reshape(N, L, WDIM, 1), 0.0)
    with pytest.raises(ValueError, match=r"ws .*N = 2 .*\(3, 4, 5\)"):
        pl(fake[:2], ws, 0.0)
    with pytest.raises(ValueError, match=r"ws .*\(3,\)"):
        pl(fake, ws[:, 0, 0], 0.0)
    with pytest.raises(ValueError, match="does not require grad"):
        pl(fake, ws.detach(), 0.0)
    with pytest.raises(ValueError, match=r"fake_images \(3, 2, 3, 2\) has no graph"):
        pl(fake.detach(), ws, 0.0)
    with pytest.raises(ValueError, match=r"pl_mean must be 0-d.*\(2,\)"):
        pl(fake, ws, tinygan.zeros(2))
    with pytest.raises(ValueError, match=r"pl_mean must be 0-d.*\(1,\)"):
        pl(fake, ws, np.zeros(1))
    with pytest.raises(ValueError, match=r"pl_mean must be >= 0"):
        pl(fake, ws, -1.0)
    with pytest.raises(ValueError, match=r"decay must lie in \[0, 1\]"):
        pl(fake, ws, 0.0, 1.5)
    with pytest.raises(ValueError, match=r"noise .*\(3, 2, 3, 2\).*\(3, 2, 3\)"):
        pl(fake, ws, 0.0, noise=tinygan.zeros(N, C, H))
    with pytest.raises(TypeError, match="fake_images must be a Tensor"):
        pl(fake.detach().numpy(), ws, 0.0)
