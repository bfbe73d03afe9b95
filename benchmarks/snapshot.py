"""Write what perfbot prints for a fixed moment to a folder, to diff before and after a change
that should not change behaviour (a refactor): ``perfbot demo``, ``perfbot detect``,
``perfbot playbooks test -v``, and ``perfbot ask`` for every question of the parser's corpus
(tests/data/questions.yaml), each at the corpus's ``now``.

    python benchmarks/snapshot.py /tmp/before   # on the old code
    python benchmarks/snapshot.py /tmp/after    # on the new code
    diff -r /tmp/before /tmp/after

It prints how many outputs it wrote and how long they took.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import yaml

from bot.cli import main
from bot.metrics.demo import DemoWorkload

# Each command builds the demo's 30 days anew (seconds each); the same arguments give the
# same workload, so the snapshot makes each one once.
_generate = DemoWorkload.generate.__func__  # type: ignore[attr-defined]
_made: dict[str, DemoWorkload] = {}


def _generate_once(cls: type[DemoWorkload], **kwargs: object) -> DemoWorkload:
    key = repr(sorted(kwargs.items()))
    if key not in _made:
        _made[key] = _generate(cls, **kwargs)
    return _made[key]


DemoWorkload.generate = classmethod(_generate_once)  # type: ignore[assignment,method-assign]

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-24T10:00:00+01:00"


def run(argv: list[str]) -> str:
    out = io.StringIO()
    code = main([*argv, "--at", AT], out=out)
    return f"{out.getvalue()}\n[exit {code}]\n"


def main_(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    (folder / "demo.txt").write_text(run(["demo"]))
    (folder / "detect.txt").write_text(run(["detect"]))
    (folder / "playbooks-test.txt").write_text(run(["playbooks", "test", "-v"]))
    corpus = yaml.safe_load((ROOT / "tests/data/questions.yaml").read_text())
    assert corpus["now"] == AT, "the corpus moved its moment: update AT"
    answers = [f"### {entry['q']}\n{run(['ask', entry['q']])}"
               for entry in corpus["questions"]]
    (folder / "corpus.txt").write_text("\n".join(answers))
    print(f"{3 + len(answers)} outputs in {folder} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main_(Path(sys.argv[1]))
