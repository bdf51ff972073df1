# The service on the committed default model, installed with the README's own command (make install).
FROM python:3.11-slim

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY Makefile pyproject.toml constraints.txt README.md policy.toml ./
COPY service ./service
COPY training ./training
COPY models ./models
ENV NUMBA_CACHE_DIR=/var/cache/numba
# Compile the featurizer's kernels once, at build time, into a cache every user can read.
RUN make install \
    && .venv/bin/triage score "warm-up: the kernels compile here" > /dev/null \
    && chmod -R a+rwX /var/cache/numba

# The SQLite database lives in /app/data unless TRIAGE_DATABASE_URL points elsewhere: mount a volume there.
RUN mkdir -p /app/data && chown 65534:65534 /app/data
ENV TRIAGE_HOST=0.0.0.0 \
    TRIAGE_PORT=8000 \
    TRIAGE_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1
VOLUME /app/data
EXPOSE 8000
USER 65534:65534
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD [".venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD [".venv/bin/triage", "serve"]
