"""The engine on a real Kubernetes API: the official ``kubernetes`` client behind the engine's
Cluster seam (:mod:`.cluster`), configured as Helm is (:mod:`.config`), driven on an asyncio loop
(:mod:`.aio`).  See docs/engine.md, *The kube face*."""
