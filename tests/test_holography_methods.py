"""Holography past the SDP: vectorised transfer matrix, LM, Greedy, emission (quantisation,
calibration), certificates, sequences, sound-field maps."""

import inspect
import math
import re
import tracemalloc
import warnings

import numpy as np
import pytest
from naive import holography as nv

from fastrpca import holography as H
from fastrpca._core.result import ConvergenceWarning
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
    want = [
        math.factorial(2 * k) / (4**k * math.factorial(k) ** 2 * (2 * k + 1)) for k in range(24)
    ]
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


# ------------------------------------------------------------------------------------ LM


def small_array(n=30, seed=0):
    rng = np.random.default_rng(seed)
    pos = np.c_[rng.uniform(0, 100, n), rng.uniform(0, 80, n), np.zeros(n)]
    return H.transducer_array(pos)


@pytest.mark.parametrize("case", ["small", "autd3"])
def test_lm_matches_dense_textbook(dev, case):
    if case == "small":
        arr, foci = small_array(), [[30.0, 40.0, 80.0], [70.0, 30.0, 90.0], [50, 60, 70.0]]
    else:
        arr, foci = dev, scattered(4, seed=2)
    G = H.transfer_matrix(arr, foci)
    amps = np.linspace(3e3, 5e3, G.shape[0]) * (0.2 if case == "small" else 1.0)
    for max_iter in (1, 5, 12):
        with pytest.warns(ConvergenceWarning):
            r = H.lm(G, amps, max_iter=max_iter, tol=0.0, step_tol=0.0, certificate=False)
        x, k, hist = nv.lm_textbook(G, amps, max_iter=max_iter)
        assert r.n_iter == k == max_iter
        np.testing.assert_allclose(r.history["objective"], hist, rtol=1e-9)
        np.testing.assert_allclose(np.exp(1j * r.phase), np.exp(1j * x[: G.shape[1]]), atol=1e-8)
        assert np.isclose(r.objective, hist[-1], rtol=1e-9)


def test_lm_descends_and_reaches_a_planted_optimum(dev):
    # one focus asking for what the array gives with every transducer in phase: F* = 0
    G = H.transfer_matrix(dev, [CENTER])
    best = np.abs(G).sum()
    r = H.lm(G, best, max_iter=200, tol=1e-12, certificate=False)
    assert r.converged and r.n_iter < 200
    assert np.all(np.diff(r.history["objective"]) <= 0)  # LM never accepts an ascent
    assert np.isclose(r.focal_pressure[0], best, rtol=1e-6)
    # started at the optimum it stops before the first step (zero gradient)
    at_opt = np.r_[np.angle(np.conj(G[0])), 0.0]
    r0 = H.lm(G, best, initial=at_opt, certificate=False)
    assert r0.converged and r0.n_iter == 0 and "gradient" in r0.message


def test_lm_stops_on_the_step_tolerance(dev):
    G = H.transfer_matrix(dev, scattered(3))
    r = H.lm(G, 4e3, max_iter=500, tol=0.0, step_tol=1e-3, certificate=False)
    assert r.converged and "step" in r.message and r.n_iter < 500


def test_lm_options_and_bad_input(dev):
    G = H.transfer_matrix(dev, scattered(3))
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = H.lm(G, 5e3, constraint=("uniform", 0.5), certificate=False)
    np.testing.assert_array_equal(r.amplitude, 0.5)
    np.testing.assert_allclose(r.focal_pressure, np.abs(G @ r.drive), rtol=1e-12)
    with pytest.raises(ValueError, match="initial has 5 phases"):
        H.lm(G, 5e3, initial=np.zeros(5))
    for bad in (dict(tau=0.0), dict(step_tol=-1.0), dict(max_iter=0)):
        with pytest.raises(ValueError):
            H.lm(G, 5e3, **bad)
    with pytest.raises(ValueError, match="initial phases"):
        H.methods._Options("gs", 1e-3, "normalize", None, 1e-6, 0.8, None, initial=[0.0])


# -------------------------------------------------------------------------------- Greedy


def _seed(rs):
    return int(np.random.default_rng(rs).integers(0, 2**63 - 1))


@pytest.mark.filterwarnings("ignore::fastrpca.ConvergenceWarning")
@pytest.mark.parametrize("levels, passes", [(16, 1), (8, 3), (4, 20)])
def test_greedy_matches_reference(dev, levels, passes):
    G = H.transfer_matrix(dev, scattered(5, seed=levels))
    amps = np.linspace(2e3, 4e3, 5)
    for rs in (0, 7):
        r = H.greedy(G, amps, phase_div=levels, max_iter=passes, random_state=rs,
                     certificate=False)  # fmt: skip
        want = nv.greedy_reference(G, amps, levels=levels, seed=_seed(rs), passes=passes)
        np.testing.assert_array_equal(np.round(r.phase * levels / (2 * np.pi)), want)
        q = np.exp(2j * np.pi * want / levels)
        assert np.isclose(r.objective, nv.greedy_objective(G, amps, q), rtol=1e-12)
        np.testing.assert_allclose(r.focal_pressure, np.abs(G @ q), rtol=1e-12)
        np.testing.assert_array_equal(r.amplitude, 1.0)


def test_greedy_refinement_reaches_a_local_optimum(dev):
    G = H.transfer_matrix(dev, scattered(4, seed=3))
    amps = np.full(4, 3e3)
    r = H.greedy(G, amps, max_iter=50, random_state=1, certificate=False)
    assert r.converged and r.n_iter < 50
    hist = r.history["objective"]
    assert np.all(np.diff(hist) <= 1e-9 * hist[0])  # passes never make it worse
    # no single transducer can move to another level and lower the objective
    w = np.exp(2j * np.pi * np.arange(16) / 16)
    q = r.drive.copy()
    field = G @ q
    f0 = nv.greedy_objective(G, amps, q)
    for i in range(0, G.shape[1], 7):
        trial = field[:, None] + G[:, i : i + 1] * (w[None, :] - q[i])
        vals = np.abs(amps[:, None] - np.abs(trial)).sum(0)
        assert vals.min() >= f0 * (1 - 1e-9)
    one = H.greedy(G, amps, random_state=1, certificate=False)
    assert one.converged and one.n_iter == 1 and "one pass" in one.message
    assert r.objective <= one.objective


def test_greedy_seeds_and_levels(dev):
    G = H.transfer_matrix(dev, scattered(3))
    a = H.greedy(G, 5e3, certificate=False)
    b = H.greedy(G, 5e3, random_state=0, certificate=False)
    c = H.greedy(G, 5e3, random_state=1, certificate=False)
    np.testing.assert_array_equal(a.phase, b.phase)
    assert not np.array_equal(a.phase, c.phase)
    with pytest.raises(ValueError, match="phase_div"):
        H.greedy(G, 5e3, phase_div=16, phase_levels=24)
    with pytest.raises(ValueError, match="phase_div"):
        H.greedy(G, 5e3, phase_div=1)
    r = H.greedy(G, 5e3, phase_div=8, phase_levels=256, certificate=False)
    np.testing.assert_allclose(r.phase * 4 / np.pi, np.round(r.phase * 4 / np.pi), atol=1e-12)


@pytest.mark.parametrize("method", ["lm", "greedy"])
def test_workspace_runs_lm_and_greedy(dev, method):
    foci, amps = ring(6), np.full(6, 4e3)
    ws = H.Workspace(dev, 6, method=method, random_state=3, max_iter=3 if method == "lm" else 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a1, _ = ws.solve(foci, amps)
        kept = ws.drive.copy()
        ws.solve(scattered(6), amps)
        a3, _ = ws.solve(foci, amps)
        assert a1 is a3 and np.array_equal(ws.drive, kept)
        G = H.transfer_matrix(dev, foci)
        fn = getattr(H, method)
        kw = dict(max_iter=3) if method == "lm" else dict(random_state=3)
        ref = fn(G, amps, certificate=False, **kw)
    np.testing.assert_array_equal(ws.result(certificate=False).drive, ref.drive)
    assert ws.n_iter == ref.n_iter


def test_lm_and_greedy_allocate_nothing_in_steady_state(dev):
    for method in ("lm", "greedy"):
        ws = H.Workspace(dev, 8, method=method)
        foci, amps = ring(8), np.full(8, 5e3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ws.solve(foci, amps)
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                for _ in range(3):
                    ws.solve(foci, amps)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak - base < 4096, method


# ------------------------------------------------- what the hardware emits: levels, offsets

ALL = ["sdp", "naive", "gs", "gspat", "lm", "greedy"]


def _solve(method, G, amps, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return getattr(H, method)(G, amps, certificate=False, **kw)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("levels", [256, 16, 3])
def test_phase_quantisation(dev, method, levels):
    G = H.transfer_matrix(dev, scattered(5, seed=4))
    amps = np.full(5, 4e3)
    if method == "greedy" and levels % 16:
        kw = dict(phase_div=levels)
    else:
        kw = {}
    free = _solve(method, G, amps, **kw)
    r = _solve(method, G, amps, phase_levels=levels, **kw)
    k = r.phase * levels / (2 * np.pi)
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert r.phase.min() >= 0 and r.phase.max() < 2 * np.pi
    np.testing.assert_allclose(r.phase, nv.quantize_phases(free.phase, levels), atol=1e-12)
    assert np.abs(nv.wrapped(r.phase - free.phase)).max() <= np.pi / levels + 1e-12
    np.testing.assert_array_equal(r.amplitude, free.amplitude)
    np.testing.assert_allclose(r.drive, r.amplitude * np.exp(1j * r.phase), atol=1e-15)
    np.testing.assert_allclose(r.focal_pressure, np.abs(G @ r.drive), rtol=1e-12)
    if levels == 256:  # 256 levels cost well under 1 % of the focal pressure
        np.testing.assert_allclose(r.focal_pressure, free.focal_pressure, rtol=0.01)


@pytest.mark.parametrize("method", ALL)
def test_phase_calibration_is_in_the_model(dev, method):
    G = H.transfer_matrix(dev, scattered(4, seed=5))
    amps = np.full(4, 4e3)
    delta = np.random.default_rng(1).uniform(-np.pi, np.pi, 249)
    Gc = G * np.exp(1j * delta)[None, :]
    r = _solve(method, G, amps, phase_offset=delta)
    ref = _solve(method, Gc, amps)  # the same as solving on the calibrated matrix
    np.testing.assert_allclose(r.drive, ref.drive, atol=1e-12)
    np.testing.assert_allclose(r.focal_pressure, np.abs(Gc @ r.drive), rtol=1e-12)
    if method in ("sdp", "naive", "gspat"):
        # these see G only through G G^H or G^H: the emitted phases (commanded + offset)
        # are those of the uncalibrated solve
        free = _solve(method, G, amps)
        np.testing.assert_allclose(
            r.amplitude * np.exp(1j * (r.phase + delta)), free.drive, atol=1e-9
        )


def test_emission_options_bad_input(dev):
    G = H.transfer_matrix(dev, scattered(2))
    for bad in (1, 0, 2.5, True, "256"):
        with pytest.raises(ValueError, match="phase_levels"):
            H.naive(G, 5e3, phase_levels=bad)
    with pytest.raises(ValueError, match="phase_offset has 3 entries for 249"):
        H.naive(G, 5e3, phase_offset=np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        H.Workspace(dev, 2, phase_offset=np.full(249, np.nan))
    # a scalar offset turns every transducer alike
    r = H.naive(G, 5e3, phase_offset=0.3, certificate=False)
    np.testing.assert_allclose(
        np.exp(1j * (r.phase + 0.3)), np.exp(1j * H.naive(G, 5e3).phase), atol=1e-12
    )
    ws = H.Workspace(dev, 2, method="gspat", phase_levels=256, phase_offset=np.zeros(249))
    ws.solve(scattered(2), [5e3, 5e3])
    np.testing.assert_allclose(ws.phase * 128 / np.pi, np.round(ws.phase * 128 / np.pi), atol=1e-9)


# ---------------------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def clarabel_case(dev):
    pytest.importorskip("cvxpy")
    G = H.transfer_matrix(dev, scattered(8, seed=11))
    amps = np.linspace(3e3, 5e3, 8)
    Mx = nv.sdp_matrix_exact(G, amps, 1e-3)
    s = np.abs(Mx).max()
    opt = nv.sdp_cvxpy(Mx / s)[0] * s
    return G, amps, Mx, opt


@pytest.mark.parametrize("method", ALL)
def test_every_hologram_is_certified_against_clarabel(clarabel_case, method):
    G, amps, Mx, opt = clarabel_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = getattr(H, method)(G, amps)
    # the bound is a lower bound on the SDP optimum, and tight
    assert r.lower_bound <= opt * (1 + 1e-7)
    assert r.lower_bound >= opt * (1 - 1e-5)
    # the rounded objective is that of the hologram's focal phases
    u = np.exp(1j * r.focal_phase)
    assert np.isclose(r.rounded_objective, np.real(u.conj() @ Mx @ u), rtol=1e-8)
    assert r.rounded_objective >= opt * (1 - 1e-7)
    assert np.isclose(r.gap, (r.rounded_objective - r.lower_bound) / r.lower_bound)
    if method != "sdp":  # focal phases are those of the emitted field
        np.testing.assert_allclose(u, np.exp(1j * np.angle(G @ r.drive)), atol=1e-9)


def test_certify_any_drive(clarabel_case):
    G, amps, Mx, opt = clarabel_case
    rng = np.random.default_rng(0)
    random_drive = np.exp(2j * np.pi * rng.random(G.shape[1]))
    c = H.certify(G, amps, random_drive)
    assert c.lower_bound <= opt * (1 + 1e-7) and c.lower_bound >= opt * (1 - 1e-5)
    u = np.exp(1j * np.angle(G @ random_drive))
    assert np.isclose(c.rounded_objective, np.real(u.conj() @ Mx @ u), rtol=1e-8)
    best = H.sdp(G, amps, tol=1e-10, max_iter=5000)
    assert c.gap > 10 * best.gap  # random phases are far from the optimum; the SDP is not
    assert best.gap < 1e-2
    with pytest.raises(ValueError, match="drive has 3 entries"):
        H.certify(G, amps, np.ones(3))
    # without a certificate the fields say so
    r = H.gs(G, amps, certificate=False)
    assert np.isnan(r.lower_bound) and np.isnan(r.gap)


def test_certificate_of_one_focus_is_exact(dev):
    # one focus: every phase is optimal, u^H M u = M_11 = the bound
    G = H.transfer_matrix(dev, [CENTER])
    for method in ("naive", "greedy", "sdp"):
        r = getattr(H, method)(G, 5e3)
        assert np.isclose(r.rounded_objective, r.lower_bound, rtol=1e-9)
        assert r.gap <= 1e-9


# ------------------------------------------------------------------------------ sequences


def moving(F, m, mm_per_frame=0.3, seed=0):
    """m foci on a ring turning about the array centre, one frame per step."""
    turn = mm_per_frame / 40.0
    return np.stack([ring(m, turn=turn * f) for f in range(F)])


@pytest.mark.parametrize("method", ALL)
def test_sequence_cold_equals_workspace(dev, method):
    foci = moving(4, 5, mm_per_frame=3.0)
    amps = np.full(5, 4e3)
    seq = H.HologramSequence(dev, 5, method=method, warm_start=False, random_state=2)
    ws = H.Workspace(dev, 5, method=method, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = seq.solve(foci, amps)
        for f in range(4):  # the same kernels, compiled inside the frame loop: to rounding
            ws.solve(foci[f], amps)
            np.testing.assert_allclose(res.drive[f], ws.drive, atol=1e-11)
            np.testing.assert_allclose(res.focal_pressure[f], ws.focal_pressure, rtol=1e-11)
    np.testing.assert_array_equal(res.max_step, 0.0)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("levels", [None, 256])
def test_sequence_phase_steps_never_exceed_the_bound(dev, method, levels):
    F, m, bound = 12, 6, 0.4
    foci = moving(F, m, mm_per_frame=2.0)  # fast enough that the bound has work to do
    seq = H.HologramSequence(dev, m, method=method, max_phase_step=bound, phase_levels=levels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = seq.solve(foci, 4e3)
    steps = np.abs(nv.wrapped(np.diff(res.phase, axis=0)))
    assert steps.max() <= bound + 1e-12
    np.testing.assert_allclose(res.max_step[1:], steps.max(axis=1), atol=1e-12)
    assert res.max_step[0] == 0.0 and res.clipped.sum() > 0
    if levels:
        k = res.phase * levels / (2 * np.pi)
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    # focal pressures are those of the bounded drives
    for f in (0, F - 1):
        G = H.transfer_matrix(dev, foci[f])
        np.testing.assert_allclose(res.focal_pressure[f], np.abs(G @ res.drive[f]), rtol=1e-12)


def test_sequence_global_phase_alignment_is_free(dev):
    # the bound first turns the new hologram by the best global phase: |G q| unchanged.
    # Cold SDP frames come out with arbitrary global phases (that of an eigenvector).
    foci = moving(6, 4, mm_per_frame=0.2)
    free = H.HologramSequence(dev, 4, warm_start=False).solve(foci, 4e3)
    aligned = H.HologramSequence(dev, 4, warm_start=False, max_phase_step=10.0).solve(foci, 4e3)
    np.testing.assert_allclose(aligned.focal_pressure, free.focal_pressure, rtol=1e-9)
    assert aligned.clipped.sum() == 0

    def weighted_step(r):
        steps = np.abs(nv.wrapped(np.diff(r.phase, axis=0)))
        return (r.amplitude[1:] * steps).sum(axis=1) / r.amplitude[1:].sum(axis=1)

    assert np.all(weighted_step(aligned) < 0.7 * weighted_step(free))
    assert weighted_step(aligned).max() < 0.06


def test_sequence_warm_start_saves_sweeps_and_continues_across_calls(dev):
    foci = moving(20, 8, mm_per_frame=0.2)
    amps = np.full(8, 4e3)
    warm = H.HologramSequence(dev, 8).solve(foci, amps)
    cold = H.HologramSequence(dev, 8, warm_start=False).solve(foci, amps)
    assert warm.converged and cold.converged
    assert warm.n_iter[1:].mean() < 0.7 * cold.n_iter[1:].mean()
    np.testing.assert_allclose(warm.focal_pressure, cold.focal_pressure, rtol=1e-2)
    # two calls continue where the first stopped: the same as one call
    seq = H.HologramSequence(dev, 8)
    first, second = seq.solve(foci[:12], amps), seq.solve(foci[12:], amps)
    np.testing.assert_array_equal(np.vstack([first.phase, second.phase]), warm.phase)
    seq.reset()
    np.testing.assert_array_equal(seq.solve(foci[:3], amps).phase, warm.phase[:3])


def test_sequence_warm_budget(dev):
    foci = moving(10, 6, mm_per_frame=0.2)
    seq = H.HologramSequence(dev, 6, method="gs", warm_max_iter=10, tol=0.0)
    res = seq.solve(foci, 4e3)
    np.testing.assert_array_equal(res.n_iter, [100] + [10] * 9)
    # with GS's own stopping test, warm frames stop sooner than the cold one
    res = H.HologramSequence(dev, 6, method="gs").solve(foci, 4e3)
    assert res.converged and res.n_iter[1:].max() < res.n_iter[0]
    seq = H.HologramSequence(dev, 6, warm_max_iter=2, tol=0.0, max_iter=50)
    with pytest.warns(ConvergenceWarning, match="max_iter"):  # the cold frame 0 fails tol
        res = seq.solve(foci, 4e3)
    assert not res.frame_converged[1:].any() and res.n_iter[1:].max() == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warm frames stopped by their budget: no warning
        seq.solve(foci, 4e3)


def test_sequence_out_and_allocation(dev):
    foci = moving(16, 4, mm_per_frame=0.2)
    seq = H.HologramSequence(dev, 4, max_phase_step=0.5)
    out = seq.solve(foci, 4e3)
    seq.reset()
    kept = out.phase.copy()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        seq.reset()
        again = seq.solve(foci, 4e3, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert again is out and np.array_equal(out.phase, kept)
    # input checks only: nothing the size of the drives (16 x 249 doubles = 32 kB)
    assert peak - base < 8192
    with pytest.raises(ValueError, match="out.amplitude has shape"):
        seq.solve(foci[:3], 4e3, out=out)


def test_sequence_bad_input(dev):
    seq = H.HologramSequence(dev, 3)
    with pytest.raises(ValueError, match="frames, 3, 3"):
        seq.solve(np.zeros((5, 2, 3)), 1.0)
    with pytest.raises(ValueError, match="amplitudes"):
        seq.solve(moving(5, 3), np.ones(4))
    with pytest.raises(ValueError, match=">= 0"):
        seq.solve(moving(5, 3), -1.0)
    foci = moving(5, 3)
    foci[3, 1] = dev.positions[7]
    with pytest.raises(ValueError, match="r = 0"):
        seq.solve(foci, 1.0)
    with pytest.raises(ValueError, match="below one Greedy level"):
        H.HologramSequence(dev, 3, method="greedy", max_phase_step=0.2)
    with pytest.raises(ValueError, match="max_phase_step"):
        H.HologramSequence(dev, 3, max_phase_step=-1.0)


# ------------------------------------------------------------------------ sound-field maps


def test_pressure_field_physics(dev):
    one = H.transducer_array([[0.0, 0.0, 0.0]])
    pts = np.array([[0, 0, 50.0], [30.0, -20.0, 100.0], [5.0, 0.0, -40.0]])
    p = H.pressure_field(one, [0.5 * np.exp(0.7j)], pts)
    ref = nv.transfer_matrix_loops(one.positions, one.directions, pts)[:, 0]
    np.testing.assert_allclose(p, 0.5 * np.exp(0.7j) * ref, rtol=1e-12)
    # at the foci the field is G drive, for calibrated arrays too
    delta = np.linspace(0, 2, 249)
    foci = scattered(3, seed=8)
    r = H.sdp(H.transfer_matrix(dev, foci), 4e3, phase_offset=delta)
    p = H.pressure_field(dev, r.drive, foci, phase_offset=delta)
    np.testing.assert_allclose(np.abs(p), r.focal_pressure, rtol=1e-10)
    many = np.random.default_rng(0).uniform([0, 0, 50], [190, 150, 250], (700, 3))
    G = H.transfer_matrix(dev, many)
    p = H.pressure_field(dev, r.drive, many, phase_offset=delta)
    np.testing.assert_allclose(p, G @ (r.drive * np.exp(1j * delta)), rtol=1e-12)


def test_spl_convention():
    np.testing.assert_allclose(H.spl([1.0, 20e-6, 1000.0]), [93.9794, 0.0, 153.9794], atol=1e-4)
    assert H.spl(0.0) == -np.inf


def test_field_map_shows_the_focus(dev):
    focus = np.array([100.0, 70.0, 150.0])
    r = H.naive(H.transfer_matrix(dev, [focus]), 5e3)
    fm = H.field_map(dev, r.drive, offset=150.0, step=1.0)
    assert fm.pressure.shape == (fm.v.size, fm.u.size) == (152, 193)
    j, i = np.unravel_index(np.argmax(fm.amplitude), fm.amplitude.shape)
    assert abs(fm.u[i] - focus[0]) <= 1.0 and abs(fm.v[j] - focus[1]) <= 1.0
    assert np.isclose(fm.amplitude.max(), r.focal_pressure[0], rtol=5e-3)
    np.testing.assert_allclose(fm.spl, H.spl(fm.pressure))
    side = H.field_map(dev, r.drive, plane="xz", offset=70.0, u_range=(0, 192), v_range=(20, 300))
    j, i = np.unravel_index(np.argmax(side.amplitude), side.amplitude.shape)
    assert abs(side.u[i] - 100.0) <= 2 and abs(side.v[j] - 150.0) <= 25  # elongated along z
    with pytest.raises(ValueError, match="plane"):
        H.field_map(dev, r.drive, plane="xx")
    with pytest.raises(ValueError, match="drive has 2 entries"):
        H.pressure_field(dev, [1, 1], [[0, 0, 100.0]])
    with pytest.raises(ValueError, match="r = 0"):
        H.pressure_field(dev, r.drive, dev.positions[:2])


def test_plot_field(dev):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    r = H.naive(H.transfer_matrix(dev, [[90.0, 70.0, 150.0]]), 5e3)
    fm = H.field_map(dev, r.drive, step=4.0)
    ax = fm.plot(db=True, foci=[[90.0, 70.0, 150.0]])
    assert ax.get_xlabel() == "x (mm)" and len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), fm.spl)


def test_sequence_refuses_a_concurrent_solve(dev):
    from fastrpca._core.concurrency import InUseError

    seq = H.HologramSequence(dev, 2)
    foci = moving(3, 2)
    with seq._in_use:  # as if another thread were inside solve
        with pytest.raises(InUseError, match="HologramSequence"):
            seq.solve(foci, 4e3)
    assert seq.solve(foci, 4e3).phase.shape == (3, 249)  # free again


def test_sequence_warning_points_at_the_callers_line(dev):
    seq = H.HologramSequence(dev, 4, max_iter=1, tol=0.0)
    with pytest.warns(ConvergenceWarning) as record:
        seq.solve(moving(2, 4), 4e3)
    assert len(record) == 1 and record[0].filename == __file__


@pytest.mark.parametrize("method", ["sdp", "naive", "gs", "gspat"])
def test_workspace_n_iter_is_the_results(dev, method):
    # Workspace.n_iter once read 0 for naive while its HoloResult (and a sequence) said 1
    ws = H.Workspace(dev, 4, method=method)
    ws.solve(ring(4), np.full(4, 4e3))
    assert ws.n_iter == ws.result(certificate=False).n_iter >= 1
