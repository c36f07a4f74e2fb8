"""tinygan.nn.attention: SelfAttention2d (SAGAN, Zhang et al. 2019, eq. 1-3; BigGAN's variant).

The block against a direct NumPy formula (1x1 convs as sums over channels, 2x2 max pooling,
an explicit softmax) in float64 and float32, with tolerances from a rounding-error bound
carried through the formula; the attention map it returns; gamma = 0 as the identity; the
first and second derivatives; the children that spectral norm will wrap; bad input; and,
where PyTorch is installed, against the same block written with torch's ops (outputs and
gradients).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import FACTOR, assert_within, eps


def _params(layer) -> dict:
    """The block's weights as float64 arrays: 1x1 conv weights as (out, in) matrices."""
    mat = lambda conv: conv.weight.detach().numpy().astype(np.float64)[:, :, 0, 0]    # noqa: E731
    return {"wt": mat(layer.theta), "wp": mat(layer.phi), "wg": mat(layer.g), "wo": mat(layer.o),
            "gamma": float(layer.gamma.detach().numpy())}


def _conv1x1(w, a):
    return np.einsum("oc,nchw->nohw", w, a)


def _pool(a):
    n, c, h, w = a.shape
    return a.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def reference(x, wt, wp, wg, wo, gamma, pooling, dtype):
    """(y, beta, bound): SAGAN eq. 1-3 in float64, written out, and a bound on how far a
    computation of y (beta) in ``dtype`` may be from it, each rounding carried to first order
    (as tests/tolerances.py: FACTOR times n * eps * the sum of |terms| for each sum of n terms).
    """
    u, f = eps(dtype), FACTOR
    n, c, h, w = x.shape
    a = np.abs
    theta, phi, g = _conv1x1(wt, x), _conv1x1(wp, x), _conv1x1(wg, x)
    e_theta, e_phi, e_g = (f * c * u * _conv1x1(a(m), a(x)) for m in (wt, wp, wg))
    if pooling:                       # max is 1-Lipschitz in each entry: errors pool as maxima
        phi, g, e_phi, e_g = _pool(phi), _pool(g), _pool(e_phi), _pool(e_g)
    q, k, v = theta.reshape(n, c // 8, h * w), phi.reshape(n, c // 8, -1), g.reshape(n, c // 2, -1)
    eq, ek, ev = e_theta.reshape(q.shape), e_phi.reshape(k.shape), e_g.reshape(v.shape)
    keys = k.shape[-1]
    s = np.einsum("ncj,nci->nji", q, k)                            # s_ji = theta_j . phi_i
    e_s = (np.einsum("ncj,nci->nji", a(q), ek) + np.einsum("ncj,nci->nji", eq, a(k))
           + f * (c // 8) * u * np.einsum("ncj,nci->nji", a(q), a(k)))
    top = s.max(axis=-1, keepdims=True)
    ex = np.exp(s - top)
    beta = ex / ex.sum(axis=-1, keepdims=True)                     # eq. 1
    # softmax: d beta_ji = beta_ji (ds_ji - sum_i' beta_ji' ds_ji'), so |d beta_ji| <= 2 beta_ji
    # max_i |ds_ji|; its own roundings: s - max, exp, a sum of K terms and a division.
    e_s = e_s + u * a(s - top)
    e_beta = beta * (2 * e_s.max(axis=-1, keepdims=True) + f * (keys + 3) * u)
    read = np.einsum("nci,nji->ncj", v, beta)                      # sum_i beta_ji g_i
    e_read = (np.einsum("nci,nji->ncj", a(v), e_beta) + np.einsum("nci,nji->ncj", ev, beta)
              + f * keys * u * np.einsum("nci,nji->ncj", a(v), beta))
    read, e_read = read.reshape(n, c // 2, h, w), e_read.reshape(n, c // 2, h, w)
    o = _conv1x1(wo, read)                                         # eq. 2
    e_o = _conv1x1(a(wo), e_read) + f * (c // 2) * u * _conv1x1(a(wo), a(read))
    y = x + gamma * o                                              # eq. 3
    e_y = abs(gamma) * e_o + f * 2 * u * (a(x) + a(gamma * o))
    return y, beta, e_y, e_beta


def _layer(channels=16, pooling=True, dtype=np.float64, gamma=0.7, seed=0):
    tinygan.manual_seed(seed)
    layer = nn.SelfAttention2d(channels, pooling=pooling, dtype=dtype)
    with tinygan.no_grad():
        layer.gamma.data[...] = gamma
    return layer


def _x(shape, dtype=np.float64, seed=1, requires_grad=False):
    return tinygan.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype,
                          requires_grad=requires_grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("pooling,shape", [(True, (2, 16, 4, 4)), (True, (3, 32, 6, 8)),
                                           (False, (2, 16, 3, 5))], ids=str)
def test_forward_against_numpy(pooling, shape, dtype):
    layer = _layer(shape[1], pooling, dtype)
    x = _x(shape, dtype)
    y, beta = layer(x, return_attention=True)
    ref_y, ref_beta, e_y, e_beta = reference(x.numpy().astype(np.float64), **_params(layer),
                                             pooling=pooling, dtype=dtype)
    assert y.dtype == dtype and tuple(y.shape) == shape
    keys = shape[2] * shape[3] // (4 if pooling else 1)
    assert tuple(beta.shape) == (shape[0], shape[2] * shape[3], keys)
    # Two computations within the bound each (the float64 reference rounds too): twice it.
    assert_within(beta.detach().numpy(), ref_beta, 2 * e_beta, "attention map")
    assert_within(y.detach().numpy(), ref_y, 2 * e_y, "output")


def test_the_map_rows_are_distributions_and_a_sharp_query_reads_one_position():
    """Each query's weights sum to 1 over the keys; with large scores the softmax stays finite
    and puts all the weight on the best key (pooling off: the keys are the 4 positions)."""
    layer = _layer(8, pooling=False, gamma=1.0)
    with tinygan.no_grad():
        pick = np.zeros((1, 8, 1, 1))
        pick[0, 0] = 1.0
        layer.theta.weight.data[...] = 2000 * pick   # theta_j = 2000 x0_j, phi_i = x0_i:
        layer.phi.weight.data[...] = pick            # s_ji = 2000 x0_j x0_i
    x = np.zeros((1, 8, 2, 2))
    x[0, 0] = [[1.0, 0.2], [-0.3, 0.1]]              # x0 at the positions 0, 1, 2, 3
    x[0, 1:] = np.random.default_rng(2).standard_normal((7, 2, 2))
    _, beta = layer(tinygan.tensor(x), return_attention=True)
    beta = beta.detach().numpy()
    np.testing.assert_allclose(beta.sum(-1), 1.0, rtol=0, atol=8 * eps(np.float64))
    # Query 0 scores 2000 x0_i = (2000, 400, -600, 200): key 0 wins by e^-1600, which is 0.
    assert beta[0, 0, 0] == 1.0                      # exact: exp(-1600) underflows to 0
    # Query 2 (x0 = -0.3) scores (-600, -120, 180, -60): key 2, itself, wins; key 3 gets
    # e^-240 (1e-104: representable, and below half an ulp of 1 next to the winner's 1).
    assert beta[0, 2, 2] == 1.0                      # exact: 1 + 1e-104 rounds to 1
    np.testing.assert_allclose(beta[0, 2, 3], np.exp(-240.0), rtol=1e-10)


def test_a_row_of_the_pooled_map_is_a_picture_of_the_pooled_grid():
    """beta[n, h*W + w].reshape(H/2, W/2) is where (h, w) looks: the key of 2x2 block (a, b)
    sits at (a, b).  One bright pixel at (2, 3) of a 4x4 map: its block (1, 1) wins."""
    layer = _layer(8, pooling=True, gamma=1.0)
    with tinygan.no_grad():
        pick = np.zeros((1, 8, 1, 1))
        pick[0, 0] = 1.0
        layer.theta.weight.data[...] = 2000 * pick
        layer.phi.weight.data[...] = pick
    x = np.zeros((1, 8, 4, 4))
    x[0, 0] = 0.1 * np.random.default_rng(4).random((4, 4)) + 0.1   # dim, positive
    x[0, 0, 2, 3] = 1.0
    _, beta = layer(tinygan.tensor(x), return_attention=True)
    for h, w in [(0, 0), (2, 3), (3, 1)]:                           # every query is positive
        picture = beta.detach().numpy()[0, h * 4 + w].reshape(2, 2)
        assert np.unravel_index(picture.argmax(), (2, 2)) == (1, 1), (h, w, picture)
        assert picture[1, 1] > 0.99


def test_gamma_zero_is_the_identity():
    tinygan.manual_seed(3)
    layer = nn.SelfAttention2d(16)
    assert layer.gamma.shape == () and float(layer.gamma.detach().numpy()) == 0.0
    x = _x((2, 16, 4, 4), np.float32)
    # exact: x + 0 * o is x for a finite o.
    np.testing.assert_array_equal(layer(x).detach().numpy(), x.numpy())


def test_at_gamma_zero_only_gamma_learns():
    """SAGAN sec. 3: with gamma = 0 the attention weights get no gradient until gamma moves."""
    layer = _layer(gamma=0.0)
    x = _x((2, 16, 4, 4))
    loss = (layer(x) * _x((2, 16, 4, 4), seed=5)).sum()
    loss.backward()
    for conv in (layer.theta, layer.phi, layer.g, layer.o):
        assert not np.any(conv.weight.grad.numpy())                 # exact: a product with 0
    assert abs(float(layer.gamma.grad.numpy())) > 0


@pytest.mark.parametrize("pooling,shape", [(True, (2, 16, 4, 4)), (False, (1, 16, 2, 3))], ids=str)
def test_first_and_second_derivatives(pooling, shape):
    layer = _layer(shape[1], pooling, gamma=0.7)
    x = _x(shape, requires_grad=True)
    params = [layer.theta.weight, layer.phi.weight, layer.g.weight, layer.o.weight, layer.gamma]
    fn = lambda x, *p: layer(x)                                       # noqa: E731
    assert gradcheck(fn, [x, *params])
    assert gradgradcheck(fn, [x, *params])


def test_the_attention_map_is_differentiable_too():
    layer = _layer(16, True)
    x = _x((1, 16, 4, 4), requires_grad=True)
    fn = lambda x, wt, wp: layer(x, return_attention=True)[1]         # noqa: E731
    assert gradcheck(fn, [x, layer.theta.weight, layer.phi.weight])
    assert gradgradcheck(fn, [x, layer.theta.weight, layer.phi.weight])


def test_children_are_plain_bias_free_convs():
    layer = nn.SelfAttention2d(32)
    shapes = {"theta": (4, 32, 1, 1), "phi": (4, 32, 1, 1), "g": (16, 32, 1, 1), "o": (32, 16, 1, 1)}
    for name, shape in shapes.items():
        conv = getattr(layer, name)
        assert type(conv) is nn.Conv2d and conv.bias is None and tuple(conv.weight.shape) == shape
    assert set(layer.state_dict()) == {f"{n}.weight" for n in shapes} | {"gamma"}
    assert layer.gamma.dtype == np.float32
    assert nn.SelfAttention2d(8, dtype=np.float64).o.weight.dtype == np.float64
    assert "pooling=True" in repr(layer)


def test_state_dict_round_trip():
    a, b = _layer(seed=6), _layer(seed=7, gamma=0.1)
    x = _x((1, 16, 4, 4))
    b.load_state_dict(a.state_dict())
    # exact: the same weights through the same ops
    np.testing.assert_array_equal(b(x).detach().numpy(), a(x).detach().numpy())


@pytest.mark.parametrize("channels", [12, 4, 0, -8, 8.0, True])
def test_channels_must_be_a_multiple_of_8(channels):
    with pytest.raises(ValueError, match=r"SelfAttention2d: channels must be a positive multiple "
                                         r"of 8.*got " + repr(channels).replace(".", r"\.")):
        nn.SelfAttention2d(channels)


def test_bad_input_names_the_layer_and_shapes():
    layer = nn.SelfAttention2d(16)
    with pytest.raises(ValueError, match=r"SelfAttention2d: expected x of shape \(N, 16, H, W\), "
                                         r"got \(2, 16, 4\)"):
        layer(tinygan.zeros(2, 16, 4))
    with pytest.raises(ValueError, match=r"\(N, 16, H, W\), got \(2, 8, 4, 4\)"):
        layer(tinygan.zeros(2, 8, 4, 4))
    with pytest.raises(ValueError, match=r"even H and W, got x of shape \(1, 16, 5, 4\)"):
        layer(tinygan.zeros(1, 16, 5, 4))
    with pytest.raises(TypeError, match=r"SelfAttention2d: expected a Tensor x.*got ndarray"):
        layer(np.zeros((1, 16, 4, 4)))
    # Without pooling any size works.
    assert nn.SelfAttention2d(16, pooling=False)(tinygan.zeros(1, 16, 5, 3)).shape == (1, 16, 5, 3)


@pytest.mark.gpu
def test_on_a_gpu_against_numpy():
    if not tinygan.cuda_is_available():
        pytest.skip("CuPy with a GPU is not available")
    layer = _layer(32, True, np.float32)
    x = _x((2, 32, 8, 8), np.float32)
    ref_y, ref_beta, e_y, e_beta = reference(x.numpy().astype(np.float64), **_params(layer),
                                             pooling=True, dtype=np.float32)
    layer.to("cuda")
    y, beta = layer(x.to("cuda"), return_attention=True)
    assert y.is_cuda and beta.is_cuda
    assert_within(beta.detach().cpu().numpy(), ref_beta, 2 * e_beta, "attention map, GPU")
    assert_within(y.detach().cpu().numpy(), ref_y, 2 * e_y, "output, GPU")


# -- against PyTorch, when installed: the same block written with torch's ops --------------------
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _torch_block(torch, channels, pooling):
    """BigGAN's attention written with torch.nn: the same names, so the state_dicts match."""
    tnn, tF = torch.nn, torch.nn.functional

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            c = channels
            self.theta = tnn.Conv2d(c, c // 8, 1, bias=False)
            self.phi = tnn.Conv2d(c, c // 8, 1, bias=False)
            self.g = tnn.Conv2d(c, c // 2, 1, bias=False)
            self.o = tnn.Conv2d(c // 2, c, 1, bias=False)
            self.gamma = tnn.Parameter(torch.tensor(0.0))

        def forward(self, x):
            n, c, h, w = x.shape
            phi, g = self.phi(x), self.g(x)
            if pooling:
                phi, g = tF.max_pool2d(phi, 2), tF.max_pool2d(g, 2)
            q = self.theta(x).flatten(2)                              # (N, C/8, HW)
            beta = torch.softmax(torch.bmm(q.transpose(1, 2), phi.flatten(2)), -1)
            read = torch.bmm(g.flatten(2), beta.transpose(1, 2)).view(n, c // 2, h, w)
            return x + self.gamma * self.o(read)

    return Block().double()


@pytest.mark.parametrize("pooling,shape", [(True, (3, 32, 8, 6)), (False, (2, 16, 4, 5))], ids=str)
def test_matches_torch_with_gradients(torch, pooling, shape):
    theirs = _torch_block(torch, shape[1], pooling)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    ours = nn.SelfAttention2d(shape[1], pooling=pooling, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal(shape)
    w = np.random.default_rng(2).standard_normal(shape)
    xt, xo = torch.tensor(x, requires_grad=True), tinygan.tensor(x, requires_grad=True)
    yt, yo = theirs(xt), ours(xo)
    # float64 both: two orders of the same sums (rtol far above float64's rounding, far below
    # any slip of the formula)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    (yt * torch.tensor(w)).sum().backward()
    (yo * tinygan.tensor(w)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[name].grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)
