"""Soft thresholding and singular value thresholding: optimality conditions and identities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from naive.rpca import soft_threshold as naive_soft_threshold
from naive.rpca import svt as naive_svt

from fastrpca import soft_threshold, svt

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
taus = st.floats(0, 50, allow_nan=False)
shapes = st.tuples(st.integers(1, 7), st.integers(1, 7))


def complex_arrays(shape):
    return st.builds(
        lambda a, b: a + 1j * b,
        arrays(np.float64, shape, elements=finite),
        arrays(np.float64, shape, elements=finite),
    )


@settings(max_examples=60, deadline=None)
@given(x=arrays(st.sampled_from([np.float32, np.float64]), shapes, elements=finite), tau=taus)
def test_soft_threshold_real_optimality(x, tau):
    z = soft_threshold(x, tau)
    assert z.shape == x.shape and z.dtype == x.dtype
    eps = 1e-5 * (1 + np.abs(x)) if x.dtype == np.float32 else 1e-12 * (1 + np.abs(x))
    g = (x - z).astype(np.float64)  # must lie in tau * subdifferential of |z|
    assert np.all(np.abs(g) <= tau + eps)
    on = z != 0
    np.testing.assert_allclose(g[on], tau * np.sign(z[on]), atol=float(eps.max()))
    np.testing.assert_allclose(z, naive_soft_threshold(x, tau), atol=float(eps.max()))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=shapes, tau=taus)
def test_soft_threshold_complex_shrinks_modulus_keeps_phase(data, shape, tau):
    x = data.draw(complex_arrays(shape))
    z = soft_threshold(x, tau)
    assert z.dtype == np.complex128
    np.testing.assert_allclose(np.abs(z), np.maximum(np.abs(x) - tau, 0), atol=1e-9)
    on = np.abs(z) > 1e-9
    np.testing.assert_allclose(z[on] / np.abs(z[on]), x[on] / np.abs(x[on]), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, shapes, elements=finite), tau=st.floats(1e-3, 50))
def test_moreau_identity(x, tau):
    # prox_{tau f}(x) + tau prox_{f*/tau}(x / tau) = x, with f* the indicator of the
    # unit L-inf ball, whose prox is the clip to [-1, 1].
    np.testing.assert_allclose(soft_threshold(x, tau) + tau * np.clip(x / tau, -1, 1), x, atol=1e-9)


def test_soft_threshold_out_and_in_place():
    x = np.array([3.0, -0.5, -2.0, 0.1])
    keep = x.copy()
    out = np.empty_like(x)
    assert soft_threshold(x, 1.0, out=out) is out
    np.testing.assert_array_equal(out, [2.0, 0.0, -1.0, 0.0])
    np.testing.assert_array_equal(x, keep)  # input untouched
    soft_threshold(x, 1.0, out=x)
    np.testing.assert_array_equal(x, out)
    with pytest.raises(ValueError, match="out must be"):
        soft_threshold(x, 1.0, out=np.empty(3))
    with pytest.raises(ValueError, match="tau must be >= 0"):
        soft_threshold(x, -1.0)
    with pytest.raises(ValueError, match="NaN"):
        soft_threshold([1.0, np.nan], 1.0)
    assert soft_threshold(np.empty((0, 3)), 1.0).shape == (0, 3)


def test_soft_threshold_non_contiguous_input():
    x = np.arange(24.0).reshape(4, 6)[:, ::2] - 5
    np.testing.assert_array_equal(soft_threshold(x, 2.0), naive_soft_threshold(x, 2.0))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=shapes, tau=st.floats(0, 20), cplx=st.booleans())
def test_svt_optimality(data, shape, tau, cplx):
    X = (
        data.draw(complex_arrays(shape))
        if cplx
        else data.draw(arrays(np.float64, shape, elements=finite))
    )
    L = svt(X, tau)
    assert L.shape == X.shape and L.dtype == X.dtype
    scale = 1 + np.linalg.norm(X)
    np.testing.assert_allclose(L, naive_svt(X, tau)[0], atol=1e-9 * scale)
    # (X - L) / tau is a subgradient of the nuclear norm at L: spectral norm <= 1 and
    # <X - L, L> = tau ||L||_*.
    G = X - L
    assert np.linalg.norm(G, 2) <= tau + 1e-9 * scale
    nuclear = np.linalg.svd(L, compute_uv=False).sum()
    assert abs(np.vdot(G, L).real - tau * nuclear) <= 1e-8 * scale**2


def test_svt_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        svt(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="tau"):
        svt(np.ones((2, 2)), -1.0)
