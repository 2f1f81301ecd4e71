# The helm-ac controller image: `python -m helm_ac.controller` (docs/controller.md), the image
# `helm ac` deploys for a release (ghcr.io/helm-ac/controller:<version>, or --controller-image).
#
#   docker build -t ghcr.io/helm-ac/controller:0.1.0 .
#
# The package and its dependencies (no test extras) are installed in a build stage and copied into
# a fresh slim Python; the controller runs as a non-root numeric user (a Pod's runAsNonRoot can check
# it), needs no shell and writes nothing (readOnlyRootFilesystem: the bytecode is compiled at build).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY helm_ac ./helm_ac
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="helm-ac controller" \
      org.opencontainers.image.description="Rolls a Helm release's objects out in dependency order" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
USER 65532:65532
ENTRYPOINT ["python", "-m", "helm_ac.controller"]
