"""JSON Schemas of the chart-extension spec, generated from :mod:`helm_ac.extension.spec`.

``schema/v1alpha1/*.schema.json`` in the repository are the output of
``helm-ac schema --write schema/``; a test fails when they are out of date.
"""
from __future__ import annotations

import json
import re
from typing import Any

from helm_ac.extension import spec

BASE_ID = "https://helm-ac.github.io/schema/v1alpha1/"


def _schema(table: dict[str, spec.Annotation], name: str, title: str, description: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for a in table.values():
        entry = dict(a.schema)
        entry["description"] = a.summary
        if a.default is not None:
            entry["default"] = a.default
        entry["examples"] = [a.example]
        props[a.key] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + name,
        "title": title,
        "description": description,
        "type": "object",
        "properties": props,
        # keys under the prefix must be known ones; every other annotation is left alone
        "propertyNames": {"anyOf": [{"not": {"pattern": "^" + re.escape(spec.PREFIX)}},
                                    {"enum": [a.key for a in table.values()]}]},
        "additionalProperties": True,
    }


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema document."""
    return {
        "object-annotations.schema.json": _schema(
            spec.OBJECT_ANNOTATIONS, "object-annotations.schema.json",
            "helm-ac object annotations (v1alpha1)",
            "metadata.annotations of a rendered Kubernetes object using the helm-ac chart extension. "
            "Keys under appcontroller.k8s/ other than these are invalid; other annotations are untouched."),
        "chart-annotations.schema.json": _schema(
            spec.CHART_ANNOTATIONS, "chart-annotations.schema.json",
            "helm-ac Chart.yaml annotations (v1alpha1)",
            "The annotations map of a Chart.yaml using the helm-ac chart extension."),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
