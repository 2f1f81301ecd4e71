#!/usr/bin/env bash
# End-to-end on a real Kubernetes cluster (kind): build the controller image, install the WordPress
# example with `helm ac install`, check from the Definitions' statuses that MariaDB was ready before
# WordPress started, uninstall in reverse order, check nothing is left.
#
#   scripts/e2e-kind.sh            # creates the kind cluster helm-ac-e2e, deletes it at the end
#   KEEP=1 scripts/e2e-kind.sh     # leaves the cluster (and the release, if a step failed)
#
# Needs: docker, kind, helm (3.17+ or 4), kubectl, and helm-ac installed (pip install -e .).
# Exit status: 0 passed, 1 a check failed, 77 a tool is missing (skipped).
set -euo pipefail

CLUSTER=${CLUSTER:-helm-ac-e2e}
NAMESPACE=${NAMESPACE:-wp}
RELEASE=${RELEASE:-wp}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(python3 -c 'import helm_ac; print(helm_ac.__version__)')
IMAGE=${IMAGE:-ghcr.io/helm-ac/controller:$VERSION}

for tool in docker kind kubectl "${HELM_BIN:-helm}" helm-ac python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "skipped: $tool is not installed (this script needs docker, kind, helm, kubectl and helm-ac)" >&2
    exit 77
  fi
done
export HELM_BIN=${HELM_BIN:-$(command -v helm)}

step() { printf '\n== %s\n' "$*"; }
cleanup() {
  if [[ -z "${KEEP:-}" ]]; then
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

step "kind cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 120s
fi
export KUBECONFIG=${KUBECONFIG:-$(mktemp)}
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"

step "controller image $IMAGE"
docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "helm ac install $RELEASE (ordered by the controller pod)"
helm-ac install "$RELEASE" "$ROOT/examples/charts/wordpress" -n "$NAMESPACE" --create-namespace \
  --controller-image "$IMAGE" --timeout 10m

step "the order, from the Definitions' statuses"
kubectl get definitions.appcontroller.k8s -n "$NAMESPACE" -o json >"$KUBECONFIG.definitions.json"
python3 - "$RELEASE" "$KUBECONFIG.definitions.json" <<'PY'
import json, sys
from datetime import datetime

release, path = sys.argv[1], sys.argv[2]
defs = {d["metadata"]["name"]: d.get("status") or {} for d in json.load(open(path))["items"]}


def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


not_ready = sorted(n for n, s in defs.items() if s.get("phase") != "Ready")
if not_ready:
    sys.exit(f"not Ready: {not_ready}")
db, app = defs[f"statefulset-{release}-mariadb"], defs[f"deployment-{release}-wordpress"]
if t(app["startedAt"]) < t(db["finishedAt"]):
    sys.exit(f"WordPress started at {app['startedAt']}, before MariaDB was ready at {db['finishedAt']}")
print(f"{len(defs)} Definitions Ready; MariaDB ready at {db['finishedAt']}, WordPress started at {app['startedAt']}")
PY
helm-ac status "$RELEASE" -n "$NAMESPACE"
"$HELM_BIN" list -n "$NAMESPACE"

step "helm ac uninstall $RELEASE (reverse order)"
helm-ac uninstall "$RELEASE" -n "$NAMESPACE"
left=$(kubectl get all,configmaps,secrets,pvc -n "$NAMESPACE" -l "appcontroller.k8s/release=$RELEASE" -o name)
if [[ -n "$left" ]]; then
  echo "left behind after uninstall:" >&2
  echo "$left" >&2
  exit 1
fi
echo "nothing of $RELEASE left in $NAMESPACE"
step "passed"
