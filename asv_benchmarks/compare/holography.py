"""Side by side: fastrpca.holography against pyautd3 26.0.0.1 (SDP, GSPAT, Naive, GS, LM,
Greedy), and hologram sequences against solving every frame cold.

Cases (ANCHORS section 2): one AUTD3 device with 2, 4, 8, 16, 32 foci and four devices
(2 x 2) with 64 foci, foci scattered over the array footprint at z = 150 mm, 5 kPa each.
Constraints: Normalize on both sides for SDP / GSPAT / Naive / GS; LM and Greedy keep
AUTD3's defaults (Clamp(0, 255), Uniform(255): every transducer at full amplitude, which
fastrpca's Normalize gives too) and fastrpca rounds their phases to the device's 256
levels as pyautd3's u8 output does. End-to-end latency: foci + amplitudes -> drives,
with the transfer matrix recomputed every call (fastrpca: ``Workspace.solve``; pyautd3:
building the gain and ``AUTDGainCalc`` on a Nop-link geometry, drives copied out).

Directivity: both sides use the T4010A1 model (pyautd3 through its T4010A1 backend and
gain functions of its C API; ``--autd3-directivity sphere`` runs pyautd3's Python-level
default, ``NalgebraBackend()``, which is the omnidirectional model, while fastrpca and
the pressures below stay T4010A1). Greedy draws its order unseeded in pyautd3: its focal
pressures are means over ``--greedy-samples`` calls (fastrpca: as many seeds).

pyautd3 needs numpy < 2, so it runs in its own venv (``/work/venv-autd3``, override with
``--autd3-python``; create it with ``python3 -m venv /work/venv-autd3 &&
/work/venv-autd3/bin/pip install "numpy<2" pyautd3==26.0.0.1``) as a persistent worker
process driven over pipes, so that timing is still interleaved round by round. Without
it the pyautd3 columns are left empty with a note. One thread each (BLAS, rayon, numba).

Focal uniformity: |G q| at the foci from fastrpca's G for both sides' drives (pyautd3's
u8 intensity / 255 and phase * 2 pi / 256, same exp(-ikr) convention), as a coefficient
of variation. SDP accuracy: relaxed objective gap (f - f*) / f*, f* from phasecut at
tol = 1e-13 (its dual certificate is printed too); pyautd3 does not expose its relaxed X,
so its gap is that of a NumPy transcription of its loop (lambda = 0.9, 100 random single
updates) on the exact M.

LM check: a NumPy transcription of pyautd3's LM (``tests/naive/holography.py``,
``lm_autd3_style``) is run on the same G; the largest difference from pyautd3's phases,
in its 256 levels, is printed (pyautd3 computes in f32).

Sequences (``--sequence``, fastrpca only, pyautd3 has no sequence solver: its FociSTM /
GainSTM play holograms computed one by one): F frames of m foci on a ring turning about
the array centre, per-frame time of ``HologramSequence`` (warm starts, phase-step bound)
against ``Workspace.solve`` per frame (cold), with the quality of both: mean and minimum
focal pressure, median certified gap, largest phase step.

Run: ``python -m asv_benchmarks.compare.holography [--rounds 7] [--quick] [--sequence]``.
"""

from __future__ import annotations

import os

for _v in "OMP OPENBLAS MKL RAYON NUMBA".split():
    os.environ.setdefault(f"{_v}_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from statistics import median  # noqa: E402

import numpy as np  # noqa: E402

try:
    from ._timing import fmt_seconds, markdown_table  # noqa: E402
except ImportError:  # run as a script
    from _timing import fmt_seconds, markdown_table  # noqa: E402

from fastrpca import holography as H  # noqa: E402
from fastrpca.holography.maxcut import phasecut  # noqa: E402

METHODS = ("sdp", "gspat", "naive", "gs", "lm", "greedy")
AUTD3_NAMES = {
    "sdp": "SDP",
    "gspat": "GSPAT",
    "naive": "Naive",
    "gs": "GS",
    "lm": "LM",
    "greedy": "Greedy",
}
#: fastrpca options per method in the side by side: GS / GS-PAT do AUTD3's fixed 100 round
#: trips (tol=0), not our early stop; LM / Greedy round to the device's 256 phase levels
OURS = {
    "gs": dict(tol=0.0),
    "gspat": dict(tol=0.0),
    "lm": dict(phase_levels=256),
    "greedy": dict(phase_levels=256),
}
ORIGINS = [[0.0, 0.0, 0.0], [192.0, 0.0, 0.0], [0.0, 151.4, 0.0], [192.0, 151.4, 0.0]]
CASES = [(1, 2), (1, 4), (1, 8), (1, 16), (1, 32), (4, 64)]
AMPLITUDE = 5e3

WORKER = r"""
import json, sys, time, ctypes
import numpy as np
from pyautd3 import AUTD3, Controller
from pyautd3.link.nop import Nop
from pyautd3.gain.holo import EmissionConstraint as EC
from pyautd3.native_methods.autd3capi import NativeMethods as Base
from pyautd3.native_methods.autd3capi_gain_holo import NativeMethods as GH
from pyautd3.native_methods.autd3capi_driver import Drive
from pyautd3.native_methods.structs import Vector3
from pyautd3.native_methods.utils import _validate_ptr
DIRECTIVITY = sys.argv[1]
if DIRECTIVITY == "t4010a1":
    backend = GH().nalgebra_backend_t_4010_a_1()
    F = dict(SDP=GH().gain_holo_sdpt_4010_a_1, GS=GH().gain_holo_gst_4010_a_1,
             GSPAT=GH().gain_holo_gspatt_4010_a_1, Naive=GH().gain_holo_naive_t_4010_a_1,
             LM=GH().gain_holo_lmt_4010_a_1, Greedy=GH().gain_holo_greedy_t_4010_a_1)
else:
    backend = GH().nalgebra_backend_sphere()
    F = dict(SDP=GH().gain_holo_sdp_sphere, GS=GH().gain_holo_gs_sphere,
             GSPAT=GH().gain_holo_gspat_sphere, Naive=GH().gain_holo_naive_sphere,
             LM=GH().gain_holo_lm_sphere, Greedy=GH().gain_holo_greedy_sphere)
ctrls = {}
def geometry(origins):
    key = json.dumps(origins)
    if key not in ctrls:
        ctrls[key] = Controller.builder([AUTD3(o) for o in origins]).open(Nop.builder())
    return ctrls[key].geometry
def gain(name, foci, amps):
    # pyautd3 26.0.0.1's defaults (its gain classes): SDP alpha 1e-3, lambda 0.9, 100
    # updates; GS / GSPAT 100 repeats; LM eps1 = eps2 = 1e-8, tau 1e-3, k_max 5; Greedy 16
    f = np.fromiter((np.void(Vector3(d)) for d in foci), dtype=Vector3)
    a = np.array(amps, dtype=ctypes.c_float)
    fp = f.ctypes.data_as(ctypes.POINTER(Vector3))
    ap = a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    n = len(a)
    if name == "SDP":
        return F[name](backend, fp, ap, n, 1e-3, 0.9, 100, EC.Normalize), (f, a)
    if name in ("GS", "GSPAT"):
        return F[name](backend, fp, ap, n, 100, EC.Normalize), (f, a)
    if name == "Naive":
        return F[name](backend, fp, ap, n, EC.Normalize), (f, a)
    if name == "LM":
        return F[name](backend, fp, ap, n, 1e-8, 1e-8, 1e-3, 5, None, 0, EC.Clamp(0, 255)), (f, a)
    return F[name](fp, ap, n, 16, EC.Uniform(255)), (f, a)
def calc(name, foci, amps, g):
    ptr, keep = gain(name, foci, amps)
    res = _validate_ptr(Base().gain_calc(ptr, g._geometry_ptr()))
    out = []
    for dev in g.devices:
        d = np.zeros(dev.num_transducers, dtype=Drive)
        Base().gain_calc_get_result(res, d.ctypes.data_as(ctypes.POINTER(Drive)), dev._ptr)
        out.append(d)
    Base().gain_calc_free_result(res)
    return np.concatenate(out)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    g = geometry(req["origins"])
    frames = req.get("frames") or [req["foci"]]
    amps = req["amps"]
    d = calc(req["method"], [np.array(f) for f in frames[0]], amps, g)  # untimed first call
    n = req["repeat"]
    t = time.perf_counter()
    for _ in range(n):
        for foci in frames:
            d = calc(req["method"], [np.array(f) for f in foci], amps, g)
    dt = (time.perf_counter() - t) / n / len(frames)
    samples = [d] + [calc(req["method"], [np.array(f) for f in frames[-1]], amps, g)
                     for _ in range(req.get("samples", 1) - 1)]
    print(json.dumps({"time": dt,
                      "intensity": [s["intensity"].tolist() for s in samples],
                      "phase": [s["phase"].tolist() for s in samples]}), flush=True)
"""


class Autd3Worker:
    """pyautd3 in its own interpreter, one JSON request per line."""

    def __init__(self, python: str, directivity: str = "t4010a1"):
        self.proc = subprocess.Popen(
            [python, "-c", WORKER, directivity],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": ""},
        )
        first = self.proc.stdout.readline()
        if not first or not json.loads(first).get("ready"):
            raise RuntimeError("pyautd3 worker did not start")

    def run(self, method, origins, foci, amps, repeat, samples=1, frames=None):
        req = dict(
            method=AUTD3_NAMES[method],
            origins=origins,
            foci=foci.tolist(),
            amps=list(map(float, amps)),
            repeat=repeat,
            samples=samples,
            frames=None if frames is None else frames.tolist(),
        )
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("pyautd3 worker died")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def foci_for(ndev, m, seed=0):
    rng = np.random.default_rng(seed + 1000 * ndev + m)
    w = 192.0 * (2 if ndev == 4 else 1)
    h = 151.4 * (2 if ndev == 4 else 1)
    return np.c_[rng.uniform(10, w - 10, m), rng.uniform(10, h - 10, m), np.full(m, 150.0)]


def cv(p):
    return float(np.std(p) / np.mean(p))


def repeat_for(seconds):
    return max(1, int(0.05 / max(seconds, 1e-7)))


def time_ours(ws, foci, amps, repeat):
    t = time.perf_counter()
    for _ in range(repeat):
        ws.solve(foci, amps)
    return (time.perf_counter() - t) / repeat


def sdp_gaps(arr, foci, amps, sweeps_seed=0):
    """(fastrpca gap, sweeps, certificate, AUTD3-style gap) for one case."""
    import importlib.util

    G = H.transfer_matrix(arr, foci)
    m = G.shape[0]
    M = 1e-6 * np.diag(amps) @ np.linalg.inv(G @ G.conj().T + 1e-6 * np.eye(m)) @ np.diag(amps)
    M = (M + M.conj().T) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = phasecut(M, tol=1e-13, max_iter=20000, random_state=0)
    fstar = ref.objective
    r = H.sdp(G, amps, random_state=sweeps_seed)
    gap = (r.objective - fstar) / fstar
    spec = importlib.util.find_spec("naive")
    if spec is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from naive.holography import autd3_style_bcd

    gaps = []
    for seed in range(5):
        X = autd3_style_bcd(M, seed=seed)
        gaps.append((np.real(np.trace(M @ X)) - fstar) / fstar)
    return gap, r.n_iter, ref.gap_bound, float(np.median(gaps))


def _naive_module():
    import importlib.util

    if importlib.util.find_spec("naive") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from naive import holography as nv

    return nv


def autd3_drive(out, k=0):
    """Complex drive from pyautd3's u8 intensity / phase (the exp(-ikr) convention)."""
    return (
        np.array(out["intensity"][k])
        / 255
        * np.exp(1j * 2 * np.pi * np.array(out["phase"][k]) / 256)
    )


def quality(G, amps, drives):
    """(mean focal Pa as text, with its standard error over several drives (Greedy), CV,
    certified gap, mean focal Pa) averaged over the drives."""
    ps = [np.abs(G @ q) for q in drives]
    gaps = [H.certify(G, amps, q).gap for q in drives]
    means = np.array([p.mean() for p in ps])
    text = f"{means.mean():.0f}"
    if len(drives) > 1:
        text += f" +- {means.std(ddof=1) / np.sqrt(len(drives)):.0f}"
    return text, float(np.mean([cv(p) for p in ps])), float(np.mean(gaps)), means.mean()


def side_by_side(args, worker, methods, cases, rounds):
    rows, gap_rows, notes = [], [], []
    nv = _naive_module()
    for ndev, m in cases:
        origins = ORIGINS[:ndev]
        arr = H.autd3(origins)
        foci = foci_for(ndev, m)
        amps = np.full(m, AMPLITUDE)
        ours, theirs, drives_theirs = {}, {}, {}
        wss = {
            meth: H.Workspace(arr, m, method=meth, random_state=0, **OURS.get(meth, {}))
            for meth in methods
        }
        reps = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LM's 5 iterations never meet its tolerance
            for meth in methods:
                wss[meth].solve(foci, amps)
                reps[meth] = repeat_for(time_ours(wss[meth], foci, amps, 1))
            for _ in range(rounds):
                for meth in methods:
                    ours.setdefault(meth, []).append(time_ours(wss[meth], foci, amps, reps[meth]))
                    if worker is not None:
                        rep = theirs.get(meth, [None])[0]
                        out = worker.run(
                            meth,
                            origins,
                            foci,
                            amps,
                            repeat_for(rep) if rep is not None else 1,
                            samples=args.greedy_samples if meth == "greedy" else 1,
                        )
                        theirs.setdefault(meth, []).append(out["time"])
                        drives_theirs[meth] = out
        G = H.transfer_matrix(arr, foci)
        warnings.simplefilter("ignore")  # LM's 5 iterations never meet its tolerance
        for meth in methods:
            if meth == "greedy":
                drives = []
                for seed in range(args.greedy_samples):
                    w = H.Workspace(arr, m, method=meth, random_state=seed, **OURS[meth])
                    w.solve(foci, amps)
                    drives.append(w.drive.copy())
            else:
                wss[meth].solve(foci, amps)
                drives = [wss[meth].drive.copy()]
            s_o, cv_o, gap_o, p_o = quality(G, amps, drives)
            t_o = median(ours[meth])
            row = [f"{ndev} x {m}", meth, fmt_seconds(t_o)]
            if worker is not None:
                d = drives_theirs[meth]
                s_t, cv_t, gap_t, p_t = quality(
                    G, amps, [autd3_drive(d, k) for k in range(len(d["phase"]))]
                )
                t_t = median(theirs[meth])
                row += [fmt_seconds(t_t), f"{t_o / t_t:.3f}", s_o, s_t]
                row += [f"{p_o / p_t:.3f}", f"{cv_o:.2g}", f"{cv_t:.2g}"]
                row += [f"{gap_o:.2g}", f"{gap_t:.2g}"]
                if meth == "lm" and args.autd3_directivity == "t4010a1":
                    x = nv.lm_autd3_style(G, amps)[: G.shape[1]]
                    lv = np.round(np.mod(x, 2 * np.pi) * 256 / (2 * np.pi)) % 256
                    diff = np.abs((lv - np.array(d["phase"][0]) + 128) % 256 - 128)
                    notes.append(
                        f"{ndev} x {m}: NumPy transcription of pyautd3's LM vs pyautd3: "
                        f"phases differ by at most {diff.max():.0f} of 256 levels "
                        f"(median {np.median(diff):.0f})"
                    )
            else:
                row += ["-", "-", s_o, "-", "-", f"{cv_o:.2g}", "-", f"{gap_o:.2g}", "-"]
            rows.append(row)
        if "sdp" in methods:
            gap, sweeps, cert, gap_a = sdp_gaps(arr, foci, amps)
            gap_rows.append([f"{ndev} x {m}", f"{gap:.1e}", sweeps, f"{cert:.1e}", f"{gap_a:.1e}"])
    return rows, gap_rows, notes


#: per-frame iteration budgets of warm-started frames in the sequence table
WARM_BUDGET = {"sdp": 3, "gs": 20, "gspat": 10, "lm": 2, "greedy": 1, "naive": 1}


def moving_ring(F, m, mm_per_frame, radius=40.0, z=150.0):
    c = np.array([96.0, 75.7])
    turn = mm_per_frame / radius * np.arange(F)[:, None]
    ang = 2 * np.pi * np.arange(m)[None, :] / m + turn
    return np.stack(
        [c[0] + radius * np.cos(ang), c[1] + radius * np.sin(ang), np.full((F, m), z)], -1
    )


def sequence_rows(args, worker, methods, rounds):
    """Per-frame time and quality: cold Workspace solves against HologramSequence."""
    F, m, bound = args.frames, args.seq_foci, args.max_phase_step
    arr = H.autd3()
    foci = moving_ring(F, m, args.mm_per_frame)
    amps = np.full(m, AMPLITUDE)
    Gs = [H.transfer_matrix(arr, f) for f in foci]
    rows = []
    for meth in methods:
        ws = H.Workspace(arr, m, method=meth, random_state=0)
        warm = H.HologramSequence(arr, m, method=meth, max_phase_step=bound)
        budget = H.HologramSequence(
            arr, m, method=meth, max_phase_step=bound, warm_max_iter=WARM_BUDGET[meth]
        )
        # one iteration per warm frame: the floor of any warm start (what every frame
        # pays whatever its start point: transfer matrix, set-up, rounding, emission)
        one = H.HologramSequence(arr, m, method=meth, max_phase_step=bound, warm_max_iter=1)
        cold_phase = np.empty((F, len(arr)))
        cold_amp = np.empty((F, len(arr)))
        cold_iter = np.empty(F)

        def run_cold():
            for f in range(F):
                ws.solve(foci[f], amps)
                cold_phase[f] = ws.phase
                cold_amp[f] = ws.amplitude
                cold_iter[f] = ws.n_iter

        outs = {}

        def run(seq, key):
            seq.reset()
            outs[key] = seq.solve(foci, amps, out=outs.get(key))

        T = {"cold": [], "warm": [], "budget": [], "one": [], "pyautd3": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_cold(), run(warm, "warm"), run(budget, "budget"), run(one, "one")
            for _ in range(rounds):
                for key, fn in (
                    ("cold", run_cold),
                    ("warm", lambda: run(warm, "warm")),
                    ("budget", lambda: run(budget, "budget")),
                    ("one", lambda: run(one, "one")),
                ):
                    t = time.perf_counter()
                    fn()
                    T[key].append((time.perf_counter() - t) / F)
                if worker is not None:
                    out = worker.run(meth, [ORIGINS[0]], foci[0], amps, 1, frames=foci)
                    T["pyautd3"].append(out["time"])

        def stats(amp, phase):
            q = amp * np.exp(1j * phase)
            p = np.array([np.abs(G @ qq) for G, qq in zip(Gs, q)])
            idx = range(0, F, max(1, F // 20))  # certificates on every 5th frame or so
            gaps = [H.certify(Gs[f], amps, q[f]).gap for f in idx]
            step = np.abs((np.diff(phase, axis=0) + np.pi) % (2 * np.pi) - np.pi)
            return p.mean(), p.min(), float(np.median(gaps)), step.max()

        q_cold = stats(cold_amp, cold_phase)
        t_cold = median(T["cold"])
        pyautd3 = f"{median(T['pyautd3']) * 1e6:.0f} us" if T["pyautd3"] else "-"
        rows.append([meth, "cold (Workspace per frame)", fmt_seconds(t_cold), "1.00", pyautd3,
                     f"{cold_iter.mean():.1f}"]
                    + [f"{q_cold[0]:.0f}", f"{q_cold[1]:.0f}", f"{q_cold[2]:.2g}",
                       f"{q_cold[3]:.2f}", "-"])  # fmt: skip
        for key, label in (
            ("warm", "warm, each frame to tol"),
            ("budget", f"warm, budget {WARM_BUDGET[meth]} it / frame"),
            ("one", "warm, 1 it / frame (the floor)"),
        ):
            r = outs[key]
            qq = stats(r.amplitude, r.phase)
            t = median(T[key])
            rows.append([meth, label, fmt_seconds(t), f"{t_cold / t:.2f}", "",
                         f"{r.n_iter[1:].mean():.1f}"]
                        + [f"{qq[0]:.0f}", f"{qq[1]:.0f}", f"{qq[2]:.2g}", f"{qq[3]:.2f}",
                           f"{int(r.clipped.sum())}"])  # fmt: skip
    return rows


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 rounds, 1 device only")
    ap.add_argument("--autd3-python", default="/work/venv-autd3/bin/python")
    ap.add_argument("--autd3-directivity", choices=("t4010a1", "sphere"), default="t4010a1")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cases", default=None, help='e.g. "1x4,1x16,4x64"')
    ap.add_argument("--greedy-samples", type=int, default=5)
    ap.add_argument("--sequence", action="store_true", help="also the sequence table")
    ap.add_argument("--only-sequence", action="store_true")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seq-foci", type=int, default=16)
    ap.add_argument("--mm-per-frame", type=float, default=0.2)
    ap.add_argument("--max-phase-step", type=float, default=0.5)
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    cases = [c for c in CASES if not (args.quick and c[0] > 1)]
    if args.cases:
        want = {tuple(map(int, c.split("x"))) for c in args.cases.split(",")}
        cases = [c for c in CASES if c in want]
    methods = [mth for mth in args.methods.split(",") if mth]
    H._warmup()

    worker, note = None, ""
    if Path(args.autd3_python).exists():
        try:
            worker = Autd3Worker(args.autd3_python, args.autd3_directivity)
        except Exception as exc:  # pragma: no cover - depends on the machine
            note = f"pyautd3 worker failed to start ({exc}); its columns are empty."
    else:
        note = (
            f"pyautd3 not found at {args.autd3_python}; its columns are empty "
            f"(see the module docstring to install it)."
        )
    out = []
    if not args.only_sequence:
        rows, gap_rows, notes = side_by_side(args, worker, methods, cases, rounds)
        out += [
            markdown_table(
                [
                    "devices x foci",
                    "method",
                    "fastrpca",
                    f"pyautd3 26.0.0.1 ({args.autd3_directivity})",
                    "time ratio",
                    "mean Pa fastrpca",
                    "mean Pa pyautd3",
                    "Pa ratio",
                    "CV fastrpca",
                    "CV pyautd3",
                    "gap fastrpca",
                    "gap pyautd3",
                ],
                rows,
            )
        ]
        if gap_rows:
            out += [
                "",
                markdown_table(
                    [
                        "devices x foci",
                        "SDP gap fastrpca (default tol)",
                        "sweeps",
                        "reference dual certificate",
                        "AUTD3-style BCD gap (NumPy)",
                    ],
                    gap_rows,
                ),
            ]
        out += [""] + notes
    if args.sequence or args.only_sequence:
        rows = sequence_rows(args, worker, methods, rounds)
        out += [
            "",
            f"Sequences: {args.frames} frames of {args.seq_foci} foci turning on a 40 mm "
            f"ring, {args.mm_per_frame} mm per frame, phase steps bounded by "
            f"{args.max_phase_step} rad (gap: certified gap, median over frames)",
            "",
            markdown_table(
                [
                    "method",
                    "mode",
                    "per frame",
                    "speed-up",
                    "pyautd3 per frame",
                    "iterations / frame",
                    "mean Pa",
                    "min Pa",
                    "gap",
                    "largest step (rad)",
                    "phases bounded",
                ],
                rows,
            ),
        ]
    if worker is not None:
        worker.close()
    if note:
        out += ["", note]
    text = "\n".join(out)
    print(text)
    return text


if __name__ == "__main__":
    main()
