"""Kubernetes' schemas have one loader (kubesim/schemas): the patch code, validation and the OpenAPI
documents read the same Kubernetes version, the one the cluster models."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from helm_ac.kubesim import openapi, schemas, validation
from helm_ac.kubesim.resources import KUBERNETES_VERSION


def _ship(monkeypatch: pytest.MonkeyPatch, root: Path, *versions: str) -> None:
    """kubernetes-validate as if it shipped ``versions`` in ``root``."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: SimpleNamespace(
        submodule_search_locations=[str(root)]) if name == "kubernetes_validate" else None)
    for v in versions:
        for suffix in ("", "-strict"):
            d = root / "kubernetes-json-schema" / f"v{v}-local{suffix}"
            d.mkdir(parents=True)
            (d / "_definitions.json").write_text("{}")


def test_the_modelled_version_not_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch code took the newest schemas kubernetes-validate ships, validation the newest up to
    the modelled version: a kubernetes-validate with a newer Kubernetes split them."""
    modelled = KUBERNETES_VERSION.lstrip("v")
    major, minor, _ = modelled.split(".")
    _ship(monkeypatch, tmp_path, "1.30.0", modelled, f"{major}.{int(minor) + 1}.0")
    got = schemas.definitions_file()
    assert got.parent.name == f"v{modelled}-local"
    assert schemas.definitions_file(True).parent.name == f"v{modelled}-local-strict"


def test_older_schemas_when_the_modelled_version_is_not_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ship(monkeypatch, tmp_path, "1.30.0", "1.31.2")
    assert schemas.definitions_file().parent.name == "v1.31.2-local"


def test_none_shipped_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _ship(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match="pip install kubernetes-validate"):
        schemas.definitions_file()


def test_one_document_for_all_readers() -> None:
    doc = schemas.definitions_document()
    assert schemas.definitions() is doc["$defs"]
    name = schemas.definition_names()[("apps", "v1", "Deployment")]
    assert name == "io.k8s.api.apps.v1.Deployment"
    assert openapi.definitions_document is schemas.definitions_document
    assert not hasattr(validation, "kubernetes_definitions")


def test_the_package_docstring_lists_every_module() -> None:
    """kubesim/__init__'s list named 8 of its 17 modules (no fields, selectors, validation, openapi,
    crds, behaviour, audit, tables)."""
    import pkgutil
    import re

    import helm_ac.kubesim as pkg

    listed = set(re.findall(r":mod:`\.(\w+)`", pkg.__doc__ or ""))
    modules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    assert listed == modules
