# bridgebot: one process carrying discussions between Telegram and Discord.
# Build: docker compose build   Run: docker compose up -d   (settings come from .env)
# No secret goes into this image: tokens are read at run time from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridgebot ./bridgebot
COPY config/bridgebot.example.toml ./config/bridgebot.example.toml
COPY config/topics ./config/topics
RUN pip install . \
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
