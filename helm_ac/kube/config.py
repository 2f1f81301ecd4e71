"""Which cluster, as user, in which namespace: configured as Helm is.

* ``--kubeconfig`` (else ``$KUBECONFIG``, a list of files joined by ``:``, merged as kubectl does);
* ``--kube-context`` (else ``$HELM_KUBECONTEXT``, else the kubeconfig's current context);
* in a pod (``$KUBERNETES_SERVICE_HOST`` set) with neither a kubeconfig flag nor ``$KUBECONFIG``
  nor ``~/.kube/config``: the in-cluster configuration, the ServiceAccount's token (re-read as it
  rotates) and CA from ``/var/run/secrets/kubernetes.io/serviceaccount``. Two hooks for the
  embedded API server, which runs controller Pods as local processes (``apiserver/pods.py``):
  ``$HELM_AC_SERVICEACCOUNT_DIR`` replaces that directory, and ``$HELM_AC_KUBERNETES_SCHEME=http``
  talks plain HTTP to a server without TLS (no CA then);
* ``-n/--namespace`` (else ``$HELM_NAMESPACE``, else the context's namespace, in a pod the
  ServiceAccount's namespace, else ``default``).

A kubeconfig that cannot be read, or a context it does not have, is a :class:`~helm_ac.errors.UserError`
naming the file and what to do.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from helm_ac.errors import UserError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: test and embedded-server hooks of the in-cluster configuration: the ServiceAccount's directory,
#: and ``http`` for a server without TLS
SERVICE_ACCOUNT_DIR_ENV = "HELM_AC_SERVICEACCOUNT_DIR"
SCHEME_ENV = "HELM_AC_KUBERNETES_SCHEME"
#: connections kept per host: one per open watch plus the concurrent calls (urllib3 discards and
#: warns beyond this)
POOL_SIZE = 64


class KubeConfigError(UserError):
    """The cluster configuration cannot be used."""


class _InClusterLoader(config.incluster_config.InClusterConfigLoader):
    """The official loader (it re-reads the token as it rotates), over plain HTTP when asked: no CA
    then (the loader's own check of the CA file is skipped)."""

    def __init__(self, scheme: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scheme = scheme

    def _load_config(self) -> None:
        if self._scheme == "https":
            super()._load_config()
            return
        cert = self._cert_filename
        self._cert_filename = self._token_filename  # no CA over HTTP: the loader checks a file exists
        try:
            super()._load_config()
        finally:
            self._cert_filename = cert
        self.host = "http://" + self.host.removeprefix("https://")
        self.ssl_ca_cert = None


@dataclass
class Connection:
    """A configured client and the namespace objects without one go to."""

    api: client.ApiClient
    namespace: str
    source: str  # the kubeconfig file(s) and context, or "in-cluster"


def connect(*, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None,
            env: Mapping[str, str] | None = None, service_account: Path = SERVICE_ACCOUNT) -> Connection:
    """A client for the cluster Helm would talk to with the same flags and environment."""
    env = os.environ if env is None else env
    files = kubeconfig or env.get("KUBECONFIG") or ""
    context = context or env.get("HELM_KUBECONTEXT") or None
    namespace = namespace or env.get("HELM_NAMESPACE") or None
    cfg = client.Configuration()
    default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    if not files and env.get("KUBERNETES_SERVICE_HOST") and not default.exists():
        if context:
            raise KubeConfigError(f"--kube-context {context}: there is no kubeconfig, only the in-cluster "
                                  f"configuration (KUBERNETES_SERVICE_HOST is set)",
                                  hint="pass --kubeconfig, or leave out --kube-context")
        if env.get(SERVICE_ACCOUNT_DIR_ENV):
            service_account = Path(env[SERVICE_ACCOUNT_DIR_ENV])
        scheme = env.get(SCHEME_ENV) or "https"
        if scheme not in ("http", "https"):
            raise KubeConfigError(f"{SCHEME_ENV}={scheme}: not a scheme of the API server",
                                  hint=f"set {SCHEME_ENV} to http or https, or unset it (https)")
        try:
            loader = _InClusterLoader(scheme, token_filename=str(service_account / "token"),
                                      cert_filename=str(service_account / "ca.crt"), environ=env)
            loader.load_and_set(cfg)
        except ConfigException as e:
            raise KubeConfigError(f"in-cluster configuration ({service_account}): {e}",
                                  hint="mount the ServiceAccount token, or pass --kubeconfig") from e
        if namespace is None:
            ns_file = service_account / "namespace"
            namespace = ns_file.read_text().strip() if ns_file.exists() else None
        source = "in-cluster"
    else:
        files = files or str(default)
        paths = [p for p in files.split(os.pathsep) if p]
        if not any(Path(p).exists() for p in paths):
            raise KubeConfigError(f"kubeconfig {files}: no such file",
                                  hint="pass --kubeconfig PATH or set KUBECONFIG (as for helm and kubectl)")
        try:
            contexts, current = config.list_kube_config_contexts(config_file=files)
            chosen = current
            if context is not None:
                chosen = next((c for c in contexts if c.get("name") == context), None)
                if chosen is None:
                    names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
                    raise KubeConfigError(f"kubeconfig {files}: no context {context!r} (it has: {names})",
                                          hint="pick one of them with --kube-context")
            config.load_kube_config(config_file=files, context=context, client_configuration=cfg,
                                    persist_config=False)
        except ConfigException as e:
            raise KubeConfigError(f"kubeconfig {files}: {e}",
                                  hint="check the file with `kubectl config view`, or pass another with --kubeconfig") from e
        except (OSError, ValueError, yaml.YAMLError) as e:  # unreadable, or not YAML
            raise KubeConfigError(f"kubeconfig {files}: cannot be read: {e}",
                                  hint="check the file with `kubectl config view`") from e
        except (TypeError, AttributeError, KeyError) as e:  # YAML, but not a kubeconfig's mapping
            raise KubeConfigError(f"kubeconfig {files}: not a kubeconfig (a YAML mapping of clusters, users and "
                                  f"contexts): {type(e).__name__}: {e}",
                                  hint="check the file with `kubectl config view`, or pass another with --kubeconfig") from e
        if namespace is None and chosen:
            namespace = (chosen.get("context") or {}).get("namespace") or None
        source = f"{files} (context {(chosen or {}).get('name', '?')})"
    cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, POOL_SIZE)
    # helm-ac's own policy is the only one (the engine's, kube.cluster.retrying): urllib3 would
    # otherwise send a DELETE, GET ... refused with 429/503 and Retry-After again three times unseen,
    # so a refusal took four requests and calls and attempts were miscounted
    cfg.retries = urllib3.util.Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False)
    return Connection(client.ApiClient(cfg), namespace or "default", source)
