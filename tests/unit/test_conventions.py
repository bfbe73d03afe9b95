import pytest

from bot.metrics.conventions import DetectionError, detect_convention, resolve_http_metrics
from bot.metrics.settings import MetricNames


@pytest.mark.parametrize(
    ("names", "convention"),
    [
        ({"http_server_request_duration_seconds_bucket", "up"}, "otel"),
        ({"http_server_duration_milliseconds_bucket"}, "otel_legacy"),
        ({"http_request_duration_seconds_bucket", "process_cpu_seconds_total"}, "prometheus"),
    ],
)
def test_detects_each_convention(names: set[str], convention: str) -> None:
    found = detect_convention(names)
    assert found is not None and found.convention == convention


def test_nothing_known_is_an_error_with_a_hint() -> None:
    with pytest.raises(DetectionError, match=r"set metrics\.names\.histogram"):
        resolve_http_metrics(MetricNames(), {"up", "node_cpu_seconds_total"})


def test_legacy_otel_is_in_milliseconds() -> None:
    http = resolve_http_metrics(MetricNames(), {"http_server_duration_milliseconds_bucket"})
    assert http.seconds_per_unit == 0.001
    assert http.method_label == "http_method"


def test_client_library_labels_follow_what_the_server_has() -> None:
    http = resolve_http_metrics(
        MetricNames(),
        {"http_request_duration_seconds_bucket"},
        {"le", "job", "route", "method", "code", "instance"},
    )
    assert (http.route_label, http.status_label, http.service_label) == ("route", "code", "job")


def test_service_name_label_preferred_when_present() -> None:
    http = resolve_http_metrics(
        MetricNames(),
        {"http_server_request_duration_seconds_bucket"},
        {"le", "job", "service_name", "http_route", "http_request_method",
         "http_response_status_code"},
    )
    assert http.service_label == "service_name"


def test_configured_names_win() -> None:
    names = MetricNames(
        histogram="api_latency_milliseconds", route_label="path", unit="milliseconds"
    )
    http = resolve_http_metrics(names, {"http_server_request_duration_seconds_bucket"})
    assert http.histogram == "api_latency_milliseconds"
    assert http.route_label == "path"
    assert http.seconds_per_unit == 0.001
