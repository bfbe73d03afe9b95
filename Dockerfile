FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY playbooks ./playbooks
COPY perfbot.example.yaml ./
# The postgres extra so storage.url may point at PostgreSQL; playbooks install with the package.
RUN pip install --no-cache-dir '.[postgres]' \
    && useradd --create-home perfbot && mkdir /data && chown perfbot /data
USER perfbot
# The working folder is /data: ./perfbot.yaml, ./playbooks and the default SQLite file
# (sqlite:///perfbot.db) live there, on a volume that outlives the container.
WORKDIR /data
VOLUME /data
ENTRYPOINT ["perfbot"]
CMD ["demo"]
