"""The deploy files as data for the tests: the Dockerfile's instructions (a small parser:
comments, line continuations, stages, exec and shell forms), docker-compose.yml and the
configs under deploy/. No Docker engine runs here; what the files say is checked instead."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"


@dataclass(frozen=True)
class Instruction:
    stage: int  # 0 for the first FROM's stage
    keyword: str  # upper case: FROM, RUN, COPY, ...
    text: str  # the arguments as written, continuations joined

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of ``CMD ["a", "b"]``, or None in shell form."""
        if not self.text.startswith("["):
            return None
        value = json.loads(self.text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self.text
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; a backslash at a line's end continues it, comments and blank
    lines (also inside a continued instruction, as Docker allows) are skipped."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        whole, pending = pending + line, ""
        keyword, _, rest = whole.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        assert stage >= 0, f"an instruction before FROM: {whole}"
        instructions.append(Instruction(stage, keyword, rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    count = max(i.stage for i in instructions) + 1
    return [[i for i in instructions if i.stage == n] for n in range(count)]


def one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    """The HEALTHCHECK's command in exec form (its options before CMD dropped)."""
    text = one(instructions, "HEALTHCHECK").text
    _, _, command = text.partition("CMD ")
    form = Instruction(0, "CMD", command.strip()).exec_form
    assert form is not None, "HEALTHCHECK CMD should be in exec form (no shell in the check)"
    return form


def shell_words(text: str) -> list[str]:
    return shlex.split(text)


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def deploy_yaml(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def compose_command(text: str) -> str:
    """A compose command as the container's shell gets it: ``$$`` is compose's ``$``."""
    return text.replace("$$", "$")


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's volumes: container path → source (a named volume or ./path)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        found[target] = source
    return found
