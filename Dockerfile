# The service on the committed default model, installed with the README's own command (make install).
# Two stages: the build stage has make and runs the install; the image keeps Python, the virtual
# environment, the app and the compiled kernels, and runs as a named user without privileges.
FROM python:3.11-slim AS build

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

# `make install` makes an editable install of /app: the image keeps the same path, so it still holds.
WORKDIR /app
COPY Makefile pyproject.toml constraints.txt README.md policy.toml ./
COPY service ./service
COPY training ./training
COPY models ./models
ENV NUMBA_CACHE_DIR=/var/cache/numba
# Compile the featurizer's kernels once, at build time, into a cache every user can read.
RUN make install \
    && .venv/bin/triage score "warm-up: the kernels compile here" > /dev/null \
    && .venv/bin/triage score "warm-up: one byte a character, £ and é" > /dev/null \
    && .venv/bin/triage score "warm-up: any other character, € and 😊" > /dev/null \
    && chmod -R a+rwX "$NUMBA_CACHE_DIR"

FROM python:3.11-slim
RUN groupadd --system --gid 10001 triage \
    && useradd --system --uid 10001 --gid triage --home-dir /app --no-create-home --shell /usr/sbin/nologin triage
WORKDIR /app
COPY --from=build /app /app
COPY --from=build /var/cache/numba /var/cache/numba
# The SQLite database and the model cache live in /app/data (mount a volume there); with
# TRIAGE_DATABASE_URL on PostgreSQL only the model cache does, rebuilt from the database at start.
RUN mkdir -p /app/data && chown triage:triage /app/data
# `triage` on the PATH, for `docker exec ... triage keys create` and the other commands.
ENV PATH=/app/.venv/bin:$PATH \
    NUMBA_CACHE_DIR=/var/cache/numba \
    TRIAGE_HOST=0.0.0.0 \
    TRIAGE_PORT=8000 \
    TRIAGE_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1
VOLUME /app/data
EXPOSE 8000
# The user `triage`, by number: a runtime can then tell it is not root without reading /etc/passwd.
USER 10001:10001
# Liveness only: /readyz answers 503 while a worker loads the model, which is not a reason to restart it.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD ["/app/.venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["/app/.venv/bin/triage", "serve"]
