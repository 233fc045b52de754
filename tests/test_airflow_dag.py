"""End-to-end tier: the generated Airflow DAG loads in Airflow 3 and runs the project's CLI.

Airflow pins its own web stack (fastapi and more), so it gets a venv of its own, made once
per session with the template venv's uv (~4 s with a warm uv cache, ~25 s cold, ~290 MB).
One subprocess in that venv loads each engine's rendered `airflow/dags` folder with
Airflow's `DagBag` (no metadata database is needed for that) and reports the DAG as JSON.
It then parses the folder again with `<PACKAGE>_PROJECT_DIR` pointing at a stand-in
project whose `.venv/bin/<slug>` only records its arguments, and executes every task's
operator in chain order: the commands really run, in that directory, with that CLI.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bake import ENGINES, render

pytestmark = pytest.mark.e2e

AIRFLOW_SPEC = "apache-airflow>=3.0"
CHAIN = ["data", "prepare", "train", "evaluate", "promote", "export"]
STUB_CLI = '#!/bin/sh\necho "$PWD $*" >> "$PWD/calls.txt"\n'

# Runs in the Airflow venv: argv[1] is a JSON list of jobs, argv[2] the report to write.
# Airflow logs to stdout, hence the report file.
PROBE = r'''
import json
import os
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag


def describe(bag):
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": dag.schedule,
            "start_date": str(dag.start_date),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "has_doc_md": bool(dag.doc_md),
            "tasks": {
                task.task_id: {
                    "operator": f"{type(task).__module__}.{type(task).__name__}",
                    "downstream": sorted(task.downstream_task_ids),
                    "upstream": sorted(task.upstream_task_ids),
                    "bash_command": task.bash_command,
                    "cwd": task.cwd,
                    "env": task.env,
                    "append_env": task.append_env,
                    "owner": task.owner,
                    "retries": task.retries,
                    "retry_delay_s": task.retry_delay.total_seconds(),
                    "execution_timeout_s": (
                        task.execution_timeout.total_seconds()
                        if task.execution_timeout else None
                    ),
                }
                for task in dag.tasks
            },
        }
    return {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags}


report = {}
for job in json.loads(sys.argv[1]):
    os.environ.pop(job["env_var"], None)
    parsed = describe(DagBag(dag_folder=job["dag_folder"]))
    # Again, pointed at the stand-in project, and run every task in chain order.
    os.environ[job["env_var"]] = job["stand_in"]
    bag = DagBag(dag_folder=job["dag_folder"])
    del os.environ[job["env_var"]]
    executed, errors = [], {}
    for dag in bag.dags.values():
        for task in dag.topological_sort():
            try:
                task.execute(context={})
                executed.append(task.task_id)
            except Exception as error:  # reported, not raised: the test shows it
                errors[task.task_id] = repr(error)
                break
    calls = Path(job["stand_in"], "calls.txt")
    parsed["executed"] = executed
    parsed["execute_errors"] = errors
    parsed["calls"] = calls.read_text().splitlines() if calls.exists() else []
    report[job["engine"]] = parsed
Path(sys.argv[2]).write_text(json.dumps(report, default=str))
'''


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(command)} exited {result.returncode}:\n"
                    f"{(result.stdout + result.stderr)[-6000:]}")
    return result


@pytest.fixture(scope="session")
def airflow_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv with Airflow 3, made once per session."""
    venv = tmp_path_factory.mktemp("airflow") / "venv"
    uv = str(Path(sys.executable).parent / "uv")
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    run([uv, "pip", "install", "--quiet", "--python", str(python), AIRFLOW_SPEC])
    return python


def names(project: Path) -> tuple[str, str]:
    """(slug, package) of a generated project."""
    (package,) = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    return project.name, package


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {engine: render(engine, tmp_path_factory.mktemp(engine)) for engine in ENGINES}


@pytest.fixture(scope="module")
def report(
    airflow_python: Path, projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What Airflow made of each engine's DAG folder, from one subprocess."""
    root = tmp_path_factory.mktemp("airflow-probe")
    jobs = []
    for engine, project in projects.items():
        slug, package = names(project)
        stand_in = root / f"stand-in-{engine}"
        stub = stand_in / ".venv" / "bin" / slug
        stub.parent.mkdir(parents=True)
        stub.write_text(STUB_CLI)
        stub.chmod(0o755)
        jobs.append({
            "engine": engine,
            "dag_folder": str(project / "airflow" / "dags"),
            "env_var": f"{package.upper()}_PROJECT_DIR",
            "stand_in": str(stand_in),
        })
    (root / "probe.py").write_text(PROBE)
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        AIRFLOW_HOME=str(root / "airflow-home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
    )
    output = root / "report.json"
    run([str(airflow_python), str(root / "probe.py"), json.dumps(jobs), str(output)],
        env=env, cwd=root)
    return json.loads(output.read_text())


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def the_dag(report: dict[str, Any], projects: dict[str, Path], engine: str) -> dict[str, Any]:
    _, package = names(projects[engine])
    found = report[engine]
    assert found["import_errors"] == {}, found["import_errors"]
    assert list(found["dags"]) == [f"{package}_training"]
    return found["dags"][f"{package}_training"]


def test_dag_folder_loads_one_dag_without_errors(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    dag = the_dag(report, projects, engine)
    assert set(dag["tasks"]) == set(CHAIN)


def test_tasks_form_the_pipeline_chain(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    tasks = the_dag(report, projects, engine)["tasks"]
    for before, after in zip(CHAIN, CHAIN[1:]):
        assert tasks[before]["downstream"] == [after], before
        assert tasks[after]["upstream"] == [before], after
    assert tasks[CHAIN[0]]["upstream"] == [] and tasks[CHAIN[-1]]["downstream"] == []


def test_each_task_calls_the_project_cli_step_in_the_project(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    project = projects[engine]
    slug, _ = names(project)
    venv_bin = str(project.resolve() / ".venv" / "bin")
    for step, task in the_dag(report, projects, engine)["tasks"].items():
        assert task["operator"] == "airflow.providers.standard.operators.bash.BashOperator"
        assert shlex.split(task["bash_command"]) == [slug, step]
        # By default: the project holding the DAG file, with its own venv first on PATH.
        assert task["cwd"] == str(project.resolve())
        assert task["env"]["PATH"].split(os.pathsep)[0] == venv_bin
        assert task["append_env"], "the task would lose the worker's environment"


def test_schedule_and_retry_policy(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    dag = the_dag(report, projects, engine)
    assert dag["schedule"] == "@weekly"
    assert dag["start_date"].startswith("2025-01-01"), "start_date must be fixed, not now()"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert "training" in dag["tags"] and dag["has_doc_md"]
    for step, task in dag["tasks"].items():
        assert task["retries"] >= 1, step
        assert task["retry_delay_s"] > 0, step
        assert task["execution_timeout_s"], f"{step} has no execution_timeout"
        assert task["owner"] and task["owner"] != "airflow", step


def test_tasks_run_the_cli_in_the_configured_project_dir(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    """The env var moves the tasks to another checkout; each runs `<slug> <step>` there."""
    found = report[engine]
    assert found["execute_errors"] == {}, found["execute_errors"]
    assert found["executed"] == CHAIN
    stand_in = found["calls"][0].split(" ")[0] if found["calls"] else ""
    assert stand_in.endswith(f"stand-in-{engine}")
    assert found["calls"] == [f"{stand_in} {step}" for step in CHAIN]
