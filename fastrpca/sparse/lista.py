"""LISTA: learned ISTA, the lasso solver unfolded into trained layers."""

from __future__ import annotations

import numpy as np

from .._core.validation import as_array, rng_from
from .._core.validation import positive as _positive
from .l1 import LassoSolver, lasso
from .penalty import _check_rows_shape


class LISTA:
    r"""Learned ISTA (Gregor & LeCun 2010): K unfolded layers with trained weights.

    .. math:: x_0 = \eta_{\theta_0}(W_e y), \qquad
              x_k = \eta_{\theta_k}(W_e y + S x_{k-1}),\ k = 1..K-1

    with :math:`\eta` the soft threshold, ``W_e`` (n x m) and ``S`` (n x n) shared by
    the layers and one threshold per layer. Initialised to ISTA on ``A`` with weight
    ``lam`` (``W_e = A^T / L``, ``S = I - A^T A / L``, ``theta = lam / L``), then trained
    by Adam on the squared distance to lasso solutions, gradients written out by hand.

    Parameters
    ----------
    A : array_like (m, n). Dictionary.
    lam : float > 0. Lasso weight of the targets.
    n_layers : int. K.
    """

    def __init__(self, A, lam: float, n_layers: int = 8):
        A = as_array(A, "A", ndim=2, allow_complex=False).astype(np.float64)
        self.A = A
        self.lam = _positive(lam, "lam")
        self.n_layers = _positive(n_layers, "n_layers", integer=True)
        L = LassoSolver(A).lipschitz  # the step ISTA uses, so the start is ISTA exactly
        self.We = A.T / L
        self.S = np.eye(A.shape[1]) - A.T @ A / L
        self.theta = np.full(self.n_layers, self.lam / L)
        self.loss_history: list[float] = []

    def _forward(self, Y):
        C = self.We @ Y
        Z, X = [], []
        x = None
        for k in range(self.n_layers):
            z = C if k == 0 else C + self.S @ x
            x = np.sign(z) * np.maximum(np.abs(z) - self.theta[k], 0.0)
            Z.append(z)
            X.append(x)
        return C, Z, X

    def predict(self, Y) -> np.ndarray:
        """Codes for the columns of ``Y`` (m, k) or one signal (m,).

        Parameters
        ----------
        Y : array_like (m,) or (m, k), real
            One signal, or k signals as columns.

        Returns
        -------
        ndarray (n,) or (n, k)
            The output of the last layer, approximately the lasso solutions.
        """
        Y = as_array(Y, "Y", ndim=(1, 2), allow_complex=False)
        _check_rows_shape(self.A.shape, Y)
        out = self._forward(Y.reshape(self.A.shape[0], -1))[2][-1]
        return out[:, 0] if Y.ndim == 1 else out

    def loss_and_grads(self, Y, Xstar):
        """Mean over columns of 1/2 ||x_K - x*||^2 and its gradients (We, S, theta).

        Parameters
        ----------
        Y : ndarray (m, b)
            A batch of signals as columns (not validated: this is the training step).
        Xstar : ndarray (n, b)
            Their target codes.

        Returns
        -------
        loss : float
            ``1/2 ||x_K - x*||^2`` averaged over the b columns.
        grad_We, grad_S, grad_theta : ndarray
            Its gradients with respect to ``We`` (n x m), ``S`` (n x n) and the
            per-layer thresholds ``theta`` (K,).
        """
        B = Y.shape[1]
        C, Z, X = self._forward(Y)
        diff = X[-1] - Xstar
        loss = 0.5 * np.sum(diff * diff) / B
        gx = diff / B
        gS = np.zeros_like(self.S)
        gC = np.zeros_like(C)
        gth = np.zeros_like(self.theta)
        for k in range(self.n_layers - 1, -1, -1):
            gz = gx * (np.abs(Z[k]) > self.theta[k])
            gth[k] = -np.sum(gz * np.sign(Z[k]))
            gC += gz
            if k > 0:
                gS += gz @ X[k - 1].T
                gx = self.S.T @ gz
        return loss, gC @ Y.T, gS, gth

    def fit(
        self,
        Y,
        X=None,
        *,
        max_iter: int = 200,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        random_state=None,
    ) -> LISTA:
        """Train on signals ``Y`` (m, k); targets ``X`` default to the lasso solutions.

        Adam (step ``learning_rate``, moments 0.9 and 0.999) on shuffled mini-batches;
        the thresholds are kept ``>= 0``. ``loss_history`` gets the mean loss of each
        epoch.

        Parameters
        ----------
        Y : array_like (m, k), real
            Training signals as columns.
        X : array_like (n, k), optional
            Target codes; default: the lasso solutions of ``Y`` with weight ``lam``
            (``tol=1e-10``).
        max_iter : int
            Epochs (passes over the k signals).
        batch_size : int
            Signals per Adam step.
        learning_rate : float
            Adam's step size.
        random_state : None, int or numpy Generator
            Seeds the shuffling of each epoch (None: seed 0).

        Returns
        -------
        LISTA
            ``self``, trained.
        """

        Y = as_array(Y, "Y", ndim=2, allow_complex=False).astype(np.float64)
        _check_rows_shape(self.A.shape, Y)
        max_iter = _positive(max_iter, "max_iter", integer=True)
        batch_size = _positive(batch_size, "batch_size", integer=True)
        learning_rate = _positive(learning_rate, "learning_rate")
        if X is None:
            X = lasso(self.A, Y, self.lam, tol=1e-10).x
        else:
            X = as_array(X, "X", ndim=2, allow_complex=False)
            if X.shape != (self.A.shape[1], Y.shape[1]):
                raise ValueError(
                    f"X has shape {X.shape}; the targets of Y {Y.shape} need "
                    f"shape ({self.A.shape[1]}, {Y.shape[1]})"
                )
        rng = rng_from(random_state)
        params = [self.We, self.S, self.theta]
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        t = 0
        for _ in range(max_iter):
            order = rng.permutation(Y.shape[1])
            total = 0.0
            for start in range(0, len(order), batch_size):
                cols = order[start : start + batch_size]
                loss, *grads = self.loss_and_grads(Y[:, cols], X[:, cols])
                total += loss * len(cols)
                t += 1
                for p, g, a, b in zip(params, grads, m1, m2):
                    a *= 0.9
                    a += 0.1 * g
                    b *= 0.999
                    b += 0.001 * g * g
                    p -= learning_rate * (a / (1 - 0.9**t)) / (np.sqrt(b / (1 - 0.999**t)) + 1e-12)
            np.maximum(self.theta, 0.0, out=self.theta)
            self.loss_history.append(total / Y.shape[1])
        return self
