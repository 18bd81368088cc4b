# syncer in a container: `docker build -t syncer .`, then
#   docker run --rm -v "$PWD:/repo" syncer plan               (one-shot, in a data repository)
#   docker run -d -v "$PWD:/repo" -v syncer-state:/state syncer watch -m manifests
# The entrypoint is syncer itself (exec form), so `docker stop` delivers SIGTERM to it and a
# watch finishes the batch in flight; it runs as an unprivileged user.
ARG PYTHON=3.11

FROM python:${PYTHON}-slim AS build
# optional targets to include: "zilliz", "milvus", "postgres" (comma-separated), or none
ARG EXTRAS=zilliz
WORKDIR /src
COPY pyproject.toml README.md ./
COPY syncer ./syncer
RUN pip install --no-cache-dir --prefix=/install ".${EXTRAS:+[$EXTRAS]}"

FROM python:${PYTHON}-slim
RUN useradd --create-home --uid 10001 syncer && mkdir /state /repo && chown syncer /state /repo
COPY --from=build /install /usr/local
USER syncer
WORKDIR /repo
ENV SYNCER_STATE=/state/syncer.db \
    SYNCER_WATCH_HEALTH_PORT=9464 \
    PYTHONUNBUFFERED=1
VOLUME ["/state"]
EXPOSE 9464
# healthy while `syncer watch` answers /healthz (a one-shot command exits before it matters)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['SYNCER_WATCH_HEALTH_PORT'] + '/healthz', timeout=4)"]
ENTRYPOINT ["syncer"]
CMD ["watch", "-m", "manifests"]
