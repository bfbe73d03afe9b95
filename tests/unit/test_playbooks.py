"""Playbooks: the condition grammar, templates and escaping, loading with file:line, matching."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.metrics.base import Endpoint, Signal
from bot.playbooks.conditions import parse_condition, parse_pattern
from bot.playbooks.evidence import EVIDENCE
from bot.playbooks.loading import load_playbooks, parse_playbook
from bot.playbooks.matching import Situation, evaluate, match_playbooks
from bot.playbooks.rendering import QueryNames, render_diagnostics, render_links, render_steps
from bot.playbooks.schema import Playbook
from bot.playbooks.templates import PLACEHOLDERS, TemplateError, compile_promql, compile_url

HOSTILE = 'a"} or vector(1) # \\'

HEADER = """\
id: {id}
title: A playbook
summary: What it is about.
owner: sre
"""


def playbook_text(id: str = "p", body: str = "match:\n  signals: [latency]\n") -> str:
    steps = "" if "steps:" in body else "steps: Do the thing.\n"
    return HEADER.format(id=id) + textwrap.dedent(body) + steps


def make(id: str = "p", body: str = "match:\n  signals: [latency]\n") -> Playbook:
    playbook, problems = parse_playbook(playbook_text(id, body), Path(f"{id}.yaml"))
    assert problems == [] and playbook is not None, problems
    return playbook


def situation(**changes: object) -> Situation:
    fields: dict[str, object] = {
        "signal": Signal.LATENCY,
        "service": "orders",
        "endpoint": Endpoint(service="orders", route="/api/orders/history", method="GET"),
        "evidence": {"latency_ratio": 3.0, "cpu": 0.2, "change": "step", "after_deploy": True},
        "at": datetime(2026, 11, 20, 14, 30, tzinfo=UTC),
    }
    return Situation.model_validate(fields | changes)


# ---- conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "op", "value", "negate"),
    [
        ("cpu > 0.85", "cpu", ">", 0.85, False),
        ("error_ratio>=5%", "error_ratio", ">=", 0.05, False),
        ('change == "step"', "change", "==", "step", False),
        ("change != 'drop'", "change", "!=", "drop", False),
        ("after_deploy", "after_deploy", None, True, False),
        ("not after_deploy", "after_deploy", None, True, True),
        ("after_deploy == false", "after_deploy", "==", False, False),
        ("minutes_since_deploy <= 1e2", "minutes_since_deploy", "<=", 100.0, False),
    ],
)
def test_conditions_parse(
    text: str, name: str, op: str | None, value: object, negate: bool
) -> None:
    condition = parse_condition(text)
    assert (condition.name, condition.op, condition.value, condition.negate) == (
        name, op, value, negate
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpuu > 0.8", "unknown evidence 'cpuu' in 'cpuu > 0.8' (did you mean 'cpu'?)"),
        ("change == step", "put text in quotes"),
        ("latency_ratio >", "expected a number, a quoted string or true/false"),
        ("after_deploy > 1", "after_deploy is a bool; use == or !="),
        ('change == "stpe"', "change is one of 'step', 'spike', 'trend', 'drop', got 'stpe'"),
        ("cpu", "cpu is a number, compare it"),
        ("not cpu > 0.5", "'not' goes only before a bare true/false name"),
        ('cpu > "high"', "cpu is a number, got 'high'"),
        ("cpu > 0.8 and memory > 0.9", "expected a number, a quoted string or true/false"),
        ("__import__('os').system('true')", "expected '<evidence> <op> <value>'"),
        (0.85, "expected a condition like 'cpu > 0.85'"),
    ],
)
def test_bad_conditions_say_what_is_wrong(text: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    assert message in str(info.value)


def test_a_condition_holds_fails_or_lacks_evidence_and_says_which() -> None:
    condition = parse_condition("cpu >= 0.85")
    assert condition.check({"cpu": 0.9}) == (True, "`cpu >= 0.85` holds (cpu is 0.9)")
    assert condition.check({"cpu": 0.5}) == (False, "`cpu >= 0.85` does not hold (cpu is 0.5)")
    holds, reason = condition.check({})
    assert holds is None and reason == "`cpu >= 0.85`: no cpu evidence for this alert"
    assert parse_condition("not after_deploy").check({"after_deploy": False})[0]
    assert not parse_condition("after_deploy").check({"after_deploy": False})[0]


def test_every_evidence_name_is_described() -> None:
    for kind in EVIDENCE.values():
        assert kind.meaning and kind.type in ("number", "bool", "choice")
        assert (kind.type == "choice") == bool(kind.choices)


# ---- patterns -----------------------------------------------------------------------------


def test_patterns_are_globs_or_regexes_with_a_specificity() -> None:
    exact, partial, anything = (parse_pattern(p) for p in ("orders", "ord*", "*"))
    assert (exact.specificity, partial.specificity, anything.specificity) == (2, 1, 0)
    assert partial.matches("orders") and not partial.matches("payments")
    regex = parse_pattern("re:GET /api/(orders|users)/.*")
    assert regex.matches("GET /api/users/me") and not regex.matches("POST /api/users/me")
    with pytest.raises(ValueError, match="bad regex"):
        parse_pattern("re:(unclosed")


# ---- templates ----------------------------------------------------------------------------


def test_label_values_are_escaped_for_where_they_stand() -> None:
    template = compile_promql(
        'sum(rate(m{job="{service}", route=~"{route}", x="pre-{service}"}[{window}]))'
    )
    text = template.render({"service": 'a"b', "route": "/a.b*", "window": "5m"})
    assert text == r'sum(rate(m{job="a\"b", route=~"/a\\.b\\*", x="pre-a\"b"}[5m]))'


def test_a_hostile_service_renders_as_one_escaped_label_value() -> None:
    playbook = make(body="""\
        match:
          signals: [latency]
        diagnostics:
          - name: q
            query: sum(rate({http_histogram}_count{{service_label}="{service}"}[{window}]))
        """)
    hostile = situation(service=HOSTILE, endpoint=None)
    [rendered] = render_diagnostics(playbook, hostile)
    assert rendered.query == (
        'sum(rate(http_server_request_duration_seconds_count{job="a\\"} or vector(1) # \\\\"}'
        "[5m]))"
    )


def test_names_come_from_the_settings_and_must_be_names() -> None:
    playbook = make(body="""\
        match:
          signals: [latency]
        diagnostics:
          - name: q
            query: rate({http_histogram}_count{{route_label}="{route}"}[{window}])
        """)
    names = QueryNames(http_histogram="http_request_duration_seconds", route_label="handler")
    [rendered] = render_diagnostics(playbook, situation(), names)
    assert rendered.query == (
        'rate(http_request_duration_seconds_count{handler="/api/orders/history"}[5m])'
    )
    with pytest.raises(ValidationError, match="expected a label name"):
        QueryNames(route_label='x="y"}')


def test_a_diagnostic_missing_a_value_is_not_run_and_says_why() -> None:
    playbook = make(body="""\
        match:
          signals: [latency]
        diagnostics:
          - name: q
            query: m{route="{route}"}
        """)
    [rendered] = render_diagnostics(playbook, situation(endpoint=None))
    assert rendered.query is None and rendered.note == "not run: the alert has no {route}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("m{job={service}}", "{service} is a label value: put it inside a double-quoted string"),
        ('m{job="{servise}"}', "unknown placeholder {servise} (did you mean 'service'?)"),
        ("m{job='{service}'}", "use double quotes around placeholders"),
        ('m{job="{service_label}"}', "{service_label} is a name: write it outside quotes"),
        ("rate(m[{from_ms}])", "{from_ms} is for links only"),
        ('sum(rate(m{job="x"}[5m])', "'(' at column 4 is never closed"),
        ('m{job="x"}]', "unbalanced ']' at column 11"),
        ('m{job="x}', "the string starting at column 7 is never closed"),
        ('m{job=~"(a"}', "bad regex '(a'"),
        ("  ", "expected a PromQL query"),
    ],
)
def test_bad_promql_templates_are_refused(query: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_promql(query)
    assert message in str(info.value)


@pytest.mark.parametrize("regex", [r"\pL+", r"\PN", r"\Qa.b\E", r"\C"])
def test_re2_only_regex_syntax_is_left_to_prometheus(regex: str) -> None:
    with pytest.raises(re.error):  # Python's re refuses it; Prometheus's RE2 takes it
        re.compile(regex)
    literal = regex.replace("\\", "\\\\")  # inside a PromQL string
    query = f'm{{route=~"{literal}"}}'
    template = compile_promql(query)
    # Accepted, and passed on as written: one literal part, rendered unchanged.
    assert template.parts == (query,)
    assert template.render({}) == query
    # Next to a placeholder: the value is escaped as a regex, the RE2 syntax kept as is.
    template = compile_promql(f'm{{route=~"{{route}}{literal}"}}')
    assert template.render({"route": "/a.b"}) == f'm{{route=~"/a\\\\.b{literal}"}}'


def test_links_are_url_encoded_and_keep_their_host() -> None:
    playbook = make(body="""\
        match:
          signals: [latency]
        links:
          - title: Dashboard
            url: https://grafana.example.com/d/abc?var-endpoint={endpoint}&from={from_ms}&to={to_ms}
          - title: Namespace
            url: https://example.com?ns={namespace}
        """)
    odd = Endpoint(service="orders", route="/api/a b?x=1&y=#", method="GET")
    dashboard, namespace = render_links(playbook, situation(endpoint=odd))
    at_ms = int(datetime(2026, 11, 20, 14, 30, tzinfo=UTC).timestamp() * 1000)
    assert dashboard.url == (
        "https://grafana.example.com/d/abc?var-endpoint=GET%20%2Fapi%2Fa%20b%3Fx%3D1%26y%3D%23"
        f"&from={at_ms - 3_600_000}&to={at_ms}"
    )
    assert namespace.url is None and namespace.note == "the alert has no {namespace}"


@pytest.mark.parametrize(
    "url", ["{service}.example.com/x", "https://{service}.example.com/", "ftp://x/{service}",
            "javascript:alert(1)", "https://example.com{service}", "https://{service}"],
)
def test_a_link_must_write_out_its_scheme_and_host(url: str) -> None:
    with pytest.raises(TemplateError, match="expected an http"):
        compile_url(url)


def test_steps_get_plain_values_and_generic_words_for_odd_or_missing_ones() -> None:
    playbook = make(body="""\
        match:
          signals: [latency]
        steps: |
          kubectl rollout undo deployment/{service} -n {namespace}; look at {route}. {"a": 1}
          p95 of {endpoint}; `up{{service_label}="{service}"}`
        """)
    text = render_steps(playbook, situation())
    assert text == ('kubectl rollout undo deployment/orders -n the namespace; '
                    'look at /api/orders/history. {"a": 1}\n'
                    'p95 of GET /api/orders/history; `up{job="orders"}`\n')
    assert render_steps(playbook, situation(service=HOSTILE, endpoint=None)).startswith(
        "kubectl rollout undo deployment/the service -n the namespace; look at the "
        "endpoint's route.")


def test_every_placeholder_is_described() -> None:
    assert all(meaning for _, meaning in PLACEHOLDERS.values())


# ---- loading with file and line -----------------------------------------------------------


BROKEN = {
    "bad-regex.yaml": (playbook_text("bad-regex", """\
        match:
          services: ["re:(unclosed"]
        """), 6, "match.services[0]: bad regex '(unclosed'"),
    "bad-placeholder.yaml": (playbook_text("bad-placeholder", """\
        match:
          signals: [latency]
        diagnostics:
          - name: q
            query: |
              sum(rate(m{job="{service}"}[5m]))
                / sum(rate(m{job="{servce}"}[5m]))
        """), 11, "diagnostics[0].query: unknown placeholder {servce}"),
    "bad-condition.yaml": (playbook_text("bad-condition", """\
        match:
          signals: [latency]
          conditions:
            - latency_ratio > 2
            - cpu >> 1
        """), 9, "match.conditions[1]: 'cpu >> 1': expected a number"),
    "bad-yaml.yaml": ("id: x\ntitle: [unclosed\nsummary: s\n", 3, "not valid YAML"),
    "unknown-field.yaml": (playbook_text("unknown-field", """\
        match:
          signalz: [latency]
        """), 6, "match.signalz: unknown field (did you mean 'signals'?)"),
    "bad-signal.yaml": (playbook_text("bad-signal", """\
        match:
          signals: [latency, slowness]
        """), 6, "match.signals[1]: expected one of 'latency', "
                "'throughput', 'error_ratio', 'cpu' or 'memory', got 'slowness'"),
}


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_each_broken_file_is_reported_with_its_line_and_the_good_ones_still_load(
    tmp_path: Path,
) -> None:
    write(tmp_path, {name: text for name, (text, _, _) in BROKEN.items()})
    write(tmp_path, {"good.yaml": playbook_text("good"), "notes.txt": "not a playbook"})
    result = load_playbooks(tmp_path)
    assert [p.id for p in result.playbooks] == ["good"]
    assert result.files == len(BROKEN) + 1
    found = {problem.path.name: problem for problem in result.problems}
    assert set(found) == set(BROKEN)
    for name, (_, line, message) in BROKEN.items():
        assert found[name].line == line, found[name]
        assert message in found[name].message, found[name]
        assert str(found[name]).startswith(f"{tmp_path / name}:{line}: ")


def test_a_duplicate_id_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": playbook_text("same"), "b.yaml": "# a comment\n"
                     + playbook_text("same")})
    result = load_playbooks(tmp_path)
    assert [p.source for p in result.playbooks] == [f"{tmp_path / 'a.yaml'}:1"]
    [problem] = result.problems
    assert str(problem) == (f"{tmp_path / 'b.yaml'}:2: duplicate id 'same': "
                            f"{tmp_path / 'a.yaml'}:1 has it already")


def test_a_duplicate_key_is_reported(tmp_path: Path) -> None:
    playbook, problems = parse_playbook(playbook_text() + "owner: someone-else\n", Path("p.yaml"))
    assert playbook is None
    assert [str(p) for p in problems] == ["p.yaml:8: duplicate key 'owner' (first on line 4)"]


def test_one_fallback_only(tmp_path: Path) -> None:
    fallback = "fallback: true\n"
    write(tmp_path, {"a.yaml": playbook_text("a", fallback),
                     "b.yaml": playbook_text("b", fallback)})
    result = load_playbooks(tmp_path)
    assert [p.id for p in result.playbooks] == ["a"]
    assert "a second fallback playbook" in result.problems[0].message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("fallback: true\nmatch:\n  signals: [cpu]\n", "a fallback playbook matches every alert"),
        ("", "match: give at least one of signals"),
        ("match:\n  signals: [cpu]\ndiagnostics:\n  - {name: q, query: m}\n"
         "  - {name: q, query: n}\n", "the name 'q' is used twice"),
    ],
)
def test_whole_playbook_rules(body: str, message: str) -> None:
    playbook, problems = parse_playbook(playbook_text(body=body), Path("p.yaml"))
    assert playbook is None and problems[0].line == 1
    assert message in problems[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("- a\n- b\n", "expected a mapping"),
     ("a: 1\n---\nb: 2\n", "not valid YAML: expected a single document")],
)
def test_files_that_are_not_one_mapping(text: str, message: str) -> None:
    playbook, [problem] = parse_playbook(text, Path("p.yaml"))
    assert playbook is None and message in str(problem)


def test_a_missing_folder_is_one_problem(tmp_path: Path) -> None:
    result = load_playbooks(tmp_path / "nowhere")
    assert result.playbooks == [] and "no such folder" in result.problems[0].message


# ---- matching -----------------------------------------------------------------------------


def test_matches_are_ranked_most_specific_first_and_the_fallback_last() -> None:
    playbooks = [
        make("fallback", "fallback: true\n"),
        make("any-latency", "match:\n  signals: [latency]\n"),
        make("orders-glob", "match:\n  signals: [latency]\n  services: ['ord*']\n"),
        make("orders-exact", "match:\n  signals: [latency]\n  services: [orders]\n"),
        make("route", "match:\n  endpoints: ['/api/orders/*']\n  conditions: [cpu < 0.5]\n"),
        make("cpu", "match:\n  signals: [cpu]\n"),
        make("missing", "match:\n  conditions: [pool_pending > 0]\n"),
    ]
    ranked = match_playbooks(playbooks, situation())
    assert [(m.playbook.id, m.score) for m in ranked] == [
        ("orders-exact", 3), ("orders-glob", 2), ("route", 2), ("any-latency", 1),
        ("fallback", 0),
    ]
    assert ranked[2].reasons == [
        "endpoint 'GET /api/orders/history' matches '/api/orders/*'",
        "`cpu < 0.5` holds (cpu is 0.2)",
    ]


def test_why_a_playbook_does_not_match() -> None:
    playbook = make(body="""\
        match:
          signals: [cpu]
          services: [payments, 'pay*']
          endpoints: ['POST *']
          labels: {team: 'core*'}
          conditions: [pool_pending > 0, cpu > 0.5]
        """)
    result = evaluate(playbook, situation(labels={"team": "growth"}))
    assert not result.matched
    assert result.failures == [
        "signal latency is not one of: cpu",
        "service 'orders' matches none of 'payments', 'pay*'",
        "endpoint 'GET /api/orders/history' matches none of 'POST *'",
        "label team='growth' does not match 'core*'",
        "`cpu > 0.5` does not hold (cpu is 0.2)",
    ]
    # Missing evidence is not a failure: it is unknown.
    assert result.unknown == ["pool_pending > 0"]
    assert result.unknown_reasons == ["`pool_pending > 0`: no pool_pending evidence for this alert"]


# ---- missing evidence: unknown, not a veto ---------------------------------------------------

SLOW_DB = """\
    match:
      signals: [latency]
      conditions:
        - latency_ratio >= 1.5
        - throughput_ratio <= 1.3
        - cpu <= 0.8
    """
NO_CPU = {"latency_ratio": 3.0, "throughput_ratio": 1.0, "change": "step", "after_deploy": False}


def test_a_condition_on_missing_evidence_does_not_veto_the_match() -> None:
    # The user's Prometheus had no CPU metrics: every alert got only the fallback.
    playbooks = [make("slow-db-query", SLOW_DB), make("generic", "fallback: true\n")]
    ranked = match_playbooks(playbooks, situation(evidence=NO_CPU))
    assert [m.playbook.id for m in ranked] == ["slow-db-query", "generic"]
    assert ranked[0].unknown == ["cpu <= 0.8"]
    assert ranked[0].score == 3  # signal and the two conditions that hold; the unknown adds nothing
    result = evaluate(playbooks[0], situation(evidence=NO_CPU))
    assert result.matched and result.failures == []


def test_a_condition_known_false_still_excludes() -> None:
    playbook = make("slow-db-query", SLOW_DB)
    busy = NO_CPU | {"throughput_ratio": 2.0}
    result = evaluate(playbook, situation(evidence=busy))
    assert not result.matched
    assert result.failures == ["`throughput_ratio <= 1.3` does not hold (throughput_ratio is 2)"]
    assert result.unknown == ["cpu <= 0.8"]


def test_all_known_ranks_above_unknowns_whatever_the_scores() -> None:
    playbooks = [
        make("generic", "fallback: true\n"),
        make("slow-db-query", SLOW_DB),  # score 3, cpu unknown
        make("regression", "match:\n  signals: [latency]\n  conditions: [latency_ratio >= 2]\n"),
        make("two-unknowns", "match:\n  signals: [latency]\n  services: [orders]\n  "
             "conditions: [latency_ratio > 1, cpu < 0.9, memory < 0.9]\n"),
    ]
    ranked = match_playbooks(playbooks, situation(evidence=NO_CPU))
    assert [(m.playbook.id, m.score, m.unknown) for m in ranked] == [
        ("regression", 2, []),
        ("slow-db-query", 3, ["cpu <= 0.8"]),
        ("two-unknowns", 4, ["cpu < 0.9", "memory < 0.9"]),
        ("generic", 0, []),
    ]
    # With the CPU known and low, slow-db-query has no unknown and leads on its score.
    known = match_playbooks(playbooks, situation(evidence=NO_CPU | {"cpu": 0.3}))
    assert [m.playbook.id for m in known][:2] == ["slow-db-query", "regression"]


def test_a_playbook_whose_conditions_are_all_unknown_does_not_match() -> None:
    # Else a playbook on evidence never gathered (GC time, pool waits) matches every alert.
    playbook = make("gc", "match:\n  signals: [latency]\n  conditions: [gc_time_ratio >= 0.05]\n")
    result = evaluate(playbook, situation())
    assert not result.matched and result.failures == []
    assert result.unknown == ["gc_time_ratio >= 0.05"]
    assert [m.playbook.id for m in match_playbooks([playbook], situation())] == []


def test_labels_match_and_count() -> None:
    playbook = make(body="match:\n  labels: {team: 'core*', env: prod}\n")
    result = evaluate(playbook, situation(labels={"team": "core-db", "env": "prod"}))
    assert result.matched and result.score == 2


def test_an_endpoint_pattern_needs_an_endpoint() -> None:
    playbook = make(body="match:\n  endpoints: ['*']\n")
    assert evaluate(playbook, situation(endpoint=None)).failures == ["the alert names no endpoint"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"evidence": {"cpuu": 0.5}}, "unknown evidence 'cpuu'"),
        ({"evidence": {"cpu": "high"}}, "evidence 'cpu' is a finite number"),
        ({"evidence": {"after_deploy": 1}}, "evidence 'after_deploy' is true or false"),
        ({"evidence": {"change": "jump"}}, "evidence 'change' is one of step"),
        ({"service": "payments"}, "belongs to 'orders', not 'payments'"),
    ],
)
def test_situations_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        situation(**changes)
    assert message in str(info.value)


def test_ids_and_names_have_a_form() -> None:
    text = playbook_text("Bad Id", """\
        match:
          signals: [cpu]
        diagnostics:
          - name: Bad-Name
            query: up
        """)
    _, problems = parse_playbook(text, Path("p.yaml"))
    assert [str(p) for p in problems] == [
        "p.yaml:1: id: expected lowercase letters, digits, '-' and '_' (like 'slow-db-query'), "
        "got 'Bad Id'",
        "p.yaml:8: diagnostics[0].name: expected lowercase letters, digits and '_', starting "
        "with a letter (like 'slowest_statements'), got 'Bad-Name'",
    ]
