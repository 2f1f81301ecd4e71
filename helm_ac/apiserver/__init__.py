"""The HTTP face of helm_ac.kubesim: the one in-memory Kubernetes served over HTTP on loopback (discovery,
OpenAPI, CRUD, patches, watch, JSON and protobuf bodies) for real Helm, kubectl and the Python client."""
