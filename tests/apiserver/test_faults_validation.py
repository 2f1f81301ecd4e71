"""fieldValidation (Warning headers, Strict, 422 causes) and injected faults, through HTTP with the
real store."""
from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from helm_ac.apiserver.server import Options, running

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


def request(r: Any, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
    return urllib3.request(method, r.url + path, body=None if body is None else json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {r.token}", "Content-Type": ctype}, retries=False,
                           timeout=urllib3.Timeout(connect=5, read=10))


def test_field_validation_modes() -> None:
    with running(Options(tls=False)) as r:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "warned"}, "data": {}, "foo": 1}
        resp = request(r, "POST", CM, body)  # Warn is the default
        assert resp.status == 201 and resp.headers.getlist("Warning") == ['299 - "unknown field \\"foo\\""']
        resp = request(r, "POST", CM + "?fieldValidation=Ignore", {**body, "metadata": {"name": "ignored"}})
        assert resp.status == 201 and "Warning" not in resp.headers
        resp = request(r, "POST", CM + "?fieldValidation=Strict", {**body, "metadata": {"name": "strict"}})
        assert resp.status == 400 and 'strict decoding error: unknown field "foo"' in resp.json()["message"]
        resp = request(r, "POST", CM + "?fieldValidation=Sometimes", {**body, "metadata": {"name": "x"}})
        assert resp.status == 400
        resp = request(r, "POST", CM, {"metadata": {"name": "Not_A_Name"}})
        assert resp.status == 422 and resp.json()["reason"] == "Invalid"
        assert resp.json()["details"]["causes"][0]["field"] == "metadata.name"
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c",
                                                                                                 "image": "i"}]}}}}
        assert request(r, "POST", DEPLOY, dep).status == 201
        # a typo'd field in a patch: the patched object is what is checked
        resp = request(r, "PATCH", DEPLOY + "/d?fieldValidation=Strict", {"spec": {"replica": 2}},
                       "application/merge-patch+json")
        assert resp.status == 400 and 'unknown field "spec.replica"' in resp.json()["message"]
        resp = request(r, "PATCH", DEPLOY + "/d", {"spec": {"replica": 2}}, "application/merge-patch+json")
        assert resp.status == 200 and resp.headers.getlist("Warning") == ['299 - "unknown field \\"spec.replica\\""']


def test_faults() -> None:
    faults = ["verb=create,resource=configmaps,error=429,retry-after=2,count=1",
              "verb=get,resource=configmaps,name=dropped,drop=connection",
              "verb=watch,resource=secrets,drop=watch,after=0.2s"]
    with running(Options(tls=False, faults=faults)) as r:
        body = {"metadata": {"name": "dropped"}}
        resp = request(r, "POST", CM, body)
        assert resp.status == 429 and resp.headers["Retry-After"] == "2"
        assert resp.json()["reason"] == "TooManyRequests"
        assert request(r, "POST", CM, body).status == 201  # count=1: the retry goes through
        with pytest.raises(urllib3.exceptions.ProtocolError):
            request(r, "GET", CM + "/dropped")
        assert request(r, "GET", "/healthz").status == 200  # the server lives on
        resp = urllib3.request("GET", r.url + "/api/v1/namespaces/default/secrets?watch=true&timeoutSeconds=30",
                               headers={"Authorization": f"Bearer {r.token}"}, preload_content=False, retries=False)
        assert resp.status == 200
        with pytest.raises(urllib3.exceptions.ProtocolError):  # cut mid-stream, not a clean end
            resp.read()
