"""Holography: geometry, transfer matrix physics, SDP pipeline, baselines, real-time path."""

import math
import tracemalloc

import numpy as np
import pytest
from naive import holography as nv

from fastrpca import holography as H
from fastrpca._core.result import ConvergenceWarning

K = 2 * math.pi * 40e3 / 340e3
CENTER = np.array([86.36, 66.04, 150.0])


def ring(m, radius=40.0, z=150.0):
    a = 2 * np.pi * np.arange(m) / m
    return np.c_[CENTER[0] + radius * np.cos(a), CENTER[1] + radius * np.sin(a), np.full(m, z)]


def scattered(m, seed=0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(20, 170, m), rng.uniform(15, 120, m), np.full(m, 150.0)]


@pytest.fixture(scope="module")
def dev():
    return H.autd3()


# ----------------------------------------------------------------------------- geometry


def test_autd3_layout(dev):
    assert len(dev) == H.AUTD3_NUM_TRANSDUCERS == 249
    np.testing.assert_array_equal(dev.positions, nv.autd3_local_positions())
    assert np.array_equal(dev.positions[0], [0, 0, 0])
    assert np.allclose(dev.positions[1], [10.16, 0, 0])  # row-major: x first
    assert np.allclose(dev.positions[18], [0, 10.16, 0])  # then y
    assert np.allclose(dev.positions[19], [30.48, 10.16, 0])  # (1, 1), (2, 1) absent
    assert np.allclose(dev.directions, [0, 0, 1])
    assert np.isclose(dev.positions[:, 0].max() + 10.16 + (192 - 18 * 10.16), 192.0)


def test_several_devices_and_rotations():
    arr = H.autd3([[0, 0, 0], [192.0, 0, 0]])
    assert len(arr) == 498 and np.array_equal(arr.device[[0, 248, 249]], [0, 0, 1])
    np.testing.assert_allclose(arr.positions[249:], arr.positions[:249] + [192, 0, 0])
    s = math.sqrt(0.5)
    rz = H.autd3([10.0, 0, 0], rotations=[(s, 0, 0, s)])  # 90 degrees about z
    np.testing.assert_allclose(rz.positions[1], [10.0, 10.16, 0], atol=1e-12)
    np.testing.assert_allclose(rz.directions, np.tile([0, 0, 1.0], (249, 1)), atol=1e-12)
    rx = H.autd3([0, 0, 0], rotations=[np.diag([1.0, -1.0, -1.0])])  # 180 about x
    np.testing.assert_allclose(rx.directions[5], [0, 0, -1])
    with pytest.raises(ValueError, match="one per device"):
        H.autd3([[0, 0, 0], [1, 0, 0]], rotations=[None])
    with pytest.raises(ValueError, match="orthonormal"):
        H.autd3([0, 0, 0], rotations=[2 * np.eye(3)])


def test_custom_array():
    arr = H.transducer_array([[0, 0, 0], [10, 0, 0]], directions=[[0, 0, 2], [1, 0, 0]])
    np.testing.assert_allclose(arr.directions, [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="zero vectors"):
        H.transducer_array([[0, 0, 0]], directions=[0, 0, 0])


# ----------------------------------------------------------------------- transfer matrix


@pytest.mark.parametrize("directivity", ["t4010a1", "sphere"])
def test_transfer_matches_loops(dev, directivity):
    foci = np.vstack([scattered(5), [[-50.0, 200.0, 30.0], [86.0, 66.0, -120.0]]])
    G = H.transfer_matrix(dev, foci, directivity=directivity)
    ref = nv.transfer_matrix_loops(dev.positions, dev.directions, foci, directivity=directivity)
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=0)


def test_transfer_physics():
    one = H.transducer_array([[0.0, 0.0, 0.0]])
    z = np.array([[0, 0, 50.0], [0, 0, 100.0], [0, 0, 200.0]])
    g = H.transfer_matrix(one, z)[:, 0]
    np.testing.assert_allclose(np.abs(g) * z[:, 2], H.P0, rtol=1e-14)  # 1/r, D(0) = 1
    np.testing.assert_allclose(g * np.exp(1j * K * z[:, 2]), H.P0 / z[:, 2], rtol=1e-12)
    assert np.isclose(H.P0, 4385.9, rtol=1e-4) and np.isclose(H.wavenumber(), 0.739198, rtol=1e-6)
    # directivity: 45 degrees falls in bin 4 with x = 5 (table of ANCHORS section 2)
    d45 = ((2.31910931569e-5 * 5 - 2.18348633296e-4) * 5 - 0.0208114779827) * 5 + 0.707945784
    for theta, want in [
        (0.0, 1.0),
        (10.0, 1.0),
        (45.0, d45),
        (135.0, d45),
        (
            90.0,
            ((-4.79372835035e-6 * 10 + 1.43850511e-4) * 10 - 0.00312857467007) * 10 + 0.199526231,
        ),
    ]:
        t = math.radians(theta)
        f = np.array([[100 * math.sin(t), 0.0, 100 * math.cos(t)]])
        got = abs(H.transfer_matrix(one, f)[0, 0]) * 100 / H.P0
        assert np.isclose(got, want, rtol=1e-12), theta
    # the table is continuous across its 10-degree bins
    for edge in range(10, 90, 10):
        lo, hi = (nv.t4010a1(edge - 1e-9), nv.t4010a1(edge + 1e-9))
        assert abs(lo - hi) < 2e-4
    # sphere directivity ignores the angle
    f = np.array([[100.0, 0, 0.0]])
    assert np.isclose(
        abs(H.transfer_matrix(one, f, directivity="sphere")[0, 0]), H.P0 / 100, rtol=1e-14
    )


def test_one_device_focus_is_about_7_kpa(dev):
    G = H.transfer_matrix(dev, CENTER)
    assert 6.0e3 < np.abs(G).sum() < 7.5e3  # all in phase, full emission


def test_transfer_out_and_bad_input(dev):
    foci = scattered(3)
    out = np.empty((3, 249), complex)
    assert H.transfer_matrix(dev, foci, out=out) is out
    with pytest.raises(ValueError, match="r = 0"):
        H.transfer_matrix(dev, [[10.16, 0.0, 0.0]])
    with pytest.raises(ValueError, match="no foci"):
        H.transfer_matrix(dev, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        H.transfer_matrix(dev, [[0.0, np.nan, 100.0]])
    with pytest.raises(ValueError, match="directivity"):
        H.transfer_matrix(dev, foci, directivity="cardioid")
    with pytest.raises(ValueError, match="shape"):
        H.transfer_matrix(dev, np.ones((3, 2)))


# ------------------------------------------------------------------------ SDP pipeline


def test_exact_identities(dev):
    G = H.transfer_matrix(dev, scattered(6, seed=3))
    m = G.shape[0]
    for alpha in (1e3, 1e2):  # large alpha: the SVD route has no cancellation
        A = G @ G.conj().T + alpha**2 * np.eye(m)
        Gp = nv.tikhonov_pinv_svd(G, alpha)
        np.testing.assert_allclose(
            G.conj().T @ np.linalg.inv(A), Gp, rtol=1e-9, atol=1e-12 * np.abs(Gp).max()
        )
        np.testing.assert_allclose(
            alpha**2 * np.linalg.inv(A),
            np.eye(m) - G @ Gp,
            atol=1e-8 * np.abs(np.eye(m) - G @ Gp).max(),
        )


@pytest.mark.parametrize("m", [2, 4, 8, 16, 32])
def test_normalize_gives_uniform_foci(dev, m):
    for foci in (ring(m), scattered(m, seed=m)):
        G = H.transfer_matrix(dev, foci)
        r = H.sdp(G, np.full(m, 5e3), random_state=0)
        assert r.converged
        cv = r.focal_pressure.std() / r.focal_pressure.mean()
        assert cv < 0.01
        assert np.isclose(r.amplitude.max(), 1.0, rtol=1e-15) and r.amplitude.min() >= 0
        np.testing.assert_allclose(np.abs(r.drive), r.amplitude, rtol=1e-12)


def test_sdp_against_slow_pipeline(dev):
    m = 8
    G = H.transfer_matrix(dev, scattered(m, seed=1))
    amps = np.linspace(3e3, 6e3, m)
    r = H.sdp(G, amps, tol=1e-10, max_iter=5000, random_state=2)
    Mx = nv.sdp_matrix_exact(G, amps, 1e-3)
    ref = nv.phasecut_bcd(Mx, sweeps=400, nu=0.0, seed=1)
    f_ref = np.real(np.trace(Mx @ ref))
    assert abs(r.objective - f_ref) <= 1e-6 * f_ref
    u = np.exp(1j * r.focal_phase)
    assert np.isclose(r.rounded_objective, np.real(u.conj() @ Mx @ u), rtol=1e-9)
    q = nv.tikhonov_pinv_svd(G, 1e-3) @ (amps * u)
    a, ph = nv.constrain(q, "normalize")
    np.testing.assert_allclose(r.drive, a * np.exp(1j * ph), atol=1e-6)
    np.testing.assert_allclose(r.phase, np.mod(ph, 2 * np.pi), atol=1e-6)
    # unconstrained q nearly reproduces P u: the foci get the asked ratios
    np.testing.assert_allclose(r.focal_pressure / r.focal_pressure[0], amps / amps[0], rtol=1e-6)


def test_sdp_objective_vs_interior_point(dev):
    pytest.importorskip("cvxpy")
    G = H.transfer_matrix(dev, scattered(8, seed=5))
    amps = np.full(8, 5e3)
    Mx = nv.sdp_matrix_exact(G, amps, 1e-3)
    s = np.abs(Mx).max()
    opt = nv.sdp_cvxpy(Mx / s)[0] * s
    r = H.sdp(G, amps, random_state=0)  # default tolerance
    assert abs(r.objective - opt) <= 1e-4 * opt


@pytest.mark.parametrize(
    "constraint", ["normalize", ("uniform", 0.7), ("multiply", 0.5), ("clamp", 0.2, 0.6), "clamp"]
)
@pytest.mark.parametrize("method", ["naive", "gs", "gspat"])
@pytest.mark.filterwarnings("ignore::fastrpca._core.result.ConvergenceWarning")
def test_baselines_match_reference(dev, method, constraint):
    G = H.transfer_matrix(dev, scattered(6, seed=7))
    amps = np.linspace(2e3, 5e3, 6)
    fixed = {} if method == "naive" else {"tol": 0.0}  # all 100 round trips, as AUTD3
    r = getattr(H, method)(G, amps, constraint=constraint, **fixed)
    q = {"naive": nv.naive_drive, "gs": nv.gs_drive, "gspat": nv.gspat_drive}[method](G, amps)
    name, *vals = (constraint,) if isinstance(constraint, str) else constraint
    if name in ("uniform", "multiply"):
        kw = dict(value=vals[0] if vals else 1.0)
    elif name == "clamp" and vals:
        kw = dict(lo=vals[0], hi=vals[1])
    else:
        kw = {}
    a, ph = nv.constrain(q, name, **kw)
    np.testing.assert_allclose(r.amplitude, a, atol=1e-12)
    np.testing.assert_allclose(r.drive, a * np.exp(1j * ph), atol=1e-10)
    np.testing.assert_allclose(r.focal_pressure, np.abs(G @ r.drive), rtol=1e-12)


def test_sdp_constraints(dev):
    G = H.transfer_matrix(dev, scattered(5))
    amps = np.full(5, 4e3)
    assert np.allclose(H.sdp(G, amps, constraint=("uniform", 0.3)).amplitude, 0.3)
    assert np.isclose(H.sdp(G, amps, constraint=("multiply", 0.4)).amplitude.max(), 0.4)
    a = H.sdp(G, amps, constraint=("clamp", 0.1, 0.2)).amplitude
    assert a.min() >= 0.1 and a.max() <= 0.2
    for bad in [("clamp", 0.5, 0.2), ("uniform", 2.0), "loud", ("multiply", -1.0)]:
        with pytest.raises(ValueError):
            H.sdp(G, amps, constraint=bad)


def test_sdp_not_converged_warns(dev):
    G = H.transfer_matrix(dev, scattered(16))
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = H.sdp(G, np.full(16, 5e3), max_iter=1, tol=0.0)
    assert not r.converged and "not converged" in r.message


def test_not_converged_warns_once_at_the_callers_line(dev):
    foci, amps = scattered(8), np.full(8, 5e3)
    G = H.transfer_matrix(dev, foci)
    ws = H.Workspace(dev, 8, max_iter=1, tol=0.0)
    calls = (
        lambda: H.sdp(G, amps, max_iter=1, tol=0.0),
        lambda: H.compute(dev, foci, amps, max_iter=1, tol=0.0),
        lambda: ws.solve(foci, amps) and ws.result(),
    )
    for call in calls:
        with pytest.warns(ConvergenceWarning) as record:
            call()
        assert len(record) == 1 and record[0].filename == __file__


@pytest.mark.parametrize(
    "G, amps, match",
    [
        (np.full((2, 3), np.nan + 0j), [1.0, 1.0], "NaN"),
        (np.ones((2, 3), complex), [1.0, 1.0, 1.0], "2 foci"),
        (np.ones((2, 3), complex), [1.0, -1.0], "negative"),
        (np.ones((2, 3), complex), [1.0, np.inf], "infinite"),
        (np.ones((0, 3), complex), [], "zero foci"),
    ],
)
def test_bad_input(G, amps, match):
    for fn in (H.sdp, H.naive, H.gs, H.gspat):
        with pytest.raises(ValueError, match=match):
            fn(G, amps)


def test_inputs_not_modified(dev):
    foci = scattered(4)
    G = H.transfer_matrix(dev, foci)
    amps = np.full(4, 5e3)
    G0, a0, f0 = G.copy(), amps.copy(), foci.copy()
    for x in (G, amps, foci):
        x.flags.writeable = False
    for fn in (H.sdp, H.naive, H.gs, H.gspat):
        fn(G, amps)
    H.compute(dev, foci, amps)
    H.Workspace(dev, 4).solve(foci, amps)
    assert np.array_equal(G, G0) and np.array_equal(amps, a0) and np.array_equal(foci, f0)


# ----------------------------------------------------------------------- real-time path


@pytest.mark.parametrize("method", ["sdp", "naive", "gs", "gspat"])
def test_workspace_reuses_buffers_and_matches(dev, method):
    ws = H.Workspace(dev, 6, method=method, random_state=3)
    foci, amps = ring(6), np.full(6, 5e3)
    a1, p1 = ws.solve(foci, amps)
    kept = a1.copy(), p1.copy()
    ids = [id(x) for x in (ws.G, ws.amplitude, ws.phase, ws.drive, ws.focal_pressure)]
    a2, p2 = ws.solve(scattered(6), amps)
    a3, p3 = ws.solve(foci, amps)
    assert a1 is a2 is a3 and p1 is p2 is p3
    assert ids == [id(x) for x in (ws.G, ws.amplitude, ws.phase, ws.drive, ws.focal_pressure)]
    # deterministic: the same inputs give bit-identical drives whatever came before
    assert np.array_equal(a3, kept[0]) and np.array_equal(p3, kept[1])
    ref = getattr(H, method)(
        H.transfer_matrix(dev, foci), amps, **({"random_state": 3} if method == "sdp" else {})
    )
    np.testing.assert_array_equal(ws.result().drive, ref.drive)
    one = H.compute(dev, foci, amps, method=method, random_state=3)
    np.testing.assert_array_equal(one.drive, ref.drive)


def test_workspace_steady_state_allocates_nothing():
    four = H.autd3([[0, 0, 0], [192, 0, 0], [0, 151.4, 0], [192, 151.4, 0]])
    ws = H.Workspace(four, 8, random_state=0)
    foci, amps = ring(8), np.full(8, 5e3)
    ws.solve(foci, amps)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            ws.solve(foci, amps)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - base < 4096  # one array of 996 drives alone would be 8-16 kB


def test_workspace_bad_input(dev):
    ws = H.Workspace(dev, 2)
    amps = np.full(2, 5e3)
    with pytest.raises(ValueError, match="r = 0"):
        ws.solve([[0.0, 0.0, 0.0], [50, 50, 150.0]], amps)
    with pytest.raises(ValueError, match="NaN"):
        ws.solve([[np.nan, 0.0, 100.0], [50, 50, 150.0]], amps)
    with pytest.raises(ValueError, match=">= 0"):
        ws.solve(ring(2), [1.0, -1.0])
    with pytest.raises(ValueError, match="shape"):
        ws.solve(ring(3), np.full(3, 1.0))
    with pytest.raises(ValueError, match="no foci"):
        ws.solve(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match="method"):
        H.Workspace(dev, 2, method="lbfgs")
