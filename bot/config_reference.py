"""The configuration reference, drawn from the settings' pydantic models: every key with its
dotted path, type, default, description and environment variable, as Markdown
(``perfbot config reference`` prints it; docs/configuration.md holds it).

A field's description is its attribute docstring (the string under it in the model's
source). They are read here, from the source, rather than by pydantic's
``use_attribute_docstrings``, which parses every model's source each time the settings are
imported: ~70 ms on every command's start for text only this command shows."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.config import Settings
from bot.durations import format_duration

ENV_PREFIX, ENV_DELIMITER = "PERFBOT_", "__"


@dataclass(frozen=True)
class Key:
    """One setting: where it is, what it holds, and how to set it."""

    path: str
    type: str
    default: str
    description: str
    env: str
    section: bool  # a group of keys listed under it


def keys(model: type[BaseModel] = Settings) -> Iterator[Key]:
    """Every key of ``model`` and of the models it nests, depth first, in declaration order."""
    yield from _keys(model, "", ENV_PREFIX)


def _keys(model: type[BaseModel], prefix: str, env_prefix: str | None) -> Iterator[Key]:
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested, container = _nested(field.annotation)
        env = _env(name, field, env_prefix)
        description = field.description or _docstrings(model).get(name)
        yield Key(path, _type_name(field.annotation), _default(field), _text(description),
                  env or "", nested is not None)
        if nested is None:
            continue
        if container == "list":
            # Items of a list or map are set with the whole list, as JSON, in the environment.
            yield from _keys(nested, f"{path}[].", None)
        elif container == "map":
            yield from _keys(nested, f"{path}.<name>.", None)
        else:
            child_env = f"{env}{ENV_DELIMITER}" if env else None
            yield from _keys(nested, f"{path}.", child_env)


def _docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Attribute docstrings of ``model``'s fields, its base classes' included."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            found.update(_own_docstrings(cls))
    return found


@cache
def _own_docstrings(cls: type) -> dict[str, str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    found = {}
    for field, after in pairwise(body):
        if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            found[field.target.id] = inspect.cleandoc(after.value.value)
    return found


def _env(name: str, field: FieldInfo, env_prefix: str | None) -> str | None:
    if env_prefix is None:
        return None
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if env_prefix == ENV_PREFIX and choices:
        return str(choices[0]).upper()  # Slack's own names, without the prefix
    return f"{env_prefix}{name.upper()}"


def _text(description: str | None) -> str:
    return " ".join((description or "").split())


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _optional(annotation: Any) -> tuple[Any, bool]:
    annotation = _bare(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _bare(args[0]), True
    return annotation, False


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (itself, or as items of a list or map), and how."""
    inner, _ = _optional(annotation)
    origin = get_origin(inner)
    if origin in (list, tuple):
        item = _bare(get_args(inner)[0])
        return (item, "list") if _is_model(item) else (None, "")
    if origin is dict:
        item = _bare(get_args(inner)[1])
        return (item, "map") if _is_model(item) else (None, "")
    return (inner, "") if _is_model(inner) else (None, "")


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


_NAMES: dict[Any, str] = {
    str: "text", int: "integer", float: "number", bool: "true/false", timedelta: "duration",
    Path: "path", SecretStr: "secret", time: "HH:MM", datetime: "date and time",
}


def _type_name(annotation: Any) -> str:
    inner, optional = _optional(annotation)
    name = _plain_type(inner)
    return f"{name}, optional" if optional else name


def _plain_type(annotation: Any) -> str:
    annotation = _bare(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (list, tuple):
        return f"list of {_plain_type(get_args(annotation)[0])}"
    if origin is dict:
        return f"map of name to {_plain_type(get_args(annotation)[1])}"
    if _is_model(annotation):
        return "section"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(see description)"  # computed where it runs, like ./playbooks
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return ""
    # A section left at its own defaults: its keys below say what they are.
    if isinstance(value, BaseModel) and value == _own_default(type(value)):
        return ""
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    """``value`` as it is written in the settings file (YAML's flow style)."""
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields
                 if getattr(value, name) is not None}
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and value.isprintable() and value[0] not in "[{\"'*&!" else \
            json.dumps(value)
    return str(value)


def _duration(value: timedelta) -> str:
    # format_duration counts whole seconds; an SLO threshold like 500ms is finer.
    if value % timedelta(seconds=1):
        return f"{value // timedelta(milliseconds=1)}ms"
    return format_duration(value)


def _own_default(model: type[BaseModel]) -> BaseModel | None:
    try:
        return model()
    except ValidationError:
        return None


def render(model: type[BaseModel] = Settings) -> str:
    """The reference as Markdown: one table per top-level section."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `perfbot config reference` from the settings' pydantic models"
        " (bot/config.py and the models it nests); do not edit by hand. -->",
        "",
        "Settings come from one YAML file (`--config PATH`, else `$PERFBOT_CONFIG`, else"
        " `./perfbot.yaml`), and environment variables override it. Secrets come from the"
        " environment only. A key under a list (`[]`) or a map (`<name>`) is set in the"
        " environment with its whole list or map, as JSON, under the variable of the list or"
        " map. See [perfbot.example.yaml](../perfbot.example.yaml) for an annotated example.",
    ]
    table_head = ["", "| key | type | default | environment | description |",
                  "|---|---|---|---|---|"]
    top: list[Key] = []
    sections: dict[str, list[Key]] = {}
    for key in keys(model):
        head = key.path.split(".", 1)[0].split("[", 1)[0]
        if "." not in key.path and not key.section:
            top.append(key)
        else:
            sections.setdefault(head, []).append(key)
    lines += ["", "## Top level", *table_head, *(_row(key) for key in top)]
    for head, section in sections.items():
        intro = section[0].description
        lines += ["", f"## {head}", "", intro, *table_head,
                  *(_row(key) for key in section[1:])]
    return "\n".join(lines) + "\n"


def _row(key: Key) -> str:
    env = f"`{key.env}`" if key.env else ""
    cells = [f"`{key.path}`", key.type, key.default, env, key.description]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
