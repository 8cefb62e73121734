"""One set of conventions across the three families (see CONTRIBUTING.md, "Conventions")."""

import inspect

import numpy as np
import pytest

import fastrpca
from fastrpca import holography as H
from fastrpca._core.result import Result

rng = np.random.default_rng(0)
M_RPCA = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
A = rng.standard_normal((20, 30))
y = A[:, :3] @ np.ones(3)
G = H.transfer_matrix(H.autd3(), [[90.0, 70.0, 150.0], [60.0, 50.0, 150.0]])
HERM = np.array([[2.0, 1.0, 0.5j], [1.0, 2.0, 0.0], [-0.5j, 0.0, 2.0]])

# (name, call with random_state)
SEEDED = {
    "rpca": lambda rs: fastrpca.rpca(M_RPCA, random_state=rs),
    "phasecut": lambda rs: fastrpca.phasecut(HERM, random_state=rs),
    "holography.sdp": lambda rs: H.sdp(G, [5e3, 5e3], random_state=rs),
    "holography.Workspace": lambda rs: H.Workspace(H.autd3(), 2, random_state=rs),
    "StreamingRPCA.fit": lambda rs: fastrpca.StreamingRPCA(rank=2).fit(
        M_RPCA.T.reshape(30, 8, 5), random_state=rs
    ),
    "LISTA.fit": lambda rs: fastrpca.LISTA(A, 0.5, n_layers=2).fit(
        A[:, :8], max_iter=1, random_state=rs
    ),
    "RobustDictionaryLearning.fit": lambda rs: fastrpca.RobustDictionaryLearning(4, 0.5).fit(
        A, random_state=rs
    ),
    "RobustDictionaryLearning.partial_fit": lambda rs: fastrpca.RobustDictionaryLearning(
        4, 0.5
    ).partial_fit(A, random_state=rs),
    "LearnedRPCA": lambda rs: fastrpca.LearnedRPCA(n_layers=2, random_state=rs),
}


@pytest.mark.parametrize("name", sorted(SEEDED))
@pytest.mark.parametrize("bad", ["abc", -1, 1.5, True, [1, 2]])
def test_bad_random_state_is_refused_by_name(name, bad):
    with pytest.raises((TypeError, ValueError), match="random_state"):
        SEEDED[name](bad)


@pytest.mark.parametrize("name", ["rpca", "phasecut", "holography.sdp"])
def test_random_state_none_means_seed_zero(name):
    first, again, zero = (SEEDED[name](rs) for rs in (None, None, 0))
    for field in ("L", "X", "drive"):
        if hasattr(first, field):
            np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
            np.testing.assert_array_equal(getattr(first, field), getattr(zero, field))


@pytest.mark.filterwarnings("ignore::fastrpca.ConvergenceWarning")
def test_a_generator_gives_fresh_draws():
    gen = np.random.default_rng(5)
    a = fastrpca.phasecut(HERM, method="bcd", max_iter=2, tol=0.0, random_state=gen)
    b = fastrpca.phasecut(HERM, method="bcd", max_iter=2, tol=0.0, random_state=gen)
    assert not np.array_equal(a.X, b.X)
    # the generator advanced: a new one from the same seed reproduces the first call
    c = fastrpca.phasecut(
        HERM, method="bcd", max_iter=2, tol=0.0, random_state=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(a.X, c.X)


RESULTS = {
    "rpca": lambda: fastrpca.rpca(M_RPCA),
    "lasso": lambda: fastrpca.lasso(A, y, 0.1),
    "lasso batch": lambda: fastrpca.lasso(A, np.column_stack([y, y]), 0.1),
    "elastic_net": lambda: fastrpca.elastic_net(A, y, 0.1, 0.2),
    "ridge": lambda: fastrpca.ridge(A, y, 0.5),
    "phasecut": lambda: fastrpca.phasecut(HERM),
    "holography.sdp": lambda: H.sdp(G, [5e3, 5e3]),
    "holography.gs": lambda: H.gs(G, [5e3, 5e3]),
    "RobustDictionaryLearning.fit": lambda: (
        fastrpca.RobustDictionaryLearning(4, 0.5, 2.0).fit(A).result
    ),
    "RobustDictionaryLearning.decompose": lambda: (
        fastrpca.RobustDictionaryLearning(4, 0.5, 2.0).fit(A).decompose(A)
    ),
    "LearnedRPCA.solve": lambda: (
        fastrpca.LearnedRPCA(n_layers=2).fit([M_RPCA, M_RPCA], max_iter=0).solve(M_RPCA)
    ),
    "LISTA.solve": lambda: fastrpca.LISTA(A, 0.5, n_layers=2).solve(y),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_every_result_has_the_common_fields(name):
    res = RESULTS[name]()
    assert isinstance(res, Result)
    assert isinstance(res.message, str) and res.message
    assert np.all(np.asarray(res.converged)) and np.all(np.asarray(res.n_iter) >= 0)
    assert isinstance(res.history, dict)
    assert all(isinstance(v, np.ndarray) for v in res.history.values())


ITERATIVE = {
    "rpca": fastrpca.rpca,
    "lasso": fastrpca.lasso,
    "elastic_net": fastrpca.elastic_net,
    "LassoSolver": fastrpca.LassoSolver,
    "phasecut": fastrpca.phasecut,
    "holography.sdp": H.sdp,
    "holography.gs": H.gs,
    "holography.gspat": H.gspat,
    "holography.Workspace": H.Workspace,
    "holography.compute": H.Workspace,
    "LISTA.fit": fastrpca.LISTA.fit,
    "RobustDictionaryLearning.fit": fastrpca.RobustDictionaryLearning.fit,
    "RobustDictionaryLearning.decompose": fastrpca.RobustDictionaryLearning.decompose,
    "LISTA.solve": fastrpca.LISTA.solve,
    "LearnedRPCA.fit": fastrpca.LearnedRPCA.fit,
}


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_iteration_limits_are_named_max_iter(name):
    params = inspect.signature(ITERATIVE[name]).parameters
    assert "max_iter" in params
    for old in ("max_sweeps", "iterations", "n_epochs", "n_iter"):
        assert old not in params


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_no_private_keyword_in_a_public_signature(name):
    params = inspect.signature(ITERATIVE[name]).parameters
    assert not [p for p in params if p.startswith("_")]


def test_one_callback_convention():
    seen = []
    fastrpca.rpca(M_RPCA, callback=lambda info: seen.append(("rpca", info.n_iter)))
    fastrpca.lasso(
        A, y, 0.1, method="fista", callback=lambda info: seen.append(("lasso", info.n_iter))
    )
    fastrpca.RobustDictionaryLearning(4, 0.5).fit(
        A, callback=lambda info: seen.append(("rdl", info.n_iter))
    )
    assert {s[0] for s in seen} == {"rpca", "lasso", "rdl"}
    assert fastrpca.rpca(M_RPCA, callback=lambda info: True).n_iter == 1
