"""Cold start: a fresh Python process importing fastrpca and making its first call.

What a command-line user or a freshly started service pays before the first answer:

* ``import fastrpca`` (compiles nothing by design);
* import + the first ``rpca`` call, with numba's on-disk cache warm (kernels are loaded)
  and with an empty cache (``NUMBA_CACHE_DIR`` pointing at a fresh temporary directory,
  so every kernel the call needs is compiled);
* ``fastrpca.warmup()`` (every kernel of every family, every dtype), warm and cold.

Each sample is one fresh process (asv's ``timeraw_``). Building the input matrix and
importing NumPy happen in the untimed setup of that process; the timed statement is the
fastrpca import and the call. The cold variants create a new empty cache directory for
every sample, so no sample can profit from the previous one's compilation.
"""

import shutil
import tempfile

# Untimed part of each fresh process: NumPy and the input, BLAS at one thread.
_SETUP = """
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
{cache}
import numpy as np
M = np.random.default_rng(0).standard_normal((100, 80))
M[::7, ::5] += 50.0
"""
_FIRST_RPCA = "import fastrpca\nfastrpca.rpca(M, random_state=0)"
_WARMUP = "import fastrpca\nfastrpca.warmup()"


def _populate_warm_cache():
    """Make sure the cache the child processes inherit holds every kernel."""
    import fastrpca

    fastrpca.warmup()


class ColdStart:
    """Fresh process, numba's cache warm (the normal case after the first run)."""

    timeout = 600
    warmup_time = 0
    repeat = (1, 5, 30.0)

    def setup(self):
        _populate_warm_cache()

    def timeraw_import(self):
        return "import fastrpca", _SETUP.format(cache="")

    def timeraw_import_and_first_rpca(self):
        return _FIRST_RPCA, _SETUP.format(cache="")

    def timeraw_import_and_warmup(self):
        return _WARMUP, _SETUP.format(cache="")


class ColdCache:
    """Fresh process with an empty numba cache: the first call compiles its kernels.

    ``timeraw_import_and_warmup`` compiles every kernel of the library (tens of seconds);
    ``timeraw_import_and_first_rpca`` only the IALM pass the first real-valued call needs.
    """

    timeout = 900
    warmup_time = 0
    repeat = (1, 3, 60.0)

    def setup(self):
        self.root = tempfile.mkdtemp(prefix="fastrpca-asv-numba-")

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def _cold_setup(self):
        cache = tempfile.mkdtemp(dir=self.root)
        return _SETUP.format(cache=f"os.environ['NUMBA_CACHE_DIR'] = {cache!r}")

    def timeraw_import_and_first_rpca(self):
        return _FIRST_RPCA, self._cold_setup()

    def timeraw_import_and_warmup(self):
        return _WARMUP, self._cold_setup()

    timeraw_import_and_warmup.repeat = (1, 2, 60.0)
