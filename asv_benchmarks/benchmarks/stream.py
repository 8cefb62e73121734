"""asv benchmarks for fastrpca.stream (JIT warmed in setup).

Planted drifting sequences (``tests/naive/stream.py``): rank-3 background turning by
0.3 rad over the sequence, 5% sparse anomalies. Time and peak memory per frame, and the
accuracy of the streaming split against the truth and against batch IALM on the same
frames, for the default method and for the basis-update variants the choice was made
against (see ``fastrpca/stream.py``).
"""

import sys
from pathlib import Path

import numpy as np

from fastrpca import rpca
from fastrpca.robust_pca.stream import StreamingRPCA, _warmup

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from naive.stream import drifting  # noqa: E402

SIDES = [64, 256]
N0 = 30


def _sequence(side, n_frames=80, drift=0.3, seed=0):
    return drifting((side, side), n_frames, 3, drift=drift, seed=seed)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


class ProcessFrame:
    """One ``process(frame)`` call on a fitted stream (the real-time step); frames cycle
    through 50 planted ones."""

    params = SIDES
    param_names = ["side"]

    def setup(self, side):
        _warmup()
        M, _, _ = _sequence(side)
        self.frames = M[N0:]
        self.stream = StreamingRPCA(rank=3).fit(M[:N0], random_state=0)
        self.out = (np.empty(M.shape[1:]), np.empty(M.shape[1:]))
        self.i = 0

    def time_process(self, side):
        self.stream.process(self.frames[self.i % len(self.frames)], out=self.out)
        self.i += 1

    def time_process_no_update(self, side):
        self.stream.process(self.frames[self.i % len(self.frames)], out=self.out, update=False)
        self.i += 1

    def peakmem_process_50_frames(self, side):
        for frame in self.frames:
            self.stream.process(frame, out=self.out)


class Fit:
    """Initialisation: batch rpca on 30 frames + weighted SVD."""

    params = SIDES
    param_names = ["side"]
    timeout = 300

    def setup(self, side):
        _warmup()
        self.M = _sequence(side, n_frames=N0)[0]

    def time_fit(self, side):
        StreamingRPCA(rank=3).fit(self.M, random_state=0)


class Accuracy:
    """Relative error of S (frames 31-200) against the truth and against batch IALM;
    ``drift`` in radians over the sequence; ``forget`` the stream's forgetting factor."""

    params = ([0.0, 0.3, 1.0], [0.8, 0.95])
    param_names = ["drift", "forget"]
    timeout = 300

    def setup_cache(self):
        out = {}
        for drift in self.params[0]:
            M, B0, S0 = _sequence(64, n_frames=200, drift=drift, seed=1)
            batch = rpca(M.reshape(len(M), -1).T, random_state=0)
            out[drift] = (M, B0, S0, batch.S.T.reshape(M.shape))
        return out

    def _run(self, cache, drift, forget, **options):
        M, B0, S0, S_batch = cache[drift]
        stream = StreamingRPCA(rank=3, forget=forget, **options).fit(M[:N0], random_state=0)
        S = np.empty_like(M[N0:])
        for t, frame in enumerate(M[N0:]):
            S[t] = stream.process(frame)[1]
        return S, S0[N0:], S_batch[N0:]

    def track_S_vs_truth(self, cache, drift, forget):
        S, S0, _ = self._run(cache, drift, forget)
        return _rel(S, S0)

    def track_S_vs_batch(self, cache, drift, forget):
        S, _, S_batch = self._run(cache, drift, forget)
        return _rel(S, S_batch)

    def track_S_vs_truth_reject_1(self, cache, drift, forget):
        # reject=1: every residual beyond the threshold is ignored by the basis update
        S, S0, _ = self._run(cache, drift, forget, reject=1.0)
        return _rel(S, S0)

    def track_batch_S_vs_truth(self, cache, drift, forget):
        _, S0, S_batch = self._run(cache, drift, forget)
        return _rel(S_batch, S0)

    def track_mean_inner_iterations(self, cache, drift, forget):
        M = cache[drift][0]
        stream = StreamingRPCA(rank=3, forget=forget).fit(M[:N0], random_state=0)
        stream.process(M[N0:])
        return float(stream.n_inner.mean())
