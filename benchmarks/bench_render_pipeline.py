"""Time what a user waits for: rendering, the generated pipeline, tests and lint.

Prints one table. Machines here are noisy, so each number comes with a baseline measured
in the same run: the pipeline is compared with the bare cost of starting Python and
importing each stage's module (what the separate stage processes must pay anyway).

    make bench            # or: .venv/bin/python benchmarks/bench_render_pipeline.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bake import (  # noqa: E402  (beside the tests)
    ANSWERS_FILE, ENGINES, jinja_compiling_every_time, project_env, render,
)

# Module each pipeline stage imports, in dvc.yaml order.
STAGE_MODULES = ("data", "data", "train", "evaluate", "registry", "model_io")


def timed(command: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def render_seconds(engine: str, scratch: Path, repeats: int) -> float:
    """A render as users run it: without the tests' cache of compiled Jinja sources."""
    times = []
    with jinja_compiling_every_time():
        for attempt in range(repeats):
            start = time.perf_counter()
            render(engine, scratch / f"{engine}-{attempt}")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="renders per engine")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        scratch = Path(tmp)
        rows = [(f"render ({engine}, median of {args.repeats})",
                 render_seconds(engine, scratch, args.repeats)) for engine in ENGINES]

        project = render("copier", scratch / "project")
        venv = scratch / "venv"
        env = project_env(venv)
        subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable,
                        str(venv)], check=True)
        rows.append(("make install (shared uv cache)", timed("make install", project, env)))
        package = yaml.safe_load((project / ANSWERS_FILE).read_text())["package_name"]
        python = venv / "bin" / "python"
        floor = sum(
            timed(f"{python} -c 'import {package}.{module}'", project, env)
            for module in STAGE_MODULES
        )
        rows.append((f"baseline: import floor of the {len(STAGE_MODULES)} stages", floor))
        timed("git init --quiet && dvc init --quiet", project, env)
        repro = timed("dvc repro", project, env)
        rows.append(("dvc repro from a clean state", repro))
        # In one process first: the baseline of `make test` on xdist's workers.
        serial = timed("make test TEST_WORKERS=0", project, env)
        rows.append(("generated tests in one process (make test TEST_WORKERS=0)", serial))
        tests = timed("make test", project, env)
        rows.append(("generated tests on xdist's workers (make test)", tests))
        # The first run is the baseline of the second: mypy checks the installed packages
        # once, then only what changed (nothing), if neither run spoils the other's cache.
        lint = timed("make lint", project, env)
        rows.append(("make lint, first run", lint))
        relint = timed("make lint", project, env)
        rows.append(("make lint again, nothing changed", relint))

    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  seconds")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds:7.2f}")
    print(f"\ndvc repro / import floor = {repro / floor:.2f}x "
          f"(the rest is model fitting, MLflow logging and DVC itself)")
    print(f"make test / one process = {tests / serial:.2f}x (the workers at work)")
    print(f"make lint again / first run = {relint / lint:.2f}x (the mypy caches at work)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
