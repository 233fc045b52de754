"""`dvc repro --force` and the generated tests, with compiled bytecode and without.

Where `PYTHONDONTWRITEBYTECODE=1` is set (these machines, many CI runners and images) and
a venv was installed without `--compile-bytecode` (uv's default), every process compiles
scikit-learn, pandas, MLflow and the rest from source again, and each DVC stage is a new
process. The generated Makefile installs with `uv pip install --compile-bytecode`; this
script measures what that buys, in one run on one machine:

    source      `uv pip install -e ".[dev]"`, no .pyc files anywhere in the venv
    compiled    `uv pip install --compile-bytecode -e ".[dev]"`

Both are the default project rendered with copier, each in its own folder with its own
`.venv`, and every command runs with `PYTHONDONTWRITEBYTECODE=1`, so the source venv stays
uncompiled (the script checks that it holds no .pyc file). For each: the install, a first
`dvc repro` (MLflow's database and DVC's cache start empty), then the measured
`dvc repro --force`, stage by stage, then `python -m pytest -q` (one process, as the suite
ran before this work) and `make test` (on pytest-xdist's workers, as it runs now). The two
venvs take turns at each step, so a change in the machine's load falls on both.

    make bench            # or: .venv/bin/python benchmarks/bench_bytecode.py
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_serving import REPO, run, table  # beside this file; it makes `bake` importable

from bake import project_env, render

VARIANTS = {"source": [], "compiled": ["--compile-bytecode"]}
STAGE_LINE = "Running stage '"


@dataclass
class Variant:
    name: str
    project: Path
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    pyc_files: int = 0
    tests: str = ""  # pytest's closing line


def prepared(name: str, scratch: Path) -> Variant:
    """The default project, rendered into a folder of its own, with an empty venv."""
    project = render("copier", scratch / name)
    venv = project / ".venv"
    env = dict(project_env(venv), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    run([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, str(venv)],
        project, env)
    run(["git", "init", "--quiet"], project, env)
    return Variant(name, project, env)


def timed(variant: Variant, label: str, command: list[str]) -> str:
    start = time.perf_counter()
    output = run(command, variant.project, variant.env)
    variant.seconds[label] = time.perf_counter() - start
    print(f"  {variant.name}: {label}: {variant.seconds[label]:.1f} s", flush=True)
    return output


def install(variant: Variant) -> None:
    venv = variant.project / ".venv"
    timed(variant, "install", [sys.executable, "-m", "uv", "pip", "install", "--quiet",
                               *VARIANTS[variant.name], "--python", str(venv / "bin" / "python"),
                               "-e", ".[dev]"])
    variant.pyc_files = sum(1 for _ in venv.rglob("*.pyc"))
    if variant.name == "source" and variant.pyc_files:
        sys.exit(f"the source venv holds {variant.pyc_files} .pyc files: not a fair baseline")
    run([str(venv / "bin" / "dvc"), "init", "--quiet"], variant.project, variant.env)


def first_repro(variant: Variant) -> None:
    """The pipeline once from a clean state: MLflow's database and DVC's cache are made."""
    timed(variant, "first dvc repro", [str(variant.project / ".venv" / "bin" / "dvc"), "repro"])


def repro_by_stage(variant: Variant) -> None:
    """`dvc repro --force`, each stage timed from its `Running stage` line to the next one
    (or to the end): the stage's command plus DVC hashing its outputs and writing the lock."""
    command = [str(variant.project / ".venv" / "bin" / "dvc"), "repro", "--force"]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=variant.project, env=variant.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    marks: list[tuple[str, float]] = []
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(STAGE_LINE):
            marks.append((line[len(STAGE_LINE):].split("'")[0], time.perf_counter()))
    end = time.perf_counter()
    if process.wait() != 0:
        sys.exit(f"dvc repro --force exited {process.returncode}:\n{''.join(lines)[-4000:]}")
    if not marks:
        sys.exit(f"no `{STAGE_LINE}...` line in dvc's output:\n{''.join(lines)[-4000:]}")
    variant.seconds["dvc repro --force"] = end - start
    variant.stages["dvc start-up (to the first stage)"] = marks[0][1] - start
    for (stage, began), (_, ended) in zip(marks, [*marks[1:], ("", end)]):
        variant.stages[stage] = ended - began
    print(f"  {variant.name}: dvc repro --force: {end - start:.1f} s", flush=True)


def tests(variant: Variant) -> None:
    python = str(variant.project / ".venv" / "bin" / "python")
    output = timed(variant, "generated tests", [python, "-m", "pytest", "-q"])
    variant.tests = output.strip().splitlines()[-1]


def tests_on_workers(variant: Variant) -> None:
    """`make test` as the generated Makefile runs it: on pytest-xdist's workers."""
    timed(variant, "make test", ["make", "test"])


def report(variants: list[Variant]) -> None:
    source, compiled = variants

    def row(label: str, a: float, b: float) -> list[str]:
        return [label, f"{a:.1f}", f"{b:.1f}", f"{a / b:.2f}x"]

    rows = [["`.pyc` files in the venv", f"{source.pyc_files:,}", f"{compiled.pyc_files:,}", ""]]
    rows += [row(label, source.seconds[label], compiled.seconds[label])
             for label in ("install", "first dvc repro", "dvc repro --force")]
    rows += [row(f"- {stage}", seconds, compiled.stages[stage])
             for stage, seconds in source.stages.items()]
    rows.append(row("generated tests (`pytest -q`)", source.seconds["generated tests"],
                    compiled.seconds["generated tests"]))
    rows.append(row("generated tests on xdist's workers (`make test`)",
                    source.seconds["make test"], compiled.seconds["make test"]))
    print()
    print(table(["seconds", "source only (no .pyc)", "compiled (`--compile-bytecode`)",
                 "source ÷ compiled"], rows))
    print(f"\n- generated tests: source `{source.tests}`; compiled `{compiled.tests}`")
    before, after = source.seconds["generated tests"], compiled.seconds["make test"]
    print(f"- the same tests before the speed work (source venv, one process) and as `make "
          f"test` runs them now (compiled, on workers): {before:.1f} s -> {after:.1f} s, "
          f"{after / before:.2f}x")
    print("- every command ran with PYTHONDONTWRITEBYTECODE=1; stage times run from one "
          "`Running stage` line of `dvc repro --force` to the next")
    python = Path(sys.executable)
    if python.is_relative_to(REPO):
        python = python.relative_to(REPO)
    command = shlex.join([str(python), "benchmarks/bench_bytecode.py"])
    print(f"\nreproduce: `cd {shlex.quote(str(REPO))} && make venv && {command}`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-bytecode-") as tmp:
        variants = [prepared(name, Path(tmp)) for name in VARIANTS]
        for step in (install, first_repro, repro_by_stage, tests, tests_on_workers):
            for variant in variants:  # taking turns: a change of load falls on both
                step(variant)
    report(variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
