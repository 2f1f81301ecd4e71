"""Content negotiation of server-side printing: ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``
answers a ``Table`` (get, list, watch), as kube-apiserver does; other Accept headers the object."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from helm_ac.apiserver.server import Options, running

TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
KUBECTL = f"{TABLE_V1},{TABLE_V1BETA1},application/json"  # what kubectl get sends
CMS = "/api/v1/namespaces/default/configmaps"


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))

    def __call__(self, method: str, path: str, accept: str = "application/json", body: Any = None,
                 preload: bool = True) -> Any:
        return self.http.request(method, self.url + path, body=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {self.token}", "Accept": accept,
                                          "Content-Type": "application/json"}, preload_content=preload)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running(Options(tls=False)) as r:
        a = Api(r.url, r.token)
        for name in ("a", "b"):
            assert a("POST", CMS, body={"metadata": {"name": name}, "data": {"k": "v"}}).status == 201
        yield a


def test_list_and_get_as_tables(api: Api) -> None:
    resp = api("GET", CMS + "?limit=1", KUBECTL)
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    t = json.loads(resp.data)
    assert (t["kind"], t["apiVersion"]) == ("Table", "meta.k8s.io/v1") and t["metadata"]["continue"]
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"]
    (row,) = t["rows"]
    assert row["cells"][:2] == ["a", 1]
    assert (row["object"]["kind"], row["object"]["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1")
    assert row["object"]["metadata"]["name"] == "a" and "data" not in row["object"]
    one = json.loads(api("GET", CMS + "/b?includeObject=Object", TABLE_V1BETA1).data)
    assert (one["apiVersion"], one["rows"][0]["object"]["data"]) == ("meta.k8s.io/v1beta1", {"k": "v"})
    assert one["metadata"]["resourceVersion"] == one["rows"][0]["object"]["metadata"]["resourceVersion"]
    assert "object" not in json.loads(api("GET", CMS + "/b?includeObject=None", KUBECTL).data)["rows"][0]


def test_other_accept_headers_get_the_objects(api: Api) -> None:
    assert json.loads(api("GET", CMS, "application/json").data)["kind"] == "ConfigMapList"
    assert json.loads(api("GET", CMS, f"application/json,{TABLE_V1}").data)["kind"] == "ConfigMapList"
    unknown_version = "application/json;as=Table;v=v9;g=meta.k8s.io,application/json"
    assert json.loads(api("GET", CMS + "/a", unknown_version).data)["kind"] == "ConfigMap"


def test_a_bad_include_object_is_400(api: Api) -> None:
    resp = api("GET", CMS + "?includeObject=All", KUBECTL)
    body = json.loads(resp.data)
    assert (resp.status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == 'includeObject: Unsupported value: "All": supported values: "None", "Metadata", "Object"'


def test_watch_events_carry_tables(api: Api) -> None:
    resp = api("GET", CMS + "?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Da", KUBECTL, preload=False)
    try:
        event = json.loads(resp.readline())
    finally:
        resp.release_conn()
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
    assert [r["cells"][0] for r in event["object"]["rows"]] == ["a"]
    assert [c["name"] for c in event["object"]["columnDefinitions"]] == ["Name", "Data", "Age"]
