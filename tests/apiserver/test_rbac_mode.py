"""--rbac: a ServiceAccount token from the TokenRequest subresource, refused (403, kube-apiserver's
words) until a RoleBinding grants it; the audit log records who did what."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from helm_ac.apiserver.server import Options, running


def test_serviceaccount_least_privilege(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with running(Options(tls=False, rbac=True, audit_log=audit)) as r:
        admin = client.ApiClient(config.new_client_from_config(config_file=str(r.kubeconfig)).configuration)
        core, rbac_api = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        core.create_namespace({"metadata": {"name": "team"}})
        core.create_namespaced_service_account("team", {"metadata": {"name": "bot"}})
        tr, code, _ = core.create_namespaced_service_account_token_with_http_info(
            "bot", "team", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "spec": {"expirationSeconds": 3600}})
        assert code == 201 and tr.status.token

        conf = client.Configuration()
        conf.host = r.url
        conf.api_key = {"authorization": f"Bearer {tr.status.token}"}
        bot = client.CoreV1Api(client.ApiClient(conf))
        with pytest.raises(ApiException) as e:
            bot.list_namespaced_config_map("team")
        assert e.value.status == 403
        assert json.loads(e.value.body)["message"] == (
            'configmaps is forbidden: User "system:serviceaccount:team:bot" cannot list resource "configmaps" '
            'in API group "" in the namespace "team"')

        rbac_api.create_namespaced_role("team", {
            "metadata": {"name": "cm-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
        rbac_api.create_namespaced_role_binding("team", {
            "metadata": {"name": "bot-reads"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "team"}]})
        assert bot.list_namespaced_config_map("team").items == []
        with pytest.raises(ApiException) as e:
            bot.create_namespaced_config_map("team", {"metadata": {"name": "x"}})
        assert e.value.status == 403
        with pytest.raises(ApiException) as e:
            bot.list_namespaced_config_map("default")
        assert e.value.status == 403

        core.delete_namespaced_service_account("bot", "team")  # its tokens stop working
        with pytest.raises(ApiException) as e:
            bot.list_namespaced_config_map("team")
        assert e.value.status == 401
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    bot_lines = [(x["verb"], x["namespace"], x["code"]) for x in lines if x["user"] == "system:serviceaccount:team:bot"]
    assert bot_lines == [("list", "team", 403), ("list", "team", 200), ("create", "team", 403), ("list", "default", 403)]
    assert lines[-1]["code"] == 401 and lines[-1]["user"] == "system:anonymous"
