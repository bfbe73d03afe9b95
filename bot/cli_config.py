"""``perfbot config reference``: the settings' reference as Markdown (docs/configuration.md)."""

from __future__ import annotations

import argparse
from typing import TextIO


def add_config_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``config reference`` on the CLI's subparsers."""
    config = subparsers.add_parser("config", help="about the settings themselves")
    actions = config.add_subparsers(title="actions", metavar="ACTION", required=True)
    reference = actions.add_parser(
        "reference",
        help="every setting with its type, default, environment variable and description, "
        "as Markdown (docs/configuration.md)",
    )
    reference.set_defaults(func=cmd_config_reference)


def cmd_config_reference(args: argparse.Namespace, out: TextIO) -> int:
    # Lazily: the reference imports pydantic and the settings' models.
    from bot.config_reference import render

    out.write(render())
    return 0
