"""The Prometheus adapter package: ``PrometheusBackend`` (``backend.py``) over the HTTP API
client (``client.py``, ``errors.py``), discovery (``discovery.py``) and the bucket cache
(``buckets.py``)."""

from bot.metrics.prometheus.backend import PrometheusBackend

__all__ = ["PrometheusBackend"]
