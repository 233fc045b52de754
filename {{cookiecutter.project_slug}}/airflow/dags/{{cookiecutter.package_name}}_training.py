"""
### {{ cookiecutter.project_name }}

Training pipeline: runs the project's steps in order, each one a call to the project's
command line in the project directory, exactly as `dvc repro` and the Makefile do:

`data >> prepare >> train >> evaluate >> promote >> export`

* **data** writes the raw dataset; **prepare** validates and splits it.
* **train** fits, logs to MLflow and registers the model as the challenger.
* **evaluate** fails the run when held-out metrics fall below the thresholds.
* **promote** makes the challenger champion only if it beats the champion.
* **export** writes the champion as a serving bundle (`models/serving`).

Where it runs: the directory in the environment variable
`{{ cookiecutter.package_name.upper() }}_PROJECT_DIR`
(set for the Airflow processes), by default the project that holds this file. The CLI
comes from the project's own virtualenv (`.venv`, made by `make install`): Airflow runs
in a separate environment and never imports the project.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

CLI = "{{ cookiecutter.project_slug }}"
STEPS = ("data", "prepare", "train", "evaluate", "promote", "export")
# Read when the DAG file is parsed, not from an Airflow Variable: a Variable lookup in
# top-level DAG code would query Airflow on every parse of this file.
PROJECT_DIR = Path(
    os.environ.get(
        "{{ cookiecutter.package_name.upper() }}_PROJECT_DIR",
        Path(__file__).resolve().parents[2],  # <project>/airflow/dags/<this file>
    )
)
# Added to the task's environment: the project's venv first, and telemetry off.
STEP_ENV = {
    "PATH": os.pathsep.join([str(PROJECT_DIR / ".venv" / "bin"), os.environ.get("PATH", "")]),
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
}

default_args = {
    "owner": "{{ cookiecutter.author_name }}",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=2),
}

with DAG(
    dag_id="{{ cookiecutter.package_name }}_training",
    description="data >> prepare >> train >> evaluate >> promote >> export",
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
            task_id=step,
            bash_command=f"{CLI} {step}",
            cwd=str(PROJECT_DIR),
            env=STEP_ENV,
            append_env=True,
        )
        for step in STEPS
    ]
    for upstream, downstream in zip(tasks, tasks[1:]):
        upstream >> downstream
