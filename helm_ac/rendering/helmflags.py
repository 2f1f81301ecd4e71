"""What helm-ac knows of helm's flags, in one table: every flag of ``helm template`` (its own and
helm's global ones) in Helm 3.17 and 4.1, whether it takes a value, and whether ``helm pull``
needs it too.

helm-ac passes helm's flags through unchanged; it only needs to tell a flag's value from a
chart (``--color never CHART``: ``never`` is no chart).  helm parses flags with pflag, where a
flag either takes the next argument as its value (``--set a=b``, ``-n shop``) or does not: a
boolean, or a flag whose value is optional and then only attached with ``=`` (``--dry-run``,
Helm 4's ``--wait``, e.g. ``--wait=watcher``).  A flag missing from this table is read as one
that takes no value.

``tests/test_helm_flags.py`` checks the table against ``helm template --help`` and ``helm pull
--help`` of both Helm versions; when a new helm adds a flag, the test names it.

Imported at start-up (by :mod:`helm_ac.rendering.helm`): plain data, no imports.
"""
from __future__ import annotations

#: Arity: the flag takes the next argument as its value (``--flag VALUE``; ``--flag=VALUE`` works too).
VALUE = "value"
#: Arity: the flag takes no separate value (a boolean; or an optional value given as ``--flag=VALUE``).
FLAG = "flag"

#: ``--long``: (short letter or "", arity, also passed to ``helm pull`` when a remote chart is fetched).
FLAGS: dict[str, tuple[str, str, bool]] = {
    # helm template's own flags (both versions unless noted)
    "--api-versions": ("a", VALUE, False),
    "--atomic": ("", FLAG, False),  # Helm 3
    "--ca-file": ("", VALUE, True),
    "--cert-file": ("", VALUE, True),
    "--create-namespace": ("", FLAG, False),
    "--dependency-update": ("", FLAG, False),
    "--description": ("", VALUE, False),
    "--devel": ("", FLAG, True),
    "--disable-openapi-validation": ("", FLAG, False),
    "--dry-run": ("", FLAG, False),  # optional value: --dry-run=server
    "--enable-dns": ("", FLAG, False),
    "--force": ("", FLAG, False),  # Helm 3
    "--force-conflicts": ("", FLAG, False),  # Helm 4
    "--force-replace": ("", FLAG, False),  # Helm 4
    "--generate-name": ("g", FLAG, False),
    "--help": ("h", FLAG, False),
    "--hide-notes": ("", FLAG, False),
    "--include-crds": ("", FLAG, False),
    "--insecure-skip-tls-verify": ("", FLAG, True),
    "--is-upgrade": ("", FLAG, False),
    "--key-file": ("", VALUE, True),
    "--keyring": ("", VALUE, True),
    "--kube-version": ("", VALUE, False),
    "--labels": ("l", VALUE, False),
    "--name-template": ("", VALUE, False),
    "--no-hooks": ("", FLAG, False),
    "--output-dir": ("", VALUE, False),
    "--pass-credentials": ("", FLAG, True),
    "--password": ("", VALUE, True),
    "--plain-http": ("", FLAG, True),
    "--post-renderer": ("", VALUE, False),
    "--post-renderer-args": ("", VALUE, False),
    "--release-name": ("", FLAG, False),
    "--render-subchart-notes": ("", FLAG, False),
    "--replace": ("", FLAG, False),
    "--repo": ("", VALUE, True),
    "--rollback-on-failure": ("", FLAG, False),  # Helm 4
    "--server-side": ("", FLAG, False),  # Helm 4
    "--set": ("", VALUE, False),
    "--set-file": ("", VALUE, False),
    "--set-json": ("", VALUE, False),
    "--set-literal": ("", VALUE, False),
    "--set-string": ("", VALUE, False),
    "--show-only": ("s", VALUE, False),
    "--skip-crds": ("", FLAG, False),
    "--skip-schema-validation": ("", FLAG, False),
    "--skip-tests": ("", FLAG, False),
    "--take-ownership": ("", FLAG, False),
    "--timeout": ("", VALUE, False),
    "--username": ("", VALUE, True),
    "--validate": ("", FLAG, False),  # Helm 3
    "--values": ("f", VALUE, False),
    "--verify": ("", FLAG, True),
    "--version": ("", VALUE, True),
    "--wait": ("", FLAG, False),  # Helm 3: boolean; Helm 4: optional value (--wait=watcher)
    "--wait-for-jobs": ("", FLAG, False),
    # helm's global flags
    "--burst-limit": ("", VALUE, False),
    "--color": ("", VALUE, False),  # Helm 4
    "--colour": ("", VALUE, False),  # Helm 4
    "--content-cache": ("", VALUE, True),  # Helm 4
    "--debug": ("", FLAG, False),
    "--kube-apiserver": ("", VALUE, False),
    "--kube-as-group": ("", VALUE, False),
    "--kube-as-user": ("", VALUE, False),
    "--kube-ca-file": ("", VALUE, False),
    "--kube-context": ("", VALUE, False),
    "--kube-insecure-skip-tls-verify": ("", FLAG, False),
    "--kube-tls-server-name": ("", VALUE, False),
    "--kube-token": ("", VALUE, False),
    "--kubeconfig": ("", VALUE, False),
    "--namespace": ("n", VALUE, False),
    "--qps": ("", VALUE, False),
    "--registry-config": ("", VALUE, True),
    "--repository-cache": ("", VALUE, True),
    "--repository-config": ("", VALUE, True),
}

#: Every spelling (``--long`` and ``-s``) of the flags that take the next argument as their value.
VALUE_FLAGS = frozenset(
    [name for name, (_, arity, _) in FLAGS.items() if arity == VALUE]
    + [f"-{short}" for short, arity, _ in FLAGS.values() if short and arity == VALUE])
#: The short flags that take a value, as letters (``-nshop`` is ``-n shop``).
SHORT_VALUE_LETTERS = "".join(sorted(short for short, arity, _ in FLAGS.values() if short and arity == VALUE))
#: helm's global flags (the table's last part): every helm command takes them (``helm get hooks`` too).
_GLOBAL = list(FLAGS)[list(FLAGS).index("--burst-limit"):]
GLOBAL_FLAGS = frozenset(_GLOBAL + [f"-{FLAGS[name][0]}" for name in _GLOBAL if FLAGS[name][0]])  # and -n
#: The flags ``helm pull`` is given too, when a remote chart is fetched to read its Chart.yaml.
PULL_FLAGS = frozenset(name for name, (_, _, pull) in FLAGS.items() if pull)

