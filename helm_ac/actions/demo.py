"""``helm ac demo`` (issue 11 point 6): an ordered install and teardown with no cluster at hand.

Starts the embedded API server in this process (its controller Pods run for real:
``Options(run_pods=True)``), with timings that make the order visible (MariaDB ~3 s, WordPress
~2 s), and a kubeconfig and Helm homes in a temporary directory; then, through the same code as
the commands: ``helm ac install wp examples/charts/wordpress`` with live progress, ``helm ac status
wp``, ``helm list``, ``helm ac uninstall wp`` showing the reverse-order deletes, and stops the
server. ``keep``: the release stays and the server runs until the caller's ``hold`` returns.

Helm is ``$HELM_BIN``, else the one ``scripts/get_helm.py`` fetches when helm-ac runs from a checkout
(``--helm 3|4`` picks it there).
"""
from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from helm_ac.actions.install import Install
from helm_ac.actions.status import Status
from helm_ac.apiserver import server as apiserver
from helm_ac.engine.events import Event
from helm_ac.errors import UserError
from helm_ac.rendering.helm import Helm, run_command

#: the checkout this package runs from, if it is one
ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "examples" / "charts" / "wordpress"
RELEASE = "wp"
NAMESPACE = "default"
#: the simulated controllers' timings: MariaDB takes ~3 s, WordPress ~2 s, so the order shows
BEHAVIOUR = {"jitter": 0, "rules": [{"kind": "StatefulSet", "name": f"{RELEASE}-mariadb", "seconds": 3},
                                    {"kind": "Deployment", "name": f"{RELEASE}-wordpress", "seconds": 2}]}


def find_helm(env: dict[str, str], major: str | None) -> str:
    """``$HELM_BIN`` (unless ``major`` asks for a fetched one), else ``scripts/get_helm.py`` of the checkout."""
    if env.get("HELM_BIN") and major is None:
        return env["HELM_BIN"]
    script = ROOT / "scripts" / "get_helm.py"
    if not script.is_file():
        raise UserError("helm ac demo needs helm (3.12 or newer): set HELM_BIN to its path"
                        + (" (--helm fetches one only from a checkout of helm-ac)" if major else ""),
                        hint="install helm: https://helm.sh/docs/intro/install/ , then HELM_BIN=$(command -v helm) "
                             "helm-ac demo; or run the demo from a checkout of helm-ac (it fetches helm itself)")
    spec = importlib.util.spec_from_file_location("helm_ac_get_helm", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.fetch(major or "4"))


@dataclass
class Demo:
    keep: bool = False
    helm_major: str | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    say: Callable[[str], None] = lambda line: None
    sink: Callable[[Event], None] = lambda e: None
    on_delete: Callable[[float, str, str, str], None] = lambda t, k, s, m: None

    def run(self, hold: Callable[[Path], None] = lambda path: None) -> int:
        if not CHART.is_dir():
            raise UserError(f"the WordPress example is not here ({CHART}): helm ac demo runs from a checkout "
                            "of helm-ac", hint="git clone the repository and run it there")
        start = time.monotonic()
        binary = find_helm(self.env, self.helm_major)
        version = Helm(binary, self.env).check_version()
        with tempfile.TemporaryDirectory(prefix="helm-ac-demo-") as tmp_:
            tmp = Path(tmp_)
            behaviour = tmp / "behaviour.yaml"
            behaviour.write_text(yaml.safe_dump(BEHAVIOUR))
            kubeconfig = tmp / "kubeconfig"
            self.say(f"== starting an in-memory Kubernetes API server (helm-ac's own; helm {'.'.join(map(str, version))})")
            opts = apiserver.Options(behaviour=behaviour, run_pods=True, pod_logs=tmp / "pods")
            with apiserver.running(opts, kubeconfig=kubeconfig) as srv:
                self.say(f"   {srv.url}, kubeconfig {kubeconfig}")
                env = {k: v for k, v in self.env.items() if not k.startswith("HELM_") and k != "KUBECONFIG"}
                env.update(HELM_BIN=binary, KUBECONFIG=str(kubeconfig), HELM_CACHE_HOME=str(tmp / "helm" / "cache"),
                           HELM_CONFIG_HOME=str(tmp / "helm" / "config"), HELM_DATA_HOME=str(tmp / "helm" / "data"))
                code = self._show(env, binary, kubeconfig)
                if code == 0 and self.keep:
                    hold(kubeconfig)
                    return 0
                if code == 0:
                    code = self._uninstall(env)
                self.say("== stopping the server")
            if code == 0:
                self.say(f"== done in {time.monotonic() - start:.0f}s: MariaDB first, WordPress once it was ready; "
                         "deleted in reverse order")
            return code

    def _show(self, env: dict[str, str], binary: str, kubeconfig: Path) -> int:
        chart = os.path.relpath(CHART) if not os.path.relpath(CHART).startswith("..") else str(CHART)
        self.say(f"\n== helm ac install {RELEASE} {chart}   (lint, CRDs, helm install with helm-ac as post-renderer; "
                 "the controller pod creates each object once what it waits for is ready)")
        got = Install("install", [RELEASE, str(CHART)], env=env, note=lambda line: self.say(f"   {line}"),
                      sink=self.sink).run()
        if got.helm_out:
            self.say(_indent(got.helm_out))
        if got.code != 0:
            for line in [*got.problems, *(got.helm_err.strip().splitlines())]:
                self.say(f"Error: {line}")
            return got.code
        self.say(f"\n== helm ac status {RELEASE}")
        context = (yaml.safe_load(kubeconfig.read_text()) or {}).get("current-context")
        view, now = Status(kubeconfig=str(kubeconfig), context=context, namespace=NAMESPACE).run(RELEASE)
        self.say(_indent(view.table(now)))
        self.say("== helm list")
        _, out, err = run_command(Helm(binary, env), ["list", "-n", NAMESPACE], env)
        self.say(_indent(out or err))
        return 0

    def _uninstall(self, env: dict[str, str]) -> int:
        self.say(f"== helm ac uninstall {RELEASE}   (dependents first, each delete awaited)")
        got = Install("uninstall", [RELEASE], env=env, note=lambda line: self.say(f"   {line}"),
                      on_delete=self.on_delete).run()
        if got.helm_out:
            self.say(_indent(got.helm_out))
        for line in [*got.problems, *([] if got.code == 0 else got.helm_err.strip().splitlines())]:
            self.say(f"Error: {line}")
        return got.code


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" if line else "" for line in text.rstrip().splitlines())


def keep_message(kubeconfig: Path) -> list[str]:
    return [f"\n== the server keeps running; kubeconfig: {kubeconfig}", f"   export KUBECONFIG={kubeconfig}",
            f"   then: helm ac status {RELEASE}, helm list, kubectl get definitions, helm ac uninstall {RELEASE}",
            "   (kubectl: python3 scripts/get_helm.py kubectl fetches one)", "   Stop with Ctrl-C."]


__all__: list[Any] = ["Demo", "keep_message", "find_helm"]
