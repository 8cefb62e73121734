"""Every public function, class and method documents its parameters in numpydoc form.

"Public" means reachable from the ``__all__`` of :mod:`fastrpca` or of one of its family
packages: the names themselves, and the public methods of the public classes. For each,
the ``Parameters`` section of the docstring (read with :mod:`numpydoc.docscrape`) must
list exactly the names of the signature, in order, and no public signature may carry a
private (leading underscore) parameter. A class documents its constructor's parameters in
the class docstring; a result container (a ``Result`` subclass or a dataclass) documents
its typed fields in an ``Attributes`` section instead.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

from fastrpca._core.result import Result

PUBLIC_MODULES = (
    "fastrpca",
    "fastrpca.robust_pca",
    "fastrpca.sparse",
    "fastrpca.holography",
    "fastrpca.sklearn",
)

# Dunder methods whose parameters are part of the public interface.
PUBLIC_DUNDERS = ("__call__",)


def _unwrap(obj):
    """The Python function behind a numba dispatcher or a functools wrapper."""
    obj = getattr(obj, "py_func", obj)
    return inspect.unwrap(obj)


def _public_objects():
    """``(qualified name, object, kind)`` for every documented callable, each once."""
    seen: set[int] = set()
    found = []

    def add(qualname, obj, kind):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        found.append((qualname, obj, kind))

    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            if inspect.isclass(obj):
                add(f"{obj.__module__}.{obj.__qualname__}", obj, "class")
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr not in PUBLIC_DUNDERS:
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if inspect.isfunction(member):
                        add(f"{obj.__module__}.{obj.__qualname__}.{attr}", member, "method")
            elif callable(obj):
                func = _unwrap(obj)
                add(f"{func.__module__}.{func.__qualname__}", func, "function")
    return found


PUBLIC = _public_objects()


def _signature_names(obj, kind) -> list[str]:
    if kind == "class":
        if not inspect.isfunction(obj.__init__):
            return []  # a constructor written in C (an exception class): nothing to document
        sig = inspect.signature(obj)  # the constructor's, without self
    else:
        sig = inspect.signature(obj)
    names = list(sig.parameters)
    if kind == "method" and names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def _documented_names(obj, kind, section="Parameters") -> list[str]:
    doc = ClassDoc(obj) if kind == "class" else FunctionDoc(obj)
    names = []
    for param in doc[section]:
        # numpydoc allows "x1, x2 : float" and escaped stars ("\*\*kwargs").
        for name in param.name.split(","):
            name = name.strip().replace("\\", "").lstrip("*")
            if name:
                names.append(name)
    return names


def _fields(cls) -> list[str]:
    """Declared fields of a result class (annotations along the MRO, base first)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in vars(klass).get("__annotations__", {}):
            if name not in names:
                names.append(name)
    return names


def test_the_public_api_is_found():
    names = {q for q, _, _ in PUBLIC}
    assert "fastrpca.robust_pca.ialm.rpca" in names
    assert "fastrpca.sparse.l1.LassoSolver" in names
    assert "fastrpca.holography.maxcut.phasecut" in names
    assert len(PUBLIC) > 50


@pytest.mark.parametrize(("qualname", "obj", "kind"), PUBLIC, ids=[q for q, _, _ in PUBLIC])
def test_parameters_section_matches_signature(qualname, obj, kind):
    if kind == "class" and (issubclass(obj, Result) or dataclasses.is_dataclass(obj)):
        # A result container is read, not built by the caller: its docstring's Attributes
        # section lists exactly its typed fields (Result's own included).
        documented = _documented_names(obj, kind, "Attributes")
        fields = _fields(obj)
        assert sorted(documented) == sorted(fields), (
            f"{qualname}: the docstring's Attributes section lists {documented}, "
            f"the class declares the fields {fields}"
        )
        return
    names = _signature_names(obj, kind)
    documented = _documented_names(obj, kind)
    assert documented == names, (
        f"{qualname}: the docstring's Parameters section lists {documented}, "
        f"the signature has {names}"
    )


@pytest.mark.parametrize(("qualname", "obj", "kind"), PUBLIC, ids=[q for q, _, _ in PUBLIC])
def test_no_private_keyword_in_public_signature(qualname, obj, kind):
    names = _signature_names(obj, kind)
    private = [n for n in names if n.startswith("_")]
    assert not private, f"{qualname} has private parameters {private} in its public signature"


def test_every_public_name_is_in_the_api_reference():
    docs = Path(__file__).resolve().parents[1] / "docs"
    pages = {
        "fastrpca": docs / "index.rst",
        "fastrpca.robust_pca": docs / "api" / "robust_pca.rst",
        "fastrpca.sparse": docs / "api" / "sparse.rst",
        "fastrpca.holography": docs / "api" / "holography.rst",
        "fastrpca.sklearn": docs / "api" / "sklearn.rst",
    }
    listed = set()
    for page in pages.values():
        # autosummary entries: an indented bare name on its own line
        listed |= set(re.findall(r"^ {3}(\w+)\s*$", page.read_text(), re.M))
    missing = []
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            if not isinstance(getattr(module, name), types.ModuleType) and name not in listed:
                missing.append(f"{modname}.{name}")
    assert not missing, f"add these to the autosummary lists in docs/: {missing}"
