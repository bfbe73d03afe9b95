"""Who may press which alert button; the refusal names who may; ids are checked in config."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from pydantic import ValidationError

from bot.alerts.acts import Act
from bot.app import Perfbot
from bot.authz import Rules, decide, nobody_on_call, who_may
from bot.config import Settings, SlackSettings
from bot.metrics.demo import DemoBackend

RULES = Rules(admins=frozenset({"UADMIN"}), users=frozenset({"UALLOWED"}), groups=("S1", "S2"))
GUARDED = [Act.ACKNOWLEDGE, Act.SNOOZE, Act.RESOLVE, Act.ESCALATE]


class Groups:
    """Group members, counting the lookups (each one would be a Slack call)."""

    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members = members
        self.asked: list[str] = []

    def __call__(self, group: str) -> Collection[str]:
        self.asked.append(group)
        return self.members.get(group, set())


@pytest.mark.parametrize("act", GUARDED)
def test_admins_and_listed_users_may_without_a_group_lookup(act: Act) -> None:
    groups = Groups({"S1": {"UADMIN"}})
    assert decide(RULES, "UADMIN", act, groups).reason == "admin"
    assert decide(RULES, "UALLOWED", act, groups).reason == "allowed user"
    assert groups.asked == []


@pytest.mark.parametrize("act", GUARDED)
def test_strangers_may_not(act: Act) -> None:
    groups = Groups({"S1": {"U7"}, "S2": {"U8"}})
    decision = decide(RULES, "USTRANGER", act, groups)
    assert not decision.allowed and decision.reason == "not allowed"
    assert groups.asked == ["S1", "S2"]


def test_group_members_may_and_the_search_stops_at_their_group() -> None:
    groups = Groups({"S1": {"U7"}, "S2": {"U8"}})
    decision = decide(RULES, "U7", Act.RESOLVE, groups)
    assert decision.allowed and decision.reason == "member of S1"
    assert groups.asked == ["S1"]


def test_the_on_call_hook_is_asked_at_each_decision() -> None:
    on_call = ["UONE"]
    rules = Rules(oncall=lambda: list(on_call))
    assert decide(rules, "UONE", Act.ESCALATE, Groups({})).reason == "on call"
    on_call[:] = ["UTWO"]  # the rotation moved on
    assert not decide(rules, "UONE", Act.ESCALATE, Groups({})).allowed
    assert decide(rules, "UTWO", Act.ESCALATE, Groups({})).allowed


def test_the_chart_is_open_to_everyone() -> None:
    groups = Groups({})
    assert decide(Rules(), "UANYONE", Act.SHOW_CHART, groups).allowed
    assert groups.asked == []


def test_nobody_is_on_call_by_default() -> None:
    assert list(nobody_on_call()) == []
    assert not decide(Rules(), "UANYONE", Act.ACKNOWLEDGE, Groups({})).allowed


def test_the_refusal_names_who_may() -> None:
    text = who_may(RULES, Act.RESOLVE)
    assert text == ("Only <@UADMIN>, <@UALLOWED>, members of <!subteam^S1>, <!subteam^S2> "
                    "or the on-call of the alert's policy may resolve this alert.")
    alone = who_may(Rules(), Act.SNOOZE)
    assert alone.startswith("Only the on-call of the alert's policy may snooze this alert")
    assert "allowed_groups" in alone


def test_the_composition_root_builds_the_rules_from_the_settings(
    demo_backend: DemoBackend,
) -> None:
    settings = SlackSettings(admins=["U024BE7LH"], allowed_users=["W012A3CDE"],
                             allowed_groups=["S0614TZR7"])
    rules = Perfbot(settings=Settings(slack=settings), backend=demo_backend).rules
    assert rules.admins == {"U024BE7LH"} and rules.users == {"W012A3CDE"}
    assert rules.groups == ("S0614TZR7",)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("admins", "@alice", "a Slack user id"), ("allowed_users", "u024be7lh", "a Slack user id"),
     ("allowed_groups", "sre-leads", "a Slack user group id"),
     ("allowed_groups", "U024BE7LH", "a Slack user group id")],
)
def test_names_instead_of_ids_are_refused_clearly(field: str, value: str, expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SlackSettings.model_validate({field: [value]})
    assert expected in str(caught.value) and repr(value) in str(caught.value)
