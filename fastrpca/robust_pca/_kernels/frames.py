"""Per-pixel anomaly score and mask of a frame stack, one pass, no temporaries.

For frames ``F`` and background ``B`` of shape (n, p, c) (p pixels, c channels; c = 1 for
grey), each pixel's score is the RMS over channels of the residual ``F - B`` and its mask
is ``score > values[bin]``, where ``bin`` is the pixel's background brightness (the mean
over channels) in ``len(values)`` equal bins starting at ``lo``, ``scale`` bins per unit
(``values`` of length 1 and ``scale = 0`` give a single fixed threshold).
"""

from __future__ import annotations

import numba

from ..._core.config import kernel


def _score_and_mask(F, B, lo, scale, values, score, mask):
    n, p, c = F.shape
    top = values.size - 1
    for t in numba.prange(n):
        for i in range(p):
            bright = 0.0
            if c == 1:
                bright = B[t, i, 0]
                s = abs(F[t, i, 0] - bright)
            else:
                # RMS relative to the largest residual: squares of tiny data underflow
                big = 0.0
                for ch in range(c):
                    big = max(big, abs(F[t, i, ch] - B[t, i, ch]))
                    bright += B[t, i, ch]
                bright /= c
                acc = 0.0
                if big > 0:
                    for ch in range(c):
                        r = (F[t, i, ch] - B[t, i, ch]) / big
                        acc += r * r
                s = big * (acc / c) ** 0.5
            k = int((bright - lo) * scale)
            k = min(max(k, 0), top)
            score[t, i] = s
            mask[t, i] = s > values[k]


score_and_mask = kernel(_score_and_mask)
score_and_mask_parallel = kernel(_score_and_mask, parallel=True)
