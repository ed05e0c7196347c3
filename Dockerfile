# bridgebot: one process carrying discussions between Telegram and Discord.
# Build: docker compose build   Run: docker compose up -d   (settings come from .env and secrets)
# No secret goes into this image: tokens are read at run time from the environment or from
# Docker secrets (BRIDGEBOT_…_FILE=/run/secrets/…).
#
# The base image is pinned by digest, so a rebuild gets the same system. This digest is the
# published python:3.11.10-slim-bookworm as pinned in a public Renovate-maintained Dockerfile
# (October 2024); it was not pulled on the machine that wrote this line (no Docker there).
# To move to a newer patch release, take the digest from
#   docker buildx imagetools inspect python:3.11-slim
# and replace both the tag and the digest below.
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Exactly the versions and files in requirements.lock (pip-compile --generate-hashes): every
# download is checked against its hash, and nothing is resolved anew. The build backend is
# locked there too, so bridgebot itself installs without fetching anything else.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY bridgebot ./bridgebot
COPY config/bridgebot.example.toml ./config/bridgebot.example.toml
COPY config/topics ./config/topics
RUN pip install --no-deps --no-build-isolation . \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin bridgebot \
    && mkdir -p /data \
    && chown bridgebot:bridgebot /data

# The SQLite database lives on a volume so that it outlives the container.
ENV BRIDGEBOT_DATABASE=/data/bridgebot.sqlite3 \
    BRIDGEBOT_HEALTH__LISTEN=0.0.0.0 \
    BRIDGEBOT_HEALTH__PORT=8080
VOLUME ["/data"]
EXPOSE 8080

USER bridgebot

# 200 only when the database answers and every platform is connected (see bridgebot/health.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["bridgebot"]
CMD ["run"]
