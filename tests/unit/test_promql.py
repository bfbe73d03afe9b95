import re
from datetime import timedelta

import pytest

from bot.metrics import promql
from bot.metrics.base import Endpoint, Resource
from bot.metrics.conventions import CONVENTIONS, resolve_http_metrics
from bot.metrics.settings import PROCESS_METRICS, MetricNames, SaturationMetrics

OTEL = CONVENTIONS["otel"]
LEGACY = CONVENTIONS["otel_legacy"]
FIVE_MINUTES = timedelta(minutes=5)

HOSTILE = [
    'checkout"} or vector(1)',
    'checkout"} or vector(1) or foo{a="',
    "a.*|b",
    "\\",
    'end\\"',
    "x\\\"} or vector(1) #",
    "line\nbreak",
    "cr\rlf",
    "^$.+*?()[]{}|\\",
    "/api/menu/{restaurant_id}",
    "café ☕ 東京",
    "",
    "'single' `back`",
]


def decode_promql_string(body: str) -> str:
    """What Prometheus reads from the body of a double-quoted string (the escapes we emit)."""
    escapes = {"\\": "\\", '"': '"', "n": "\n", "r": "\r"}
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            assert body[i] not in '"\n', f"unescaped {body[i]!r} in {body!r}"
            out.append(body[i])
            i += 1
    return "".join(out)


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)


def skeleton(query: str) -> str:
    """The query with every string literal blanked: its structure."""
    return _STRING.sub('""', query)


def literals(query: str) -> list[str]:
    return [decode_promql_string(body) for body in _STRING.findall(query)]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("checkout", "checkout"),
        ('say "hi"', 'say \\"hi\\"'),
        ("C:\\path", "C:\\\\path"),
        ("two\nlines", "two\\nlines"),
        ("cr\r", "cr\\r"),
        ("\\n", "\\\\n"),  # a backslash then n, not a newline
        ("café ☕", "café ☕"),
        ("a.*|b", "a.*|b"),  # not special in an exact matcher
    ],
)
def test_label_value_escaping(value: str, escaped: str) -> None:
    assert promql.escape_label_value(value) == escaped
    assert decode_promql_string(escaped) == value


@pytest.mark.parametrize("char", sorted(promql.RE2_METACHARACTERS))
def test_every_regex_metacharacter_is_escaped(char: str) -> None:
    body = promql.escape_regex(f"a{char}b")
    regex = decode_promql_string(body)
    assert regex == f"a\\{char}b"
    assert re.fullmatch(regex, f"a{char}b")


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_regex_matches_only_the_value_itself(value: str) -> None:
    regex = decode_promql_string(promql.escape_regex(value))
    assert re.fullmatch(regex, value)
    for other in ("checkout", "a", "b", "ab", value + "x", "x" + value, ""):
        if other != value:
            assert not re.fullmatch(regex, other), (value, other)


def test_alternation_matches_each_value_and_nothing_else() -> None:
    values = ["/a.b", "/a|b", "/c(d)"]
    regex = promql.regex_alternation(values)
    assert all(re.fullmatch(regex, v) for v in values)
    for other in ("/aXb", "/a", "b", "/c", "/cd", "/a.b|/a"):
        assert not re.fullmatch(regex, other)


def test_selector_merges_into_an_operator_written_selector() -> None:
    built = promql.selector(
        'kube_pod_container_resource_limits{resource="cpu",}', equals={"container": "search"}
    )
    assert built == 'kube_pod_container_resource_limits{resource="cpu", container="search"}'
    assert promql.selector("up") == "up"
    assert promql.selector('{__name__="up"}', not_equals={"job": ""}) == '{__name__="up", job!=""}'


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("not a name", "expected a metric name"),
        ('limits{resource="cpu"', "end with '}'"),
        ("{}", "expected a metric name or matchers"),
        ("9lives", "expected a metric name"),
    ],
)
def test_bad_selectors_are_refused_with_a_reason(metric: str, message: str) -> None:
    with pytest.raises(promql.SelectorError, match=re.escape(message)):
        promql.selector(metric)


def test_bad_label_names_are_refused() -> None:
    with pytest.raises(promql.SelectorError, match="label name"):
        promql.selector("up", equals={'job"} or vector(1) #': "x"})


def test_latency_query_for_all_endpoints() -> None:
    assert promql.latency_query(OTEL, 0.95, FIVE_MINUTES) == (
        "histogram_quantile(0.95, sum by (le, job, http_route, http_request_method) "
        "(rate(http_server_request_duration_seconds_bucket[5m])))"
    )


def test_latency_in_milliseconds_is_scaled_to_seconds() -> None:
    query = promql.latency_query(LEGACY, 0.99, timedelta(hours=1, minutes=30))
    assert query == (
        "histogram_quantile(0.99, sum by (le, job, http_route, http_method) "
        "(rate(http_server_duration_milliseconds_bucket[1h30m]))) * 0.001"
    )


def test_client_library_convention_uses_its_own_labels() -> None:
    http = resolve_http_metrics(
        MetricNames(), {"http_request_duration_seconds_bucket"}, {"le", "job", "route", "method",
                                                                  "code"}
    )
    query = promql.throughput_query(http, FIVE_MINUTES, [Endpoint(service="api", route="/x",
                                                                  method="GET")])
    assert query == (
        "sum by (job, route, method) "
        '(rate(http_request_duration_seconds_count{job="api", route="/x", method="GET"}[5m]))'
    )


def test_several_endpoints_become_escaped_alternations() -> None:
    endpoints = [
        Endpoint(service="orders", route="/api/orders/{order_id}", method="GET"),
        Endpoint(service="orders", route="/api/orders", method="POST"),
    ]
    query = promql.throughput_query(OTEL, FIVE_MINUTES, endpoints)
    assert literals(query) == [
        "orders",
        "/api/orders|/api/orders/\\{order_id\\}",
        "GET|POST",
    ]


def test_error_ratio_is_zero_not_absent_without_errors() -> None:
    query = promql.error_ratio_query(OTEL, FIVE_MINUTES)
    errors = (
        'sum by (job, http_route, http_request_method) (rate(http_server_request_duration_seconds'
        '_count{http_response_status_code=~"5.."}[5m]))'
    )
    total = (
        "sum by (job, http_route, http_request_method) "
        "(rate(http_server_request_duration_seconds_count[5m]))"
    )
    assert query == f"({errors} or {total} * 0) / {total}"
    assert re.fullmatch(promql.ERROR_STATUS_REGEX, "5xx")
    assert not re.fullmatch(promql.ERROR_STATUS_REGEX, "404")


def test_saturation_queries_merge_the_service_matcher() -> None:
    saturation = SaturationMetrics()
    cpu = promql.cpu_query(saturation, FIVE_MINUTES, ["search", "menu"])
    assert cpu == (
        'sum by (container) (rate(container_cpu_usage_seconds_total{container=~"menu|search"}[5m]))'
        ' / sum by (container) (kube_pod_container_resource_limits{resource="cpu", '
        'container=~"menu|search"})'
    )
    memory = promql.memory_query(saturation, FIVE_MINUTES)
    assert 'container_memory_working_set_bytes{container!=""}' in memory
    assert 'kube_pod_container_resource_limits{resource="memory", container!=""}' in memory


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["service", "route", "method"])
def test_hostile_values_never_change_the_query_structure(value: str, field: str) -> None:
    benign = {"service": "svc", "route": "/r", "method": "GET"}
    hostile = Endpoint(**{**benign, field: value})
    other = Endpoint(service="other", route="/o", method="PUT")
    builders = [
        lambda eps: promql.latency_query(OTEL, 0.5, FIVE_MINUTES, eps),
        lambda eps: promql.throughput_query(OTEL, FIVE_MINUTES, eps),
        lambda eps: promql.error_ratio_query(LEGACY, FIVE_MINUTES, eps),
    ]
    for build in builders:
        one, many = build([hostile]), build([hostile, other])
        assert skeleton(one) == skeleton(build([Endpoint(**benign)]))
        assert skeleton(many) == skeleton(build([Endpoint(**benign), other]))
        assert value in literals(one)  # exact matcher: the value itself
        regexes = literals(many)
        assert any(re.fullmatch(r, value) for r in regexes)
    services = promql.cpu_query(SaturationMetrics(), FIVE_MINUTES, [value, "other"])
    assert skeleton(services) == skeleton(
        promql.cpu_query(SaturationMetrics(), FIVE_MINUTES, ["svc", "other"])
    )


@pytest.mark.parametrize("quantile", [float("nan"), float("inf"), -0.1, 1.5])
def test_bad_quantiles_are_refused(quantile: float) -> None:
    with pytest.raises(promql.SelectorError, match="expected a quantile between 0 and 1"):
        promql.latency_query(OTEL, quantile, FIVE_MINUTES)


def test_numbers_and_ranges_are_formatted_for_promql() -> None:
    assert promql.number(0.999) == "0.999"
    assert promql.number(1e-7) == "1e-07"
    assert promql.range_literal(timedelta(days=1, seconds=30)) == "[1d30s]"
    with pytest.raises(promql.SelectorError, match="at least 1s"):
        promql.range_literal(timedelta(milliseconds=500))


def test_empty_filters_are_refused_rather_than_matching_everything() -> None:
    with pytest.raises(promql.SelectorError, match="at least one endpoint"):
        promql.throughput_query(OTEL, FIVE_MINUTES, [])
    with pytest.raises(promql.SelectorError, match="at least one service"):
        promql.cpu_query(SaturationMetrics(), FIVE_MINUTES, [])


def test_discovery_selects_count_series_with_a_route() -> None:
    assert promql.discovery_selector(OTEL) == (
        'http_server_request_duration_seconds_count{http_route!=""}'
    )
    assert promql.histogram_selector(LEGACY) == "http_server_duration_milliseconds_bucket"


def test_busy_time_sums_the_histogram_sum_in_seconds() -> None:
    checkout = Endpoint(service="payments", route="/api/checkout", method="POST")
    assert promql.busy_time_query(OTEL, FIVE_MINUTES, [checkout]) == (
        "sum by (job, http_route, http_request_method) (rate(http_server_request_duration_"
        'seconds_sum{job="payments", http_route="/api/checkout", http_request_method="POST"}'
        "[5m]))"
    )
    legacy = promql.busy_time_query(LEGACY, FIVE_MINUTES)
    assert legacy.startswith("sum by (job, http_route, http_method) (rate(http_server_duration_"
                             "milliseconds_sum[5m]))")
    assert legacy.endswith(" * 0.001")


def test_resource_queries_are_absolute_and_read_gauges_at_each_point() -> None:
    saturation = SaturationMetrics()
    queries = {
        resource: promql.resource_query(saturation, resource, timedelta(hours=1), ["menu"])
        for resource in Resource
    }
    assert queries[Resource.CPU_CORES] == (
        'sum by (container) (rate(container_cpu_usage_seconds_total{container=~"menu"}[1h]))'
    )
    assert queries[Resource.CPU_LIMIT_CORES] == (
        'sum by (container) (kube_pod_container_resource_limits{resource="cpu", '
        'container=~"menu"})'
    )
    assert queries[Resource.MEMORY_BYTES] == (
        'sum by (container) (container_memory_working_set_bytes{container=~"menu"})'
    )
    assert 'resource="memory"' in queries[Resource.MEMORY_LIMIT_BYTES]
    every = promql.resource_query(saturation, Resource.MEMORY_BYTES, FIVE_MINUTES)
    assert '{container!=""}' in every


def test_opencost_joins_allocation_to_node_prices_per_service() -> None:
    query = promql.opencost_hourly_query("container", ["shop"])
    cpu = (
        "sum by (container) (max by (container, namespace, pod, node) "
        '(container_cpu_allocation{container=~"shop"}) * on (node) group_left () '
        "avg by (node) (node_cpu_hourly_cost))"
    )
    memory = (
        "sum by (container) (max by (container, namespace, pod, node) "
        '(container_memory_allocation_bytes{container=~"shop"}) / 1073741824 '
        "* on (node) group_left () avg by (node) (node_ram_hourly_cost))"
    )
    assert query == f"{cpu} + {memory}"
    # Another service label keeps the container in the de-duplication.
    assert "max by (app, namespace, pod, container, node)" in promql.opencost_hourly_query("app")
    with pytest.raises(promql.BadNameError):
        promql.opencost_hourly_query("bad-label")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_service_names_never_change_cost_queries(value: str) -> None:
    saturation = SaturationMetrics()
    builders = [
        lambda names: promql.opencost_hourly_query("container", names),
        *(
            lambda names, r=resource: promql.resource_query(saturation, r, FIVE_MINUTES, names)
            for resource in Resource
        ),
        lambda names: promql.busy_time_query(
            OTEL, FIVE_MINUTES, [Endpoint(service=names[0], route="/r", method="GET")]
        ),
    ]
    for build in builders:
        assert skeleton(build([value])) == skeleton(build(["svc"]))
        # Exact matchers hold the value itself, regex matchers a regex matching only it.
        assert any(r == value or re.fullmatch(r, value) for r in literals(build([value])))


def test_host_saturation_joins_node_exporter_on_the_instance_host() -> None:
    process = PROCESS_METRICS.model_copy(update={"service_label": "job"})
    cpu = promql.host_saturation_query(process, True, FIVE_MINUTES, ["shop"])
    host = '"host", "$1", "instance", "([^:]+)(?::[0-9]+)?"'
    assert cpu == (
        f'max by (job) (group by (job, host) (label_replace(process_cpu_seconds_total'
        f'{{job=~"shop"}}, {host})) * on (host) group_left () (1 - avg by (host) '
        f'(label_replace(rate(node_cpu_seconds_total{{mode="idle"}}[5m]), {host}))))'
    )
    memory = promql.host_saturation_query(process, False, FIVE_MINUTES)
    assert "label_replace(process_resident_memory_bytes{job!=\"\"}" in memory
    assert ("1 - sum by (host) (label_replace(node_memory_MemAvailable_bytes, "
            f"{host})) / sum by (host) (label_replace(node_memory_MemTotal_bytes, {host}))"
            ) in memory


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_service_names_never_change_host_saturation_queries(value: str) -> None:
    process = PROCESS_METRICS.model_copy(update={"service_label": "job"})
    for cpu in (True, False):
        hostile = promql.host_saturation_query(process, cpu, FIVE_MINUTES, [value])
        assert skeleton(hostile) == skeleton(
            promql.host_saturation_query(process, cpu, FIVE_MINUTES, ["svc"]))
        assert any(re.fullmatch(r, value) for r in literals(hostile))


def test_a_missing_resource_metric_is_refused_not_queried() -> None:
    # No limits among process_* metrics: no query divides by nothing.
    with pytest.raises(promql.SelectorError, match="no limit metric"):
        promql.cpu_query(PROCESS_METRICS, FIVE_MINUTES)
    with pytest.raises(promql.SelectorError, match="no cpu_limit_cores metric"):
        promql.resource_query(PROCESS_METRICS, Resource.CPU_LIMIT_CORES, FIVE_MINUTES)


def test_a_pooled_quantile_names_each_method_with_its_own_routes() -> None:
    # One selector per service and method (not one per endpoint: issue 16), and no route of
    # another method: GET /api/orders is not in the group, so no selector may match it.
    group = [Endpoint(service="orders", route="/api/orders", method="POST"),
             Endpoint(service="orders", route="/api/orders/history", method="GET"),
             Endpoint(service="orders", route="/api/orders/{id}", method="GET")]
    query = promql.pooled_latency_query(OTEL, 0.95, timedelta(minutes=5), group)
    assert query == (
        "histogram_quantile(0.95, sum by (le) ("
        'rate(http_server_request_duration_seconds_bucket{job="orders", '
        'http_request_method="POST", http_route="/api/orders"}[5m]) or '
        'rate(http_server_request_duration_seconds_bucket{job="orders", '
        'http_request_method="GET", http_route=~"/api/orders/history|/api/orders/\\\\{id\\\\}"}'
        "[5m])))"
    )
    tagged = promql.pooled_latencies_query(OTEL, 0.95, timedelta(minutes=5),
                                           {"a": group[:1], 'b "c"': group[1:]})
    assert tagged.count("histogram_quantile") == 2
    assert '"perfbot_figure", "b \\"c\\""' in tagged
