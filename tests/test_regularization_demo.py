"""The seed's L1-versus-L2 experiment."""

import subprocess
import sys

import numpy as np
import pytest

from fastrpca.app import regularization_demo as demo


def test_l1_hits_zero_l2_only_approaches():
    t = demo.trajectories(x0=1.5, lr=0.1, lam=0.2, iterations=50)
    l1, l2 = t["l1"], t["l2"]
    first = int(np.argmax(l1 == 0.0))
    assert 0 < first < 50 and np.all(l1[first:] == 0.0)
    assert np.all(np.diff(l1[: first + 1]) < 0)
    # ridge step: x_k = (1 - lr (1 + 2 lam))^k x0 > 0, never 0
    np.testing.assert_allclose(l2, 1.5 * 0.86 ** np.arange(51), rtol=1e-12)
    assert np.all(l2 > 0)
    # the L1 step equals ISTA on 1/2 x^2 + lam |x|: x <- max(0.9 x - 0.02, 0)
    x = 1.5
    for k in range(50):
        x = max(0.9 * x - 0.02, 0.0)
        assert l1[k + 1] == pytest.approx(x, abs=1e-15)


def test_run_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "regularization.png"
    t = demo.run(out, iterations=30)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(t["l1"]) == 31 and t["l1"][-1] == 0.0 and t["l2"][-1] > 0


def test_run_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    pytest.importorskip("matplotlib")
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "from fastrpca.app.regularization_demo import run\n"
        f"run({str(tmp_path / 'r.png')!r})\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
