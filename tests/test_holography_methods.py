"""Holography past the SDP: vectorised transfer matrix, LM, Greedy, emission (quantisation,
calibration), certificates, sequences, sound-field maps."""

import inspect
import math
import re

import numpy as np
import pytest
from naive import holography as nv

from fastrpca import holography as H
from fastrpca.holography._kernels import trig

CENTER = np.array([86.36, 66.04, 150.0])


def ring(m, radius=40.0, z=150.0, turn=0.0):
    a = 2 * np.pi * np.arange(m) / m + turn
    return np.c_[CENTER[0] + radius * np.cos(a), CENTER[1] + radius * np.sin(a), np.full(m, z)]


def scattered(m, seed=0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(20, 170, m), rng.uniform(15, 120, m), np.full(m, 150.0)]


@pytest.fixture(scope="module")
def dev():
    return H.autd3()


# ------------------------------------------------------------- polynomial sin, cos, acos


def test_sincos_matches_numpy():
    x = np.concatenate(
        [np.linspace(-20, 20, 20001), np.linspace(0, 1e4, 100001), [0.0, np.pi / 4, 1e5]]
    )
    s = np.array([trig.sincos(v)[0] for v in x[::7]])
    c = np.array([trig.sincos(v)[1] for v in x[::7]])
    assert np.abs(s - np.sin(x[::7])).max() <= 4.5e-16
    assert np.abs(c - np.cos(x[::7])).max() <= 4.5e-16


def test_acos_and_asin_match_numpy():
    c = np.concatenate([np.linspace(0, 1, 20001), [0.5, np.nextafter(0.5, 1), 1.0]])
    got = np.array([trig.acos_unit(v) for v in c])
    assert np.abs(got - np.arccos(c)).max() <= 4.5e-16
    x = np.linspace(-0.5, 0.5, 2001)
    got = np.array([trig.asin_small(v) for v in x])
    np.testing.assert_allclose(got, np.arcsin(x), rtol=4.5e-16, atol=0)
    # the Taylor coefficients written out in asin_small: (2k)! / (4^k (k!)^2 (2k + 1))
    src = inspect.getsource(trig.asin_small.py_func)
    coef = [float(v) for v in re.findall(r"p = (?:p \* z \+ )?([0-9.e-]+)", src)][::-1]
    want = [math.factorial(2 * k) / (4**k * math.factorial(k) ** 2 * (2 * k + 1)) for k in range(24)]
    assert coef == want


def test_layout_is_read_only_and_matches(dev):
    np.testing.assert_array_equal(dev.layout[:3].T, dev.positions)
    np.testing.assert_array_equal(dev.layout[3:].T, dev.directions)
    for a in (dev.positions, dev.directions, dev.layout):
        with pytest.raises(ValueError):
            a[0, 0] = 1.0


def test_transfer_far_and_behind_matches_loops():
    two = H.autd3([[0, 0, 0], [192.0, 0, 0]])
    rng = np.random.default_rng(0)
    foci = np.c_[rng.uniform(-300, 500, 30), rng.uniform(-300, 400, 30), rng.uniform(-900, 900, 30)]
    for d in ("t4010a1", "sphere"):
        G = H.transfer_matrix(two, foci, directivity=d)
        ref = nv.transfer_matrix_loops(two.positions, two.directions, foci, directivity=d)
        np.testing.assert_allclose(G, ref, rtol=1e-12, atol=0)
