"""The HTTP client's own CPU per request: instant queries to a real Prometheus, one after
another, through ``PrometheusClient`` and, for the floor, a bare ``requests`` session.

```sh
.venv/bin/python benchmarks/client_cost.py --requests 500
```

``cpu`` is the process's CPU (all threads) per request; the query (``vector(1)``) costs
the server next to nothing, so the figures are the client's own work (and the kernel's).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from prom_bench import END, backend_on, start_server

from tests.prometheus_server import PrometheusServer


def measure(name: str, call: Callable[[], object], n: int) -> None:
    call()  # connect once: the loop measures kept-alive requests
    threads = threading.active_count()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name:18} {n} requests: cpu {cpu / n * 1000:.3f} ms/request, "
          f"wall {wall / n * 1000:.3f} ms/request, threads {threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(1, Path(tmp))
        try:
            run(server, args.requests, args.rounds)
        finally:
            server.stop()


def run(server: PrometheusServer, n: int, rounds: int) -> None:
    client = backend_on(server)._client
    session = requests.Session()
    url = f"{server.url}/api/v1/query"
    params = {"query": "vector(1)", "time": f"{END.timestamp():.3f}"}
    for _ in range(rounds):
        measure("PrometheusClient", lambda: client.query("vector(1)", END), n)
        measure("bare requests", lambda: session.get(url, params=params).content, n)


if __name__ == "__main__":
    main()
