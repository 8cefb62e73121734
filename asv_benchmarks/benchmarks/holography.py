"""asv benchmarks for fastrpca.phasecut and fastrpca.holography (JIT warmed in setup).

Sizes follow ANCHORS section 2: one AUTD3 device with 4, 16, 32 foci and four devices
with 64 foci, foci at z = 150 mm. Stages: transfer matrix, Tikhonov SDP matrix (Gram +
Cholesky inverse), PhaseCut (low-rank and full BCD), rounding, end-to-end per method
(SDP, GS-PAT, naive, GS, LM, Greedy), the certificate, the device's phase levels and
calibration, hologram sequences (warm against cold), sound-field maps.
"""

import warnings

import numpy as np

from fastrpca import holography as H
from fastrpca.holography._kernels import acoustics as ak
from fastrpca.holography._kernels import phasecut as pk
from fastrpca.holography.maxcut import default_rank, phasecut

CASES = ["1x4", "1x16", "1x32", "4x64"]
ORIGINS = [[0.0, 0.0, 0.0], [192.0, 0.0, 0.0], [0.0, 151.4, 0.0], [192.0, 151.4, 0.0]]


def _case(case, seed=0):
    ndev, m = map(int, case.split("x"))
    arr = H.autd3(ORIGINS[:ndev])
    rng = np.random.default_rng(seed + m)
    w, h = (384.0, 302.8) if ndev == 4 else (192.0, 151.4)
    foci = np.c_[rng.uniform(10, w - 10, m), rng.uniform(10, h - 10, m), np.full(m, 150.0)]
    return arr, foci, np.full(m, 5e3)


def _sdp_matrix(G, amps, alpha=1e-3):
    m = G.shape[0]
    A = np.linalg.inv(G @ G.conj().T + alpha**2 * np.eye(m))
    M = alpha**2 * amps[:, None] * A * amps[None, :]
    return (M + M.conj().T) / 2


class Stages:
    """Each stage of the SDP pipeline on its own."""

    params = CASES
    param_names = ["devices_x_foci"]

    def setup(self, case):
        H._warmup()
        self.arr, self.foci, self.amps = _case(case)
        m = len(self.amps)
        self.G = H.transfer_matrix(self.arr, self.foci)
        self.A = np.empty((m, m), complex)
        self.L = np.empty((m, m), complex)
        self.Ainv = np.empty((m, m), complex)
        self.M = _sdp_matrix(self.G, self.amps)
        k = default_rank(m)
        self.W0 = np.empty((k, m), complex)
        pk.random_rows(self.W0, np.array([1], np.uint64))
        self.W = self.W0.copy()
        self.bufs = [np.empty(m, complex) for _ in range(2)] + [
            np.empty(k, complex) for _ in range(2)
        ]
        self.hist = np.zeros(1000)
        self.X = phasecut(self.M, random_state=0).X
        self.u = np.empty(m, complex)
        self.floor = 1e-8 * m * np.linalg.norm(self.M)

    def time_transfer_matrix(self, case):
        H.transfer_matrix(self.arr, self.foci, out=self.G)

    def time_gram_and_inverse(self, case):
        ak.gram(self.G, 1e-6, self.A)
        ak.cholesky_inverse(self.A, self.L, self.Ainv)

    def time_phasecut_sweeps(self, case):
        self.W[...] = self.W0
        m, h = self.bufs[0], self.bufs[2]
        pk.lowrank_sweeps(
            self.M, self.W, 0.8, 1000, 1e-6, self.floor, m, h, self.bufs[3], self.hist
        )

    def time_rounding(self, case):
        pk.round_unit(self.X, self.M, self.bufs[0], self.bufs[1], self.u, 1000, 1e-12)


class PhaseCut:
    """The general solver on holography matrices: low-rank (default) vs full BCD."""

    params = (CASES, ["lowrank", "bcd"])
    param_names = ["devices_x_foci", "method"]
    timeout = 120

    def setup(self, case, method):
        H._warmup()
        arr, foci, amps = _case(case)
        self.M = _sdp_matrix(H.transfer_matrix(arr, foci), amps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fstar = phasecut(self.M, tol=1e-13, max_iter=20000, random_state=0).objective

    def time_phasecut(self, case, method):
        phasecut(self.M, method=method, random_state=0, certificate=False)

    def track_objective_gap(self, case, method):
        r = phasecut(self.M, method=method, random_state=0, certificate=False)
        return (r.objective - self.fstar) / self.fstar

    def track_sweeps(self, case, method):
        return phasecut(self.M, method=method, random_state=0, certificate=False).n_iter

    track_objective_gap.unit = "relative gap"
    track_sweeps.unit = "sweeps"


class EndToEnd:
    """Foci + amplitudes -> drives through a reused Workspace (the real-time path)."""

    params = (CASES, ["sdp", "gspat", "naive", "gs", "lm", "greedy"])
    param_names = ["devices_x_foci", "method"]

    def setup(self, case, method):
        H._warmup()
        warnings.simplefilter("ignore")  # LM's 5 iterations do not meet its tolerance
        self.arr, self.foci, self.amps = _case(case)
        # GS / GS-PAT: AUTD3's fixed 100 round trips (tol=0), as before their early stop
        fixed = {"tol": 0.0} if method in ("gs", "gspat") else {}
        self.ws = H.Workspace(self.arr, len(self.amps), method=method, random_state=0, **fixed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.ws.solve(self.foci, self.amps)

    def time_solve(self, case, method):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.ws.solve(self.foci, self.amps)

    def peakmem_solve(self, case, method):
        self.ws.solve(self.foci, self.amps)

    def time_one_call(self, case, method):
        fixed = {"tol": 0.0} if method in ("gs", "gspat") else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            H.compute(self.arr, self.foci, self.amps, method=method, random_state=0, **fixed)

    def time_one_call_no_certificate(self, case, method):
        fixed = {"tol": 0.0} if method in ("gs", "gspat") else {}
        H.compute(
            self.arr, self.foci, self.amps, method=method, random_state=0, certificate=False,
            **fixed,
        )  # fmt: skip

    def track_certified_gap(self, case, method):
        return float(self.ws.result().gap)

    track_certified_gap.unit = "relative gap"

    def track_focal_cv(self, case, method):
        p = self.ws.focal_pressure
        return float(p.std() / p.mean())

    def track_mean_focal_pressure(self, case, method):
        return float(self.ws.focal_pressure.mean())

    track_focal_cv.unit = "coefficient of variation"
    track_mean_focal_pressure.unit = "Pa"


class ColdStart:
    """Compile or cache-load of every holography kernel in a fresh process."""

    timeout = 600

    def timeraw_warmup(self):
        return "from fastrpca import holography; holography._warmup()"


class HardwareDrive:
    """The device's 256 phase levels and per-transducer calibration, on the SDP path."""

    params = CASES
    param_names = ["devices_x_foci"]

    def setup(self, case):
        H._warmup()
        self.arr, self.foci, self.amps = _case(case)
        delta = np.random.default_rng(0).uniform(-np.pi, np.pi, len(self.arr))
        m = len(self.amps)
        self.ws = H.Workspace(self.arr, m, phase_levels=256, phase_offset=delta, random_state=0)
        self.ws.solve(self.foci, self.amps)
        self.free = H.Workspace(self.arr, m, phase_offset=delta, random_state=0)
        self.free.solve(self.foci, self.amps)

    def time_solve_256_levels_calibrated(self, case):
        self.ws.solve(self.foci, self.amps)

    def track_focal_pressure_lost_to_256_levels(self, case):
        return float(1 - self.ws.focal_pressure.mean() / self.free.focal_pressure.mean())

    track_focal_pressure_lost_to_256_levels.unit = "fraction"


class Certificate:
    """The SDP dual bound for any drive (here naive back-propagation)."""

    params = CASES
    param_names = ["devices_x_foci"]

    def setup(self, case):
        H._warmup()
        arr, foci, self.amps = _case(case)
        self.G = H.transfer_matrix(arr, foci)
        self.drive = H.naive(self.G, self.amps, certificate=False).drive
        H.certify(self.G, self.amps, self.drive)

    def time_certify(self, case):
        H.certify(self.G, self.amps, self.drive)


def _moving_ring(F, m, mm_per_frame=0.2, radius=40.0):
    turn = mm_per_frame / radius * np.arange(F)[:, None]
    ang = 2 * np.pi * np.arange(m)[None, :] / m + turn
    return np.stack(
        [96.0 + radius * np.cos(ang), 75.7 + radius * np.sin(ang), np.full((F, m), 150.0)], -1
    )


class Sequence:
    """100 frames of 16 foci turning on a ring (0.2 mm per frame), one AUTD3 device:
    HologramSequence (warm starts, phase steps bounded by 0.5 rad) against cold
    Workspace solves frame by frame. Times are per call of 100 frames.

    ``time_warm_sequence_one_iteration`` (one sweep / round trip / iteration per warm
    frame) is the floor no warm start can go below: the transfer matrix, the method's
    per-frame set-up (SDP: Gram matrix, Cholesky, M), rounding, constraint, phase bound
    and focal pressures; ``naive`` is the part every method pays."""

    params = ["sdp", "gs", "gspat", "lm", "greedy", "naive"]
    param_names = ["method"]
    BUDGET = {"sdp": 3, "gs": 20, "gspat": 10, "lm": 2, "greedy": 1, "naive": 1}

    def setup(self, method):
        H._warmup()
        warnings.simplefilter("ignore")
        self.arr = H.autd3()
        self.foci = _moving_ring(100, 16)
        self.amps = np.full(16, 5e3)
        self.ws = H.Workspace(self.arr, 16, method=method, random_state=0)
        self.warm = H.HologramSequence(self.arr, 16, method=method, max_phase_step=0.5)
        self.budget = H.HologramSequence(
            self.arr, 16, method=method, max_phase_step=0.5, warm_max_iter=self.BUDGET[method]
        )
        self.one = H.HologramSequence(
            self.arr, 16, method=method, max_phase_step=0.5, warm_max_iter=1
        )
        self.out = self.warm.solve(self.foci, self.amps)
        self.out_b = self.budget.solve(self.foci, self.amps)
        self.out_1 = self.one.solve(self.foci, self.amps)
        self.ws.solve(self.foci[0], self.amps)

    def time_cold_frames(self, method):
        for f in range(100):
            self.ws.solve(self.foci[f], self.amps)

    def time_warm_sequence(self, method):
        self.warm.reset()
        self.warm.solve(self.foci, self.amps, out=self.out)

    def time_warm_sequence_budget(self, method):
        self.budget.reset()
        self.budget.solve(self.foci, self.amps, out=self.out_b)

    def time_warm_sequence_one_iteration(self, method):
        self.one.reset()
        self.one.solve(self.foci, self.amps, out=self.out_1)

    def peakmem_warm_sequence(self, method):
        self.warm.reset()
        self.warm.solve(self.foci, self.amps, out=self.out)

    def track_min_focal_pressure_budget(self, method):
        self.budget.reset()
        return float(self.budget.solve(self.foci, self.amps).focal_pressure.min())

    def track_largest_phase_step(self, method):
        self.warm.reset()
        return float(self.warm.solve(self.foci, self.amps).max_step.max())

    def track_mean_iterations_warm(self, method):
        self.warm.reset()
        return float(self.warm.solve(self.foci, self.amps).n_iter[1:].mean())

    def track_mean_iterations_cold(self, method):
        its = []
        for f in range(100):
            self.ws.solve(self.foci[f], self.amps)
            its.append(self.ws.n_iter)
        return float(np.mean(its))

    track_min_focal_pressure_budget.unit = "Pa"
    track_largest_phase_step.unit = "rad"
    track_mean_iterations_warm.unit = "iterations"
    track_mean_iterations_cold.unit = "iterations"


class FieldMap:
    """Pressure of a 4-focus SDP hologram on the z = 150 mm plane, 1 mm grid (193 x 152)."""

    def setup(self):
        H._warmup()
        self.arr, foci, amps = _case("1x4")
        self.drive = H.sdp(H.transfer_matrix(self.arr, foci), amps, certificate=False).drive
        H.field_map(self.arr, self.drive, step=8.0)

    def time_field_map(self):
        H.field_map(self.arr, self.drive, step=1.0)

    def peakmem_field_map(self):
        H.field_map(self.arr, self.drive, step=1.0)
