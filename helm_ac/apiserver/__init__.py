"""The HTTP face of helm_ac.kubesim: the in-memory cluster served as a Kubernetes API server."""
