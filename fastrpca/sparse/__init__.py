r"""The L1 / L2 toolbox: proximal operators, lasso and elastic net, ridge, LISTA.

Every solver minimises, per signal ``y``,
:math:`\tfrac12\|Ax - y\|_2^2 + \lambda_1\|x\|_1 + \tfrac{\lambda_2}{2}\|x\|_2^2`
with unscaled penalties (see :mod:`fastrpca.sparse.penalty` for scikit-learn's scaling).

Modules
-------
prox
    :func:`soft_threshold`, :func:`svt`, :func:`ridge_shrink`, :func:`elastic_net_prox`.
l1
    :func:`lasso`, :func:`elastic_net` and the reusable :class:`LassoSolver`.
l2
    :func:`ridge` in closed form.
lista
    :class:`LISTA`, ISTA unfolded into trained layers.
penalty
    :func:`lam_max` and the conversions from scikit-learn's ``alpha``.
dictionary
    :class:`RobustDictionaryLearning`: learned atoms, sparse codes and a sparse anomaly.
patches
    :func:`extract_patches` and :func:`patches_to_image` (overlaps averaged).
"""

from __future__ import annotations

from .dictionary import CodingResult, DictionaryLearningResult, RobustDictionaryLearning
from .l1 import LassoPathResult, LassoResult, LassoSolver, clear_cache, elastic_net, lasso
from .l2 import RidgeResult, ridge
from .lista import LISTA
from .patches import extract_patches, patches_to_image
from .penalty import enet_from_sklearn, lam_from_sklearn, lam_max, sklearn_alpha
from .prox import elastic_net_prox, ridge_shrink, soft_threshold, svt

__all__ = [
    "soft_threshold",
    "svt",
    "ridge_shrink",
    "elastic_net_prox",
    "lasso",
    "elastic_net",
    "LassoSolver",
    "LassoResult",
    "LassoPathResult",
    "clear_cache",
    "ridge",
    "RidgeResult",
    "LISTA",
    "lam_max",
    "lam_from_sklearn",
    "sklearn_alpha",
    "enet_from_sklearn",
    "RobustDictionaryLearning",
    "DictionaryLearningResult",
    "CodingResult",
    "extract_patches",
    "patches_to_image",
]


def _warmup() -> None:
    """Compile (or load) every kernel of the toolbox."""
    from . import dictionary, l1, prox

    prox._warmup()
    l1._warmup()
    dictionary._warmup()
