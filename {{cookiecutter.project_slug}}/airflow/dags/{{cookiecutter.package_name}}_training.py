"""
### {{ cookiecutter.project_name }}

Training pipeline: one task per stage of the project's `dvc.yaml`, in its order (the
DAG's description lists them), read from that file whenever Airflow parses this one.

Each task runs `dvc repro --single-item <stage>` in the project directory, as
`make pipeline` does for all of them: DVC runs the stage's command
(`{{ cookiecutter.project_slug }} <stage>`) only if the stage changed, and records what it
ran in `dvc.lock`, so `dvc status` stays true after every run.

* **data** runs every time (`--force`): it reads `data.source` again, which may live
  where DVC cannot see it change. Its output decides what follows.
* Every other stage runs only when its dependencies, params or code changed since
  `dvc.lock` was written: new data, an edited `config/model_config.yaml` or changed
  code. Otherwise DVC skips it ("Stage 'train' didn't change, skipping"): a week
  without changes registers no model version and leaves the champion as it is.
* **train** registers a new version as the challenger; **evaluate** fails the run when
  held-out metrics fall below the gate; **promote** makes the challenger champion only
  if it beats the champion; **export** writes the champion to `models/serving`.

Retries: every task but **train** is safe to run again and retries twice. train
registers the model version before DVC writes `dvc.lock`, so a retry after a failure
late in the step would register another version: a failed train waits for you. Read
its log, fix the cause, then clear the task (that run registers one new version).

Where it runs: the directory in `{{ cookiecutter.package_name.upper() }}_PROJECT_DIR`
(set for the Airflow processes), by default the project that holds this file. `dvc` and
the CLI come from the project's virtualenv: `{{ cookiecutter.package_name.upper() }}_VENV`,
absolute or relative to the project directory, by default `.venv` (made by
`make install`). Airflow runs in an environment of its own and never imports the project.
The checkout must be a DVC repository (`make pipeline` runs `dvc init` on first use), and
the DAG commits nothing: commit `dvc.lock` and the metrics after a run to share them.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

# Run even when DVC sees no change: data.source may be outside DVC's sight.
ALWAYS_RUN = frozenset({"data"})
# Never retried: the version is registered before dvc.lock records the stage.
NOT_RETRIED = frozenset({"train"})
RETRIES = 2

# Read when the DAG file is parsed, not from Airflow Variables: a Variable lookup in
# top-level DAG code would query Airflow on every parse of this file.
PROJECT_DIR = Path(
    os.environ.get(
        "{{ cookiecutter.package_name.upper() }}_PROJECT_DIR",
        Path(__file__).resolve().parents[2],  # <project>/airflow/dags/<this file>
    )
)
# The stages of dvc.yaml, in its order: the pipeline's steps are listed once, there (and
# checked against the CLI's), so a stage added to dvc.yaml is a task at the next parse.
STAGES = tuple(yaml.safe_load((PROJECT_DIR / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
# An absolute path replaces PROJECT_DIR in the join; a relative one is inside it.
VENV = PROJECT_DIR / os.environ.get("{{ cookiecutter.package_name.upper() }}_VENV", ".venv")
# Added to the task's environment: the project's venv first, and telemetry off.
STEP_ENV = {
    "PATH": os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")]),
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
}

default_args = {
    "owner": "{{ cookiecutter.author_name }}",
    "retries": RETRIES,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=2),
}


def repro(stage: str) -> str:
    """The task's command: DVC runs the stage if it changed and records it in dvc.lock."""
    force = " --force" if stage in ALWAYS_RUN else ""
    return f"dvc repro --single-item{force} {stage}"


with DAG(
    dag_id="{{ cookiecutter.package_name }}_training",
    description=" >> ".join(STAGES),
    schedule="@weekly",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args,
    tags=["ml", "training", "{{ cookiecutter.project_slug }}"],
    doc_md=__doc__,
):
    tasks = [
        BashOperator(
            task_id=stage,
            bash_command=repro(stage),
            cwd=str(PROJECT_DIR),
            env=STEP_ENV,
            append_env=True,
            retries=0 if stage in NOT_RETRIED else RETRIES,
        )
        for stage in STAGES
    ]
    chain(*tasks)
