"""asv benchmarks for fastrpca.sparse.RobustDictionaryLearning (JIT warmed in setup)."""

import numpy as np

import fastrpca.sparse as sp


def _planted(k, m=64, n=256, nnz=4, anomalies=0.0, seed=0):
    """Patch-sized samples from a planted unit-norm dictionary, optional sparse anomalies."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((n, k))
    for c in range(k):
        X[rng.choice(n, nnz, replace=False), c] = rng.standard_normal(nnz)
    S = np.where(rng.random((m, k)) < anomalies, 4 * rng.standard_normal((m, k)), 0.0)
    return np.asfortranarray(D @ X + S + 0.05 * rng.standard_normal((m, k)))


#: The anomaly weight of each variant: none (plain dictionary learning) or 0.15.
LAM_S = {"plain": np.inf, "robust": 0.15}


def _fit(Y, lam_s=np.inf, epochs=3, keep_codes=True):
    """Exactly ``epochs`` epochs (the callback stops the loop: no convergence warning)."""
    return sp.RobustDictionaryLearning(256, 0.3, lam_s).fit(
        Y,
        max_iter=epochs + 1,
        tol=0.0,
        keep_codes=keep_codes,
        callback=lambda info: info.n_iter >= epochs,
    )


class DictionaryLearning:
    """Three epochs on k samples of length 64, 256 atoms: plain, and with anomalies."""

    params = ([2000, 10000], ["plain", "robust"])
    param_names = ["k", "variant"]
    timeout = 300

    def setup(self, k, variant):
        sp.dictionary._warmup()
        self.lam_s = LAM_S[variant]
        self.Y = _planted(k, anomalies=0.01 if variant == "robust" else 0.0)

    def time_fit(self, k, variant):
        _fit(self.Y, self.lam_s)

    def time_fit_online(self, k, variant):
        _fit(self.Y, self.lam_s, keep_codes=False)

    def peakmem_fit(self, k, variant):
        _fit(self.Y, self.lam_s)

    def track_objective_per_sample(self, k, variant):
        return _fit(self.Y, self.lam_s).result.objective / k


class Decompose:
    """Codes (and anomalies) of 2000 new samples with a learned 64 x 256 dictionary."""

    params = ["plain", "robust"]
    param_names = ["variant"]
    timeout = 300

    def setup(self, variant):
        sp.dictionary._warmup()
        anomalies = 0.01 if variant == "robust" else 0.0
        self.model = _fit(_planted(4000, anomalies=anomalies), LAM_S[variant], epochs=5)
        self.Y = _planted(2000, anomalies=anomalies, seed=1)
        self.model.decompose(self.Y[:, :10])

    def time_decompose(self, variant):
        self.model.decompose(self.Y, check_finite=False)

    def track_mean_sweeps(self, variant):
        return float(np.mean(self.model.decompose(self.Y).n_iter))

    def track_max_relative_gap(self, variant):
        res = self.model.decompose(self.Y)
        return float(np.max(res.dual_gap / res.objective))


class TextureAnomalies:
    """Pixel F1 (best threshold) and ROC AUC of the |S| map on scikit-image's brick texture
    with planted scratches and spots, dictionary learned on the inspected image itself."""

    timeout = 600

    def setup_cache(self):
        try:
            from skimage import data
        except ImportError:
            return None
        from fastrpca.app.demo import plant_defects
        from fastrpca.robust_pca.metrics import roc_auc

        sp.dictionary._warmup()
        img = data.brick()[:, 256:].astype(float) / 255
        img, truth = plant_defects(img, contrast=0.25, random_state=0)
        P = sp.extract_patches(img, 8, 2)
        P = P - P.mean(axis=0)
        P /= P.std()
        model = sp.RobustDictionaryLearning(256, 1.0, 0.5).fit(P[:, ::3])
        score = sp.patches_to_image(np.abs(model.decompose(P, tol=1e-4).s), img.shape, 8, 2)
        order = np.argsort(-score.ravel())
        hits = np.cumsum(truth.ravel()[order])
        f1 = 2 * hits / (np.arange(1, hits.size + 1) + truth.sum())
        return {"f1": float(f1.max()), "auc": roc_auc(truth, score)}

    def setup(self, cache):
        if cache is None:
            raise NotImplementedError("scikit-image is not installed")

    def track_pixel_f1(self, cache):
        return cache["f1"]

    def track_roc_auc(self, cache):
        return cache["auc"]
