# perfbot: `docker build -t perfbot .`, then `docker compose up` (docker-compose.yml) or
# `docker run --rm -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN -v perfbot-data:/data perfbot`.
# tests/integration/test_deploy.py runs this file's builder and install commands and its
# entry point in a fresh virtual environment (no Docker engine there).

# --- build: the wheel, from the sources only ---------------------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY playbooks ./playbooks
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime: the wheel installed, no compiler, no sources -------------------------------
FROM python:3.11-slim
# MALLOC_ARENA_MAX: two glibc malloc arenas, not 8 per core, so what the bot's threads free
# is reused and trimmed (README, "Memory"); `perfbot run` sets it too, after Python's start.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MALLOC_ARENA_MAX=2
COPY --from=build /wheels /wheels
# The postgres extra so storage.url may point at PostgreSQL. The playbooks come with the
# wheel (share/perfbot/playbooks), found when /data has no ./playbooks of its own.
RUN pip install --no-cache-dir "$(ls /wheels/perfbot-*.whl)[postgres]" && rm -rf /wheels
RUN useradd --create-home --uid 10001 perfbot && mkdir /data && chown perfbot /data
USER perfbot
# The working folder is /data: ./perfbot.yaml, ./playbooks and the default SQLite file
# (sqlite:///perfbot.db) live there, on a volume that outlives the container.
WORKDIR /data
VOLUME /data
# The operational port (server.listen): /healthz, /readyz, /metrics, POST /alertmanager.
EXPOSE 8080
# No curl in the slim image: the standard library asks. 200 is healthy, anything else not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["perfbot"]
CMD ["run"]
