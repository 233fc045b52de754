"""`make demo`: render a project with default answers and run it end to end.

It does what a new user does after generating a project (git init, make install,
make pipeline) and then points at the results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bake import ENGINES, render  # noqa: E402  (the helpers live beside the tests)

STEPS = ("git init --quiet", "make install", "make pipeline")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="scratch folder, replaced on each run")
    parser.add_argument("--engine", choices=ENGINES, default="copier")
    args = parser.parse_args()

    dest = args.dest.resolve()
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    project = render(args.engine, dest)
    print(f"rendered {project} with {args.engine}", flush=True)

    env = {key: value for key, value in os.environ.items() if key != "VENV"}
    for command in STEPS:
        print(f"\n$ {command}", flush=True)
        subprocess.run(command, shell=True, cwd=project, env=env, check=True)

    metrics = json.loads((project / "metrics" / "evaluate.json").read_text())
    promotion = json.loads((project / "metrics" / "promotion.json").read_text())
    print(f"\nDone. The generated project is in {project}")
    print("  held-out metrics:  " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    print(f"  champion version:  {promotion['challenger_version']}"
          if promotion["promoted"] else "  champion unchanged")
    print(f"  metrics and plots: {project / 'metrics'}, {project / 'plots'}")
    print(f"  MLflow runs:       cd {project} && .venv/bin/mlflow ui "
          "--backend-store-uri sqlite:///mlflow.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
