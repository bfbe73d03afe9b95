"""What can be checked of the image and the compose stack without a Docker engine (issue 16,
"Deploy"): the Dockerfile's build and install commands, run as written in a fresh virtual
environment (network to PyPI needed, as ``docker build`` needs it), its entry point from
there; the one-shot services' commands with the real promtool, and the result served by a
real Prometheus with deploy/prometheus.yml; the configs checked by promtool and amtool; the
HEALTHCHECK's command against a real ``perfbot run``.

The commands are taken from the files and run with their container paths mapped to
temporary folders; the changes are said where they are made."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.bot_process import BotProcess, minutely_policy, standin, write_config
from tests.deploy_files import (
    DEPLOY,
    REPO,
    Instruction,
    compose,
    compose_command,
    dockerfile,
    healthcheck_command,
    mounts,
    one,
    stages,
)
from tests.prometheus_server import find_binaries, free_port, stop_process

INSTALL_TIMEOUT = 280  # seconds; downloads from PyPI (pip's cache helps on a second run)


@dataclass(frozen=True)
class Image:
    """The Dockerfile's runtime, here: a fresh venv with the wheel installed as it says."""

    venv: Path
    env: dict[str, str]  # the runtime stage's ENV over a clean environment
    workdir: Path  # an empty folder standing for WORKDIR /data

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``args`` as the container runs them: the venv's commands first on PATH."""
        return subprocess.run(args, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)


def _clean_env() -> dict[str, str]:
    # Nothing of this checkout: no PYTHONPATH (the wheel must be what runs), no settings.
    return {name: value for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "PERFBOT_CONFIG", "VIRTUAL_ENV")
            and not name.startswith(("PERFBOT_", "SLACK_"))}


def _env_instruction(instruction: Instruction) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in instruction.text.split())


def _copy_context(builder: list[Instruction], context: Path) -> None:
    """The builder stage's COPY instructions, from this checkout into ``context``: the
    wheel is built from what the Dockerfile copies, nothing else."""
    for instruction in builder:
        if instruction.keyword != "COPY":
            continue
        *sources, dest = instruction.text.split()
        for source in sources:
            target = context / dest
            if dest.endswith("/") or len(sources) > 1:
                target = target / Path(source).name
            origin = REPO / source
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def _shell(command: str, cwd: Path, env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (f"{command!r} failed ({done.returncode}):\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _runs(stage: list[Instruction]) -> list[str]:
    return [i.text for i in stage if i.keyword == "RUN"]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    builder, runtime = stages(dockerfile())
    root = tmp_path_factory.mktemp("image")
    venv, context, wheels, workdir = (root / "venv", root / "src", root / "wheels",
                                      root / "data")
    context.mkdir()
    workdir.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**_clean_env(), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    _copy_context(builder, context)

    def here(command: str) -> str:
        # Container paths to this machine's; --no-cache-dir dropped so a second run reuses
        # pip's cache (the image has none to keep).
        return command.replace("/wheels", str(wheels)).replace("--no-cache-dir ", "")

    (build,) = [run for run in _runs(builder) if "pip wheel" in run]
    _shell(here(build), context, env, INSTALL_TIMEOUT)
    (install,) = [run for run in _runs(runtime) if "pip install" in run]
    _shell(here(install), workdir, env, INSTALL_TIMEOUT)
    env.update(_env_instruction(one(runtime, "ENV")))
    return Image(venv, env, workdir)


def test_the_installed_wheel_is_what_runs_with_the_playbooks_inside(image: Image) -> None:
    where = image.run(["python", "-c", "import bot; print(bot.__file__)"])
    assert where.stdout.strip().startswith(str(image.venv)), where
    assert not (image.workdir / "playbooks").exists()
    lint = image.run(["perfbot", "playbooks", "lint"])
    assert lint.returncode == 0, lint.stderr
    assert f"15 playbooks in {image.venv}/share/perfbot/playbooks" in lint.stdout
    postgres = image.run(["python", "-c", "import psycopg"])  # the [postgres] extra
    assert postgres.returncode == 0, postgres.stderr


def test_the_entry_point_answers_help_and_checks_its_settings(image: Image) -> None:
    entrypoint = one(stages(dockerfile())[-1], "ENTRYPOINT").exec_form or []
    helped = image.run([*entrypoint, "--help"])
    assert helped.returncode == 0 and "config" in helped.stdout, helped.stderr
    checked = image.run([*entrypoint, "check-config"])
    assert checked.returncode == 0, checked.stderr
    assert "✓ settings: built-in defaults" in checked.stdout
    assert "✓ catalog:" in checked.stdout


def test_the_default_command_is_perfbot_run_and_it_says_what_it_lacks(image: Image) -> None:
    runtime = stages(dockerfile())[-1]
    command = [*(one(runtime, "ENTRYPOINT").exec_form or []),
               *(one(runtime, "CMD").exec_form or [])]
    ran = image.run(command)
    assert ran.returncode == 2
    assert "perfbot: SLACK_BOT_TOKEN is not set" in ran.stderr


def test_promtool_and_amtool_accept_the_configs() -> None:
    binaries = find_binaries()
    for args in ([str(binaries.promtool), "check", "config", str(DEPLOY / "prometheus.yml")],
                 [str(binaries.promtool), "check", "rules", str(DEPLOY / "rules.yml")],
                 [_amtool(), "check-config", str(DEPLOY / "alertmanager.yml")]):
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"


def _amtool() -> str:
    found = shutil.which("amtool") or "/usr/bin/amtool"
    if not os.access(found, os.X_OK):
        pytest.fail("amtool not found: apt-get install -y prometheus-alertmanager")
    return found


def _localised(command: str, paths: dict[str, Path]) -> str:
    """Container paths (whole path segments: /backfill, not /prometheus/backfilled) to
    local ones, in one pass so a local path is never rewritten again."""
    inside = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    return re.sub(rf"(?<![\w./-])(?:{inside})(?![\w.-])",
                  lambda found: str(paths[found.group(0)]), command)


@pytest.fixture
def prometheus_on_demo_data(image: Image, tmp_path: Path) -> Iterator[str]:
    """The one-shots' commands as compose runs them, then Prometheus as compose starts it."""
    services = compose()["services"]
    binaries = find_binaries()
    openmetrics, tsdb = tmp_path / "openmetrics", tmp_path / "prometheus"
    openmetrics.mkdir()
    tsdb.mkdir()
    env = {**image.env, "PATH": f"{image.bin}{os.pathsep}{binaries.promtool.parent}"
           f"{os.pathsep}/usr/bin:/bin"}
    write = services["demo-openmetrics"]
    (script,) = [target for target, source in mounts(write).items() if "backfill" in source]
    # One day, not the stack's eight: the same code, a seventh of the time.
    command = _localised(compose_command(write["command"][0]),
                         {"/data": openmetrics, script: REPO / "deploy" / "backfill.py"})
    command = re.sub(r"--days \d+", "--days 1", command)
    _shell(command, image.workdir, env, 240)
    blocks = services["demo-blocks"]
    command = _localised(compose_command(blocks["command"][0]),
                         {"/backfill": openmetrics, "/prometheus": tsdb})
    _shell(command, tmp_path, env, 240)
    assert (openmetrics / "complete").exists() and (tsdb / "backfilled").exists()
    listed = subprocess.run([str(binaries.promtool), "tsdb", "list", str(tsdb)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert len(listed.stdout.strip().splitlines()) >= 12, listed.stdout  # a day: 12 blocks

    port = free_port()
    prometheus = services["prometheus"]
    config = {target: REPO / source for target, source in mounts(prometheus).items()
              if source.startswith("./")}
    args = [_localised(arg, {**config, "/prometheus": tsdb}) for arg in prometheus["command"]]
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen([str(binaries.prometheus), *args,
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "prometheus.log").read_text(errors="replace")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process, 10)
        log.close()


def test_prometheus_serves_the_demo_data_the_one_shots_loaded(
    prometheus_on_demo_data: str,
) -> None:
    answer = httpx.get(f"{prometheus_on_demo_data}/api/v1/query", timeout=10, params={
        "query": "count(count by (job) (http_server_request_duration_seconds_count))"}).json()
    assert answer["status"] == "success"
    (sample,) = answer["data"]["result"]
    assert int(sample["value"][1]) == 7  # the demo's seven services, named by job


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotProcess]:
    config = write_config(tmp_path / "perfbot.yaml", f"sqlite:///{tmp_path / 'perfbot.db'}",
                          minutely_policy())
    with standin() as slack, BotProcess(tmp_path, slack, config) as process:
        process.start()
        yield process


def test_the_healthcheck_passes_against_a_running_bot(bot: BotProcess) -> None:
    """The HEALTHCHECK's own command. Its port is the operational one (8080 in the image);
    this bot serves it on a free port (the tests' --http 0), so only the port is changed.
    Passes once /healthz is served (issue 16, "perfbot run observes itself")."""
    found = re.search(r"perfbot: webhooks on [^ ]+:(\d+):", bot.output())
    assert found is not None, bot.output()
    command = healthcheck_command(stages(dockerfile())[-1])
    assert "127.0.0.1:8080/healthz" in command[-1]
    command[-1] = command[-1].replace(":8080/", f":{found.group(1)}/")
    checked = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                             timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr[-2000:]
