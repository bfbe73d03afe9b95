"""PromQL text for each signal, built from resolved metric names: pure functions, no I/O.

Label values only ever enter a query through ``escape_label_value``/``escape_regex``, so a
value can match nothing but itself. Endpoint filters come from ``Endpoint`` objects that were
discovered on the server; metric names and operator-written selectors come from the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from bot.metrics.base import Endpoint, Resource
from bot.metrics.conventions import HttpMetrics

# The syntax helpers moved to ``promql_syntax``; callers still read them here.
from bot.metrics.promql_syntax import RE2_METACHARACTERS as RE2_METACHARACTERS
from bot.metrics.promql_syntax import BadNameError as BadNameError
from bot.metrics.promql_syntax import SelectorError as SelectorError
from bot.metrics.promql_syntax import check_label_name as check_label_name
from bot.metrics.promql_syntax import escape_label_value as escape_label_value
from bot.metrics.promql_syntax import escape_regex as escape_regex
from bot.metrics.promql_syntax import number as number
from bot.metrics.promql_syntax import range_literal as range_literal
from bot.metrics.promql_syntax import regex_alternation as regex_alternation
from bot.metrics.promql_syntax import selector as selector
from bot.metrics.promql_syntax import split_selector as split_selector
from bot.metrics.settings import (
    NODE_CPU,
    NODE_MEMORY_AVAILABLE,
    NODE_MEMORY_TOTAL,
    SaturationMetrics,
)

ERROR_STATUS_REGEX = "5.."  # 500..599, and "5xx" where a status class is recorded

# What OpenCost exports (https://www.opencost.io/docs/integrations/prometheus): allocation
# (max of request and usage) per container, and the price of each node's cores and GiB.
OPENCOST_CPU_ALLOCATION = "container_cpu_allocation"
OPENCOST_MEMORY_ALLOCATION = "container_memory_allocation_bytes"
OPENCOST_CPU_PRICE = "node_cpu_hourly_cost"
OPENCOST_RAM_PRICE = "node_ram_hourly_cost"
OPENCOST_METRICS = (
    OPENCOST_CPU_ALLOCATION, OPENCOST_MEMORY_ALLOCATION, OPENCOST_CPU_PRICE, OPENCOST_RAM_PRICE,
)
GIB = 2**30


def endpoint_matchers(
    http: HttpMetrics, endpoints: Sequence[Endpoint] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Exact matchers for one endpoint, or regex alternations for several: ``(equals, regex)``.

    Several endpoints give one alternation per label, which can over-select (the cross
    product); callers keep only the columns they asked for. None selects every endpoint.
    """
    if endpoints is None:
        return {}, {}
    if not endpoints:
        raise SelectorError("expected at least one endpoint")
    labels = (http.service_label, http.route_label, http.method_label)
    if len(set(endpoints)) == 1:
        one = endpoints[0]
        return dict(zip(labels, (one.service, one.route, one.method), strict=True)), {}
    columns = (
        [e.service for e in endpoints],
        [e.route for e in endpoints],
        [e.method for e in endpoints],
    )
    return {}, {
        label: regex_alternation(values) for label, values in zip(labels, columns, strict=True)
    }


def _http_selector(
    http: HttpMetrics, suffix: str, endpoints: Sequence[Endpoint] | None, errors: bool = False
) -> str:
    equals, regex = endpoint_matchers(http, endpoints)
    if errors:
        regex[http.status_label] = ERROR_STATUS_REGEX
    return selector(f"{http.histogram}{suffix}", equals=equals, regex=regex)


def endpoint_grouping(http: HttpMetrics) -> str:
    labels = (http.service_label, http.route_label, http.method_label)
    return ", ".join(check_label_name(label) for label in labels)


def latency_query(
    http: HttpMetrics,
    quantile: float,
    rate_window: timedelta,
    endpoints: Sequence[Endpoint] | None = None,
) -> str:
    """The ``quantile`` of request duration per endpoint, in seconds."""
    if not 0 <= quantile <= 1:
        raise SelectorError(f"expected a quantile between 0 and 1, got {quantile!r}")
    buckets = _http_selector(http, "_bucket", endpoints)
    query = (
        f"histogram_quantile({number(quantile)}, sum by (le, {endpoint_grouping(http)}) "
        f"(rate({buckets}{range_literal(rate_window)})))"
    )
    if http.seconds_per_unit != 1:
        query = f"{query} * {number(http.seconds_per_unit)}"
    return query


def bucket_rates_query(
    http: HttpMetrics, rate_window: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """Each endpoint's bucket rates by ``le``: what ``latency_query`` takes the quantile of,
    so that several quantiles are read with one pass over the buckets."""
    buckets = _http_selector(http, "_bucket", endpoints)
    return (f"sum by (le, {endpoint_grouping(http)}) "
            f"(rate({buckets}{range_literal(rate_window)}))")


def pooled_latency_query(
    http: HttpMetrics, quantile: float, rate_window: timedelta, endpoints: Sequence[Endpoint]
) -> str:
    """The ``quantile`` of all the requests of ``endpoints`` together, in seconds.

    The endpoints' buckets are summed by ``le`` alone. Each endpoint is selected exactly: one
    selector per service and method, naming that pair's routes (an alternation of the routes
    of that method only), the selectors joined with ``or`` (distinct label sets, so nothing is
    counted twice). The regex alternation of ``endpoint_matchers`` would cross every route
    with every method and could pick a route of another method.
    """
    if not 0 <= quantile <= 1:
        raise SelectorError(f"expected a quantile between 0 and 1, got {quantile!r}")
    routes: dict[tuple[str, str], list[str]] = {}
    for endpoint in dict.fromkeys(endpoints):
        routes.setdefault((endpoint.service, endpoint.method), []).append(endpoint.route)
    if not routes:
        raise SelectorError("expected at least one endpoint")
    w = range_literal(rate_window)
    selectors = []
    for (service, method), names in routes.items():
        equals = {http.service_label: service, http.method_label: method}
        if len(names) == 1:
            found = selector(f"{http.histogram}_bucket",
                             equals={**equals, http.route_label: names[0]})
        else:
            found = selector(f"{http.histogram}_bucket", equals=equals,
                             regex={http.route_label: regex_alternation(names)})
        selectors.append(f"rate({found}{w})")
    query = f"histogram_quantile({number(quantile)}, sum by (le) ({' or '.join(selectors)}))"
    if http.seconds_per_unit != 1:
        query = f"{query} * {number(http.seconds_per_unit)}"
    return query


def pooled_latencies_query(
    http: HttpMetrics,
    quantile: float,
    rate_window: timedelta,
    groups: Mapping[str, Sequence[Endpoint]],
) -> str:
    """``pooled_latency_query`` of each group in one query, each group's series tagged with
    its name (``tagged_union``): one request for many services, not one each."""
    return tagged_union({
        name: pooled_latency_query(http, quantile, rate_window, members)
        for name, members in groups.items()
    })


FIGURE_LABEL = "perfbot_figure"  # tags each part of a ``tagged_union``; no exporter sets it


def tagged_union(parts: Mapping[str, str], label: str = FIGURE_LABEL) -> str:
    """Several instant-vector queries as one: each part's series get ``label`` = its name.

    The tag keeps the parts' label sets distinct, so ``or`` keeps every series of every part
    and each sample reads exactly as it would from its own query (one HTTP request, not N).
    """
    if not parts:
        raise SelectorError("expected at least one query")
    check_label_name(label)
    return " or ".join(
        f'label_replace({query}, "{label}", "{escape_label_value(name)}", "", "")'
        for name, query in parts.items()
    )


def data_steps_query(
    http: HttpMetrics, step: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """How many of the histogram's ``_count`` series (of ``endpoints``; None: all) have a
    sample in each step."""
    return f"count({data_series_query(http, step, endpoints)})"


def data_series_query(
    http: HttpMetrics, step: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """Each of the histogram's ``_count`` series (of ``endpoints``) in the steps it has a
    sample in: ``data_steps_query`` before its count, for a count over several queries."""
    # A range includes its left end: a second less keeps a sample out of two steps.
    span = step - timedelta(seconds=1) if step > timedelta(seconds=1) else step
    counts = _http_selector(http, "_count", endpoints)
    return f"count_over_time({counts}{range_literal(span)})"


def samples_query(http: HttpMetrics, span: timedelta) -> str:
    """Samples of the histogram's ``_count`` series in the ``span`` before the instant: the
    median over the series gives the scrape interval."""
    return (f"quantile(0.5, count_over_time({selector(f'{http.histogram}_count')}"
            f"{range_literal(span)}))")


def throughput_query(
    http: HttpMetrics, rate_window: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """Requests per second per endpoint."""
    counts = _http_selector(http, "_count", endpoints)
    return f"sum by ({endpoint_grouping(http)}) (rate({counts}{range_literal(rate_window)}))"


def error_ratio_query(
    http: HttpMetrics, rate_window: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """5xx over all requests per endpoint; 0 (not absent) where there is traffic but no error."""
    by = endpoint_grouping(http)
    w = range_literal(rate_window)
    errors = f"sum by ({by}) (rate({_http_selector(http, '_count', endpoints, errors=True)}{w}))"
    total = f"sum by ({by}) (rate({_http_selector(http, '_count', endpoints)}{w}))"
    return f"({errors} or {total} * 0) / {total}"


def _service_matchers(label: str, services: Sequence[str] | None) -> dict[str, dict[str, str]]:
    if services is None:
        # cAdvisor also reports pod-level cgroups with an empty container label.
        return {"not_equals": {label: ""}}
    if not services:
        raise SelectorError("expected at least one service")
    return {"regex": {label: regex_alternation(services)}}


def cpu_query(
    saturation: SaturationMetrics, rate_window: timedelta, services: Sequence[str] | None = None
) -> str:
    """CPU seconds per second over the CPU limit, per service."""
    return _usage_over_limit(saturation, "rate", saturation.cpu_usage, saturation.cpu_limit,
                             rate_window, services)


def memory_query(
    saturation: SaturationMetrics, rate_window: timedelta, services: Sequence[str] | None = None
) -> str:
    """Average working set over the window, over the memory limit, per service."""
    return _usage_over_limit(saturation, "avg_over_time", saturation.memory_usage,
                             saturation.memory_limit, rate_window, services)


def _usage_over_limit(
    saturation: SaturationMetrics,
    function: str,
    usage_metric: str | None,
    limit_metric: str | None,
    rate_window: timedelta,
    services: Sequence[str] | None,
) -> str:
    """``function`` of the usage over the window, over the limit, summed per service."""
    label = check_label_name(saturation.service_label)
    match = _service_matchers(label, services)
    usage = selector(_metric(usage_metric, "usage"), **match)
    limit = selector(_metric(limit_metric, "limit"), **match)
    return (
        f"sum by ({label}) ({function}({usage}{range_literal(rate_window)})) "
        f"/ sum by ({label}) ({limit})"
    )


def busy_time_query(
    http: HttpMetrics, rate_window: timedelta, endpoints: Sequence[Endpoint] | None = None
) -> str:
    """Seconds of request time per second per endpoint, from the histogram's ``_sum``."""
    sums = _http_selector(http, "_sum", endpoints)
    query = f"sum by ({endpoint_grouping(http)}) (rate({sums}{range_literal(rate_window)}))"
    if http.seconds_per_unit != 1:
        query = f"{query} * {number(http.seconds_per_unit)}"
    return query


def latency_within_query(
    http: HttpMetrics,
    le: str,
    rate_window: timedelta,
    endpoints: Sequence[Endpoint] | None = None,
) -> str:
    """Share of requests at or under the bucket bound ``le`` (as the server writes it)."""
    by = endpoint_grouping(http)
    w = range_literal(rate_window)
    equals, regex = endpoint_matchers(http, endpoints)
    within = selector(f"{http.histogram}_bucket", equals={**equals, "le": le}, regex=regex)
    total = _http_selector(http, "_count", endpoints)
    return f"sum by ({by}) (rate({within}{w})) / sum by ({by}) (rate({total}{w}))"


def resource_query(
    saturation: SaturationMetrics,
    resource: Resource,
    rate_window: timedelta,
    services: Sequence[str] | None = None,
) -> str:
    """Cores or bytes per service, summed over its containers.

    CPU in use is a rate over the window; limits and the working set are read at each point
    (not ``avg_over_time``, which would count a container that lived a minute of the window
    as if it lived all of it).
    """
    label = check_label_name(saturation.service_label)
    match = _service_matchers(label, services)
    if resource is Resource.CPU_CORES:
        usage = selector(_metric(saturation.cpu_usage, "CPU usage"), **match)
        return f"sum by ({label}) (rate({usage}{range_literal(rate_window)}))"
    metric = {
        Resource.CPU_LIMIT_CORES: saturation.cpu_limit,
        Resource.MEMORY_BYTES: saturation.memory_usage,
        Resource.MEMORY_LIMIT_BYTES: saturation.memory_limit,
    }[resource]
    return f"sum by ({label}) ({selector(_metric(metric, str(resource)), **match)})"


def _metric(name: str | None, what: str) -> str:
    if name is None:
        raise SelectorError(f"no {what} metric (none found or set in metrics.saturation)")
    return name


# node_exporter's instance is host:9100, a service's own host:port: match on the host.
_HOST = '"host", "$1", "instance", "([^:]+)(?::[0-9]+)?"'


def _on_host(expression: str) -> str:
    return f"label_replace({expression}, {_HOST})"


def host_saturation_query(
    saturation: SaturationMetrics,
    cpu: bool,
    rate_window: timedelta,
    services: Sequence[str] | None = None,
) -> str:
    """The share of CPU (``cpu``) or memory in use on the busiest host each service runs on,
    from node_exporter: a host-level saturation where services have no limits.

    A service's hosts are those its own usage series come from, matched to node_exporter's
    on the host part of ``instance``.
    """
    label = check_label_name(saturation.service_label)
    match = _service_matchers(label, services)
    w = range_literal(rate_window)
    if cpu:
        own = selector(_metric(saturation.cpu_usage, "CPU usage"), **match)
        idle = selector(NODE_CPU, equals={"mode": "idle"})
        host = f"1 - avg by (host) ({_on_host(f'rate({idle}{w})')})"
    else:
        own = selector(_metric(saturation.memory_usage, "memory usage"), **match)
        host = (f"1 - sum by (host) ({_on_host(NODE_MEMORY_AVAILABLE)}) "
                f"/ sum by (host) ({_on_host(NODE_MEMORY_TOTAL)})")
    hosts = f"group by ({label}, host) ({_on_host(own)})"
    return f"max by ({label}) ({hosts} * on (host) group_left () ({host}))"


def opencost_hourly_query(service_label: str, services: Sequence[str] | None = None) -> str:
    """OpenCost's hourly cost per service: CPU and memory allocation at their node's prices.

    Allocations are de-duplicated per container (several OpenCost replicas may export the
    same one) and joined on ``node`` to one price per node.
    """
    label = check_label_name(service_label)
    match = _service_matchers(label, services)
    per_container = ", ".join(dict.fromkeys((label, "namespace", "pod", "container", "node")))

    def part(allocation: str, price: str, scale: str) -> str:
        held = f"max by ({per_container}) ({selector(allocation, **match)}){scale}"
        return (f"sum by ({label}) ({held} * on (node) group_left () "
                f"avg by (node) ({selector(price)}))")

    cpu = part(OPENCOST_CPU_ALLOCATION, OPENCOST_CPU_PRICE, "")
    memory = part(OPENCOST_MEMORY_ALLOCATION, OPENCOST_RAM_PRICE, f" / {GIB}")
    return f"{cpu} + {memory}"


def discovery_selector(http: HttpMetrics) -> str:
    """The ``match[]`` for series discovery: every ``<hist>_count`` series with a route."""
    return selector(f"{http.histogram}_count", not_equals={http.route_label: ""})


def histogram_selector(http: HttpMetrics) -> str:
    """The ``match[]`` whose label names tell how the histogram is labelled."""
    return selector(f"{http.histogram}_bucket")
