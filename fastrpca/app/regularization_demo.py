"""L1 versus L2 regularisation: why the soft threshold reaches exactly zero.

The seed notes' experiment: minimise f(x) = 1/2 (x - 0)^2 from x0 = 1.5 by

* a proximal gradient (ISTA) step for f + lam |x|:
  x <- soft_threshold(x - lr f'(x), lr lam), which lands on 0 after finitely many steps
  and stays there (the L1 pull lr lam does not fade as x shrinks);
* a gradient step for f + lam x^2: x <- x - lr (f'(x) + 2 lam x) = (1 - lr (1 + 2 lam)) x,
  a geometric sequence that only approaches 0 (the L2 pull 2 lam x fades with x).
"""

from __future__ import annotations

import numpy as np


def trajectories(
    x0: float = 1.5, lr: float = 0.1, lam: float = 0.2, iterations: int = 50, target: float = 0.0
) -> dict[str, np.ndarray]:
    """The iterates of both updates (length ``iterations + 1``, starting at ``x0``)."""
    from ..sparse.prox import soft_threshold

    l1 = np.empty(iterations + 1)
    l2 = np.empty(iterations + 1)
    l1[0] = l2[0] = x0
    for k in range(iterations):
        l1[k + 1] = soft_threshold(np.array([l1[k] - lr * (l1[k] - target)]), lr * lam)[0]
        l2[k + 1] = l2[k] - lr * ((l2[k] - target) + 2 * lam * l2[k])
    return {"l1": l1, "l2": l2}


def run(
    out_path, *, x0: float = 1.5, lr: float = 0.1, lam: float = 0.2, iterations: int = 50
) -> dict[str, np.ndarray]:
    """Run the experiment, write the convergence plot (PNG) to ``out_path``.

    Returns the trajectories ``{"l1": ..., "l2": ...}``. Needs matplotlib (drawn on its
    own Agg canvas: no pyplot, the caller's backend is left alone).
    """
    from .reading import _matplotlib

    _, Figure, FigureCanvasAgg = _matplotlib()
    traj = trajectories(x0, lr, lam, iterations)
    fig = Figure(figsize=(10, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(
        traj["l1"],
        "o-",
        color="tab:red",
        ms=4,
        label=rf"L1 (lasso): soft threshold, $\lambda$={lam}",
    )
    ax.plot(
        traj["l2"],
        "s-",
        color="tab:blue",
        ms=4,
        label=rf"L2 (ridge): gradient step, $\lambda$={lam}",
    )
    ax.axhline(0, color="black", lw=1, ls="--")
    ax.set(
        title="Convergence: L1 reaches 0 exactly, L2 only approaches it",
        xlabel="iteration",
        ylabel="x",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    inset = fig.add_axes([0.55, 0.3, 0.3, 0.3])
    tail = np.arange(iterations + 1)[-20:]
    inset.plot(tail, traj["l1"][-20:], "o-", color="tab:red", ms=3)
    inset.plot(tail, traj["l2"][-20:], "s-", color="tab:blue", ms=3)
    inset.axhline(0, color="black", lw=1, ls="--")
    inset.set_title("near zero (last 20)", fontsize=9)
    fig.savefig(out_path, dpi=100)
    return traj
