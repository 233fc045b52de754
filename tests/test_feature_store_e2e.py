"""End to end with a feature store: a `feature_store=feast` project, run for real, offline.

The project runs its README quickstart (install, `dvc repro` with the `features` and
`materialize` stages, its tests, which include the feature store's own), its linter, the
`feast` command on its repository, and its service, which must answer entity keys from
the online store exactly as it answers the same features sent as records.

It installs into conftest.py's `pandas_below_3_env`, not the shared environment: Feast pins
pandas<3 and prometheus-client<0.25, which would change the packages every other
end-to-end project runs with. The uv cache is shared, so the install is quick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bake import render
from conftest import run, run_quickstart
from test_generated_service import call, free_port, running

pytestmark = pytest.mark.e2e

ANSWERS = {"project_name": "Feature Churn", "feature_store": "feast"}


@pytest.fixture(scope="module")
def feast_env(pandas_below_3_env: dict[str, str]) -> dict[str, str]:
    """The e2e settings with the venv for projects on pandas 2 (see above)."""
    return pandas_below_3_env


@pytest.fixture(scope="module")
def feast_project(
    tmp_path_factory: pytest.TempPathFactory, feast_env: dict[str, str]
) -> Iterator[Path]:
    project = render("copier", tmp_path_factory.mktemp("feast"), **ANSWERS)
    start = time.monotonic()
    run_quickstart(project, feast_env)
    print(f"\nfeature_store=feast quickstart: {time.monotonic() - start:.0f} s")
    yield project


@pytest.fixture(scope="module")
def config(feast_project: Path) -> dict:
    return yaml.safe_load((feast_project / "config" / "model_config.yaml").read_text())


def test_lint_is_clean(feast_project: Path, feast_env: dict[str, str]) -> None:
    run("make lint", feast_project, feast_env)


def test_the_pipeline_went_through_the_feature_store(
    feast_project: Path, feast_env: dict[str, str], config: dict
) -> None:
    """Every row reached the store, was materialized, and DVC has nothing left to run."""
    metrics = feast_project / "metrics"
    data = json.loads((metrics / "data.json").read_text())
    registered = json.loads((metrics / "feature_store.json").read_text())
    materialized = json.loads((metrics / "materialize.json").read_text())
    rows = data["rows_train"] + data["rows_test"]
    assert registered["rows"] == registered["entities"] == rows
    assert materialized["entities"] == rows
    repo = feast_project / config["feature_store"]["repo_path"]
    assert {path.name for path in (repo / "data").iterdir()} >= {
        "features.parquet", "registry.db", "online_store.db",
    }
    status = run(f"{feast_env['VENV']}/bin/dvc status", feast_project, feast_env)
    assert "Data and pipelines are up to date" in status.stdout


def test_the_feast_command_reads_the_repository(
    feast_project: Path, feast_env: dict[str, str], config: dict
) -> None:
    """`feast plan` imports definitions.py as `feast apply` would, and finds the feature
    view the pipeline registered (Feast lists its own timestamps as updated, nothing new)."""
    repo = feast_project / config["feature_store"]["repo_path"]
    plan = run(f"{feast_env['VENV']}/bin/feast plan", repo, feast_env).stdout
    view = f"{feast_project.name.replace('-', '_')}_features"
    assert f"feature view {view}" in plan, plan
    assert "Created feature view" not in plan and "Deleted" not in plan, plan


def test_the_service_answers_entity_keys_from_the_online_store(
    feast_project: Path, feast_env: dict[str, str], config: dict
) -> None:
    import pandas as pd  # imported when used: e2e modules are collected in every run

    key = config["feature_store"]["entity_key"]
    schema = json.loads((feast_project / "data" / "processed" / "schema.json").read_text())
    names = [feature["name"] for feature in schema["features"]]
    rows = pd.read_csv(feast_project / "data" / "processed" / "test.csv").head(5)
    records = json.loads(rows[names].to_json(orient="records"))
    keys = [{key: int(value)} for value in rows[key]]
    unknown = int(pd.read_csv(feast_project / config["data"]["raw_path"])[key].max()) + 1

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = f"make serve HOST=127.0.0.1 PORT={port}"
    with running(serve, feast_project, feast_env, f"{base}/ready"):
        by_record = call(f"{base}/predict", {"records": records})
        by_key = call(f"{base}/predict", {"entities": keys})
        missing = call(f"{base}/predict", {"entities": [keys[0], {key: unknown}]})
    assert by_record[0] == by_key[0] == 200, by_key
    for field in ("predictions", "probabilities", "positive_probabilities", "warnings"):
        assert by_key[1][field] == by_record[1][field], field
    assert missing == (404, {"detail": f"entities.1.{key}: {unknown} is not in the online store"})
