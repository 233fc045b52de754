"""End-to-end tier: Airflow 3 loads the generated DAG, then runs it against a real project.

Airflow pins its own web stack (fastapi and more), so it gets a venv of its own, made once
per session with the template venv's uv (~3 s with a warm uv cache, ~15-25 s cold, ~290 MB).
The project is never installed there: Airflow cannot import it, and the tasks reach it
only through the commands they run.

Loading, both engines: one subprocess in that venv loads each engine's rendered
`airflow/dags` with Airflow's `DagBag` (no metadata database needed) and reports the DAG
as JSON, checked against the project's `dvc.yaml`.

Running, cookiecutter: a project of its own (another name than the other e2e projects:
they all install into the one shared venv) after `git init`, `make install` and
`dvc init`. The DAG file is copied to a dags folder outside the project, so
`<PACKAGE>_PROJECT_DIR` decides where the tasks run, and `<PACKAGE>_VENV` points them at
the shared venv. `airflow db migrate` on sqlite in a temporary `AIRFLOW_HOME`, then three
`airflow dags test` runs, in order:

1. partial failure: `dvc.yaml` declares a train output the command never writes, so DVC
   fails after train registered its model version and before `dvc.lock` records the
   stage, the case a retry would turn into extra versions;
2. the fix: `dvc.yaml` restored, a new run; every task succeeds, a champion is crowned;
3. a week without changes: `data` runs again, DVC skips every other stage.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from bake import ENGINES, capture, outside_make, render
from conftest import run

pytestmark = pytest.mark.e2e

AIRFLOW_SPEC = "apache-airflow>=3.0"
# The project of the real run. Its package is weekly_churn, its env vars WEEKLY_CHURN_*.
RUN_ANSWERS = {"project_name": "Weekly Churn"}
CHAMPION, CHALLENGER = "champion", "challenger"
# The output the sabotaged train stage declares and its command never writes.
NEVER_WRITTEN = "models/never-written.json"

# Runs in the Airflow venv: argv[1] is a JSON list of jobs, argv[2] the report to write.
# Airflow logs to stdout, hence the report file.
PROBE = r'''
import importlib.util
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
    parsed = describe(DagBag(dag_folder=job["dag_folder"]))
    parsed["importable"] = importlib.util.find_spec(job["package"]) is not None
    parsed["imported"] = job["package"] in sys.modules
    report[job["engine"]] = parsed
Path(sys.argv[2]).write_text(json.dumps(report, default=str))
'''


@pytest.fixture(scope="session")
def airflow_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv with Airflow 3, made once per session."""
    venv = tmp_path_factory.mktemp("airflow") / "venv"
    uv = Path(sys.executable).parent / "uv"
    python = venv / "bin" / "python"
    for command in (
        [uv, "venv", "--quiet", "--python", sys.executable, venv],
        [uv, "pip", "install", "--quiet", "--python", python, AIRFLOW_SPEC],
    ):
        run(shlex.join(map(str, command)), venv.parent, outside_make())
    return python


def airflow_env(airflow_python: Path, home: Path) -> dict[str, str]:
    """Airflow's own processes: its venv on PATH, sqlite under `home`, no examples, quiet.

    Nothing of the project's venv: the DAG has to find it by itself.
    """
    env = {
        key: value for key, value in outside_make().items()
        if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON", "MLFLOW_TRACKING"))
    }
    env.update(
        PATH=f"{airflow_python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        DVC_NO_ANALYTICS="1",
        ORT_DISABLE_TELEMETRY="1",
    )
    return env


def names(project: Path) -> tuple[str, str]:
    """(slug, package) of a generated project."""
    (package,) = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    return project.name, package


def dvc_stages(project: Path) -> list[str]:
    """The stages of the project's dvc.yaml, in file order."""
    return list(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])


# --- Loading: DagBag, both engines ------------------------------------------------------


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {engine: render(engine, tmp_path_factory.mktemp(engine)) for engine in ENGINES}


@pytest.fixture(scope="module")
def report(
    airflow_python: Path, projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What Airflow made of each engine's DAG folder, from one subprocess."""
    root = tmp_path_factory.mktemp("airflow-probe")
    jobs = [
        {"engine": engine, "dag_folder": str(project / "airflow" / "dags"),
         "package": names(project)[1]}
        for engine, project in projects.items()
    ]
    (root / "probe.py").write_text(PROBE)
    env = airflow_env(airflow_python, root / "airflow-home")
    env["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    output = root / "report.json"
    run(shlex.join([str(airflow_python), "probe.py", json.dumps(jobs), str(output)]), root, env)
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


def test_dag_folder_loads_one_dag_without_importing_the_project(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    dag = the_dag(report, projects, engine)
    assert set(dag["tasks"]) == set(dvc_stages(projects[engine]))
    # Airflow's venv cannot import the project, so the DAG loading proves it needs not.
    assert not report[engine]["importable"] and not report[engine]["imported"]


def test_tasks_form_the_dvc_pipeline_chain(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    tasks = the_dag(report, projects, engine)["tasks"]
    chain = dvc_stages(projects[engine])
    for before, after in zip(chain, chain[1:]):
        assert tasks[before]["downstream"] == [after], before
        assert tasks[after]["upstream"] == [before], after
    assert tasks[chain[0]]["upstream"] == [] and tasks[chain[-1]]["downstream"] == []


def test_each_task_reproduces_its_dvc_stage_in_the_project(
    report: dict[str, Any], projects: dict[str, Path], engine: str
) -> None:
    project = projects[engine]
    venv_bin = str(project.resolve() / ".venv" / "bin")
    for stage, task in the_dag(report, projects, engine)["tasks"].items():
        assert task["operator"] == "airflow.providers.standard.operators.bash.BashOperator"
        # Only data is forced: it re-reads data.source, which DVC may not see change.
        force = ["--force"] if stage == "data" else []
        assert task["bash_command"].split() == ["dvc", "repro", "--single-item", *force, stage]
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
    for stage, task in dag["tasks"].items():
        # train registers a model version before dvc.lock records it: never retried.
        assert task["retries"] == (0 if stage == "train" else 2), stage
        assert task["retry_delay_s"] > 0, stage
        assert task["execution_timeout_s"], f"{stage} has no execution_timeout"
        assert task["owner"] and task["owner"] != "airflow", stage


# --- Running: `airflow dags test` against a real project --------------------------------


class Run(NamedTuple):
    """What one `airflow dags test` did, read right after it."""

    returncode: int
    output: str
    tasks: dict[str, tuple[str, int, int]]  # task_id -> (state, try_number, max_tries)
    versions: list[str]  # registered model versions
    aliases: dict[str, str]  # alias -> version
    dvc_status: dict[str, Any]
    lock: str  # dvc.lock as the run left it ("" if absent)


class RealRun(NamedTuple):
    project: Path
    rendered_dvc_yaml: str
    failed: Run
    fixed: Run
    unchanged: Run


def task_instances(home: Path) -> dict[str, tuple[str, int, int]]:
    """The latest DAG run's tasks, from Airflow's sqlite database."""
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, state, try_number, max_tries FROM task_instance WHERE run_id = "
            "(SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1)"
        ).fetchall()
    return {task_id: (state, tries, max_tries) for task_id, state, tries, max_tries in rows}


def registry(project: Path) -> tuple[list[str], dict[str, str]]:
    """(versions, aliases) of the project's registered model in its own mlflow.db."""
    from mlflow import MlflowClient  # imported when used: e2e modules are collected always

    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    name = config["mlflow"]["registered_model_name"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    found = client.search_model_versions(f"name='{name}'")
    versions = sorted(int(version.version) for version in found)
    aliases = client.get_registered_model(name).aliases
    return [str(v) for v in versions], {alias: str(v) for alias, v in aliases.items()}


def declare_an_output_train_never_writes(project: Path) -> None:
    dvc_yaml = project / "dvc.yaml"
    pipeline = yaml.safe_load(dvc_yaml.read_text())
    pipeline["stages"]["train"]["outs"].append(NEVER_WRITTEN)
    dvc_yaml.write_text(yaml.safe_dump(pipeline, sort_keys=False))


@pytest.fixture(scope="module")
def real_run(
    airflow_python: Path, shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> RealRun:
    project = render("cookiecutter", tmp_path_factory.mktemp("airflow-run"), **RUN_ANSWERS)
    _, package = names(project)
    for command in ("git init", "make install", "dvc init --quiet"):
        run(command, project, shared_env)
    home = tmp_path_factory.mktemp("airflow-home")
    dag_file = project / "airflow" / "dags" / f"{package}_training.py"
    (home / "dags").mkdir()
    shutil.copy(dag_file, home / "dags")  # outside the project: the env var must say where
    env = airflow_env(airflow_python, home)
    env[f"{package.upper()}_PROJECT_DIR"] = str(project)
    env[f"{package.upper()}_VENV"] = shared_env["VENV"]
    airflow = airflow_python.parent / "airflow"
    run(f"{airflow} db migrate", home, env)

    def dags_test() -> Run:
        result = capture([str(airflow), "dags", "test", f"{package}_training"], cwd=home, env=env)
        status = capture(["dvc", "status", "--json"], cwd=project, env=shared_env)
        assert status.returncode == 0, status.stdout + status.stderr
        lock = project / "dvc.lock"
        versions, aliases = registry(project)
        return Run(
            returncode=result.returncode,
            output=result.stdout + result.stderr,
            tasks=task_instances(home),
            versions=versions,
            aliases=aliases,
            dvc_status=json.loads(status.stdout),
            lock=lock.read_text() if lock.exists() else "",
        )

    rendered = (project / "dvc.yaml").read_text()
    declare_an_output_train_never_writes(project)
    failed = dags_test()
    (project / "dvc.yaml").write_text(rendered)
    fixed = dags_test()
    unchanged = dags_test()
    return RealRun(project, rendered, failed, fixed, unchanged)


def succeeded(result: Run, stages: list[str]) -> None:
    """The run succeeded, and so did each stage's task, at its first try."""
    assert result.returncode == 0, result.output[-6000:]
    first_tries = {task: (state, tries) for task, (state, tries, _) in result.tasks.items()}
    assert first_tries == {stage: ("success", 1) for stage in stages}


def test_train_failing_after_registering_is_not_retried(real_run: RealRun) -> None:
    """The version is in the registry, dvc.lock lacks the stage, and train ran once."""
    failed = real_run.failed
    assert failed.returncode != 0 and "DagRun failed" in failed.output, failed.output[-6000:]
    assert f"output '{NEVER_WRITTEN}' does not exist" in failed.output
    assert failed.tasks["data"][0] == failed.tasks["prepare"][0] == "success", failed.tasks
    assert failed.tasks["train"] == ("failed", 1, 0), "train must fail at once, not retry"
    for stage in ("evaluate", "promote", "export"):
        assert failed.tasks[stage][0] == "upstream_failed", (stage, failed.tasks)
    assert failed.versions == ["1"]
    assert failed.aliases == {CHALLENGER: "1"}
    assert set(yaml.safe_load(failed.lock)["stages"]) == {"data", "prepare"}


def test_run_after_the_fix_registers_one_version_and_crowns_it(real_run: RealRun) -> None:
    fixed, project = real_run.fixed, real_run.project
    assert (project / "dvc.yaml").read_text() == real_run.rendered_dvc_yaml
    succeeded(fixed, dvc_stages(project))
    assert fixed.versions == ["1", "2"], "one new version for the one train that ran"
    assert fixed.aliases == {CHAMPION: "2", CHALLENGER: "2"}
    # dvc.lock is true: every stage recorded, nothing to reproduce.
    assert list(yaml.safe_load(fixed.lock)["stages"]) == dvc_stages(project)
    assert fixed.dvc_status == {}
    # The tasks worked in the project named by the env var, not beside the DAG file.
    metadata = json.loads((project / "models" / "serving" / "metadata.json").read_text())
    assert (metadata["version"], metadata["alias"]) == ("2", CHAMPION)


def test_unchanged_week_reruns_data_and_skips_the_rest(real_run: RealRun) -> None:
    unchanged, fixed = real_run.unchanged, real_run.fixed
    stages = dvc_stages(real_run.project)
    succeeded(unchanged, stages)
    assert "Running stage 'data'" in unchanged.output
    for stage in stages[1:]:
        assert f"Stage '{stage}' didn't change, skipping" in unchanged.output, stage
    assert unchanged.versions == fixed.versions and unchanged.aliases == fixed.aliases
    assert unchanged.dvc_status == {} and unchanged.lock == fixed.lock
