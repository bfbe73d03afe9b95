FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY playbooks ./playbooks
COPY perfbot.example.yaml ./
RUN pip install --no-cache-dir . && useradd --create-home perfbot
USER perfbot
ENTRYPOINT ["perfbot"]
CMD ["demo"]
