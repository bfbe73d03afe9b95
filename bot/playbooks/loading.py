"""Loading playbook files: YAML to ``Playbook``, every problem reported with its file and line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.playbooks.evidence import suggest
from bot.playbooks.schema import Diagnostic, Link, Match, Playbook
from bot.playbooks.templates import TemplateError
from bot.validation import expected_got, field_path

_MODELS: dict[str, type[BaseModel]] = {
    "": Playbook, "match": Match, "diagnostics": Diagnostic, "links": Link,
}


class Problem(BaseModel):
    """One thing wrong with one file; ``str()`` is ``file:line: message``."""

    model_config = ConfigDict(frozen=True)

    path: Path
    line: int | None = None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class LoadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbooks: list[Playbook]
    problems: list[Problem]
    files: int = 0


def load_playbooks(directory: Path) -> LoadResult:
    """Every ``*.yaml``/``*.yml`` in ``directory``: the good playbooks and every problem."""
    if not directory.is_dir():
        problem = Problem(path=directory, message="no such folder of playbooks")
        return LoadResult(playbooks=[], problems=[problem])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    playbooks: list[Playbook] = []
    problems: list[Problem] = []
    seen: dict[str, Playbook] = {}
    fallback: Playbook | None = None
    for path in files:
        playbook, found = load_playbook_file(path)
        problems += found
        if playbook is None:
            continue
        if playbook.id in seen:
            problems.append(_problem_at(playbook, f"duplicate id {playbook.id!r}: "
                                        f"{seen[playbook.id].source} has it already"))
            continue
        if playbook.fallback and fallback is not None:
            problems.append(_problem_at(playbook, f"a second fallback playbook: "
                                        f"{fallback.source} is the fallback already"))
            continue
        fallback = playbook if playbook.fallback else fallback
        seen[playbook.id] = playbook
        playbooks.append(playbook)
    return LoadResult(playbooks=playbooks, problems=problems, files=len(files))


def _problem_at(playbook: Playbook, message: str) -> Problem:
    return Problem(path=playbook._path or Path(), line=playbook._line, message=message)


def load_playbook_file(path: Path) -> tuple[Playbook | None, list[Problem]]:
    """One file: its playbook, or None and the problems (all of them, each with a line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path=path, message=f"cannot read it ({exc})")]
    return parse_playbook(text, path)


def parse_playbook(text: str, path: Path) -> tuple[Playbook | None, list[Problem]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        problem = ", ".join(str(p) for p in parts if p) or str(exc)
        return None, [Problem(path=path, line=mark.line + 1 if mark else None,
                              message=f"not valid YAML: {problem}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [Problem(path=path, line=1, message="the file is empty")]
    if not isinstance(data, dict):
        return None, [Problem(path=path, line=node.start_mark.line + 1,
                              message="expected a mapping with id, title, summary, owner, "
                                      "match, diagnostics, steps and links")]
    problems = [Problem(path=path, line=line, message=message)
                for line, message in _duplicate_keys(node)]
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        problems += [_validation_problem(error, node, path) for error in exc.errors()]
        return None, sorted(problems, key=lambda p: p.line or 0)
    if problems:
        return None, problems
    playbook._path = path
    playbook._line = _node_at(node, ("id",)).start_mark.line + 1
    return playbook, []


def _duplicate_keys(node: yaml.Node) -> Iterable[tuple[int, str]]:
    """PyYAML keeps the last of two equal keys silently; an author wants to know."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first:
                    yield line, f"duplicate key {key.value!r} (first on line {first[key.value]})"
                first.setdefault(key.value, line)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest YAML node along ``loc`` (a pydantic error location)."""
    node = root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)),
                         None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return node


def _validation_problem(error: Any, root: yaml.Node, path: Path) -> Problem:
    loc = tuple(error["loc"])
    node = _node_at(root, loc)
    line = node.start_mark.line + 1
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, TemplateError) and isinstance(node, yaml.ScalarNode):
        # A literal block keeps its lines: point at the one with the problem. Folded and
        # plain scalars join lines, so only their start is known.
        if node.style == "|":
            line += 1 + cause.line
        elif node.style == ">":
            line += 1
    return Problem(path=path, line=line, message=f"{field_path(loc)}: {_message(error, loc)}")


def _message(error: Any, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        model = _MODELS.get(parent if parent in _MODELS else "", Playbook)
        known = list(model.model_fields)
        return (f"unknown field{suggest(str(loc[-1]), known)}; expected one of "
                f"{', '.join(known)}")
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        form = ("lowercase letters, digits and '_', starting with a letter (like "
                "'slowest_statements')" if loc[-1] == "name" else
                "lowercase letters, digits, '-' and '_' (like 'slow-db-query')")
        return f"expected {form}, got {error.get('input')!r}"
    return expected_got(error)
