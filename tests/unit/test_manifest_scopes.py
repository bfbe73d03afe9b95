"""The Slack app manifest asks for the least: exactly the scopes of the Web API methods the
code calls and the events it subscribes to, found by reading the code itself."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# Slack's documented scope for each method the bot may call (None: no scope needed).
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_getPermalink": set(),
    "conversations_open": {"im:write"},
    # Digests go to public or private channels: the history of either.
    "conversations_history": {"channels:history", "groups:history"},
    "files_upload_v2": {"files:write"},
    "users_info": {"users:read"},
    "usergroups_users_list": {"usergroups:read"},
    "views_publish": set(),
    "views_open": set(),  # the Silence modal: needs only the interaction's trigger_id
}
EVENT_SCOPES = {"app_mention": {"app_mentions:read"}, "message.im": {"im:history"},
                "app_home_opened": set()}
CALL = re.compile(r"\.((?:auth|chat|conversations|files|users|usergroups|views|reactions|"
                  r"apps|team|bots|pins|emoji)_[A-Za-z0-9_]+)\(")


def called_methods() -> set[str]:
    return {name for path in (REPO / "bot").rglob("*.py")
            for name in CALL.findall(path.read_text(encoding="utf-8"))}


def test_every_web_api_method_the_code_calls_has_a_known_scope() -> None:
    assert called_methods() <= set(METHOD_SCOPES), called_methods() - set(METHOD_SCOPES)


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    manifest = yaml.safe_load((REPO / "slack-manifest.yaml").read_text(encoding="utf-8"))
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    wanted = {"commands"}.union(*(METHOD_SCOPES[m] for m in called_methods()),
                                *(EVENT_SCOPES[e] for e in events))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(wanted)
