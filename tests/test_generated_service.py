"""The generated service, live: uvicorn on 127.0.0.1, started from the exported bundle alone.

The bundle is copied away from the project, so the server has no tracking database, no
config file and no training data to lean on: exactly what a container gets.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bake import TOOLS, stop_process_group

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """POST JSON (or raw bytes) when a body is given, GET otherwise; (status, parsed body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


@contextmanager
def running(command: str, cwd: Path, env: dict[str, str], ready_url: str) -> Iterator[None]:
    """Start a server in its own process group, wait until ``ready_url`` answers 200, stop it."""
    log = cwd / f"server-{time.monotonic_ns()}.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command, shell=True, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"`{command}` exited {server.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if call(ready_url)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"{ready_url} not ready after 120 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.25)
        yield
    finally:
        stop_process_group(server)


@pytest.fixture(scope="module")
def held_out(project: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    import pandas as pd  # imported when used: e2e modules are collected in every run

    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    test = pd.read_csv(project / "data" / "processed" / "test.csv")
    target = config["data"]["target"]
    return test.drop(columns=target).to_dict(orient="records"), test[target].tolist()


@contextmanager
def serving_a_copy(
    project: Path, workdir: Path, shared_env: dict[str, str], command: Callable[[int], str]
) -> Iterator[str]:
    """Base URL of the service started by ``command(port)`` in ``workdir``, serving a copy
    of the project's exported bundle with no tracking database: what a container gets, and
    a later pipeline run in the project cannot change what is served."""
    bundle = shutil.copytree(project / "models" / "serving", workdir / "bundle")
    env = {key: value for key, value in shared_env.items() if key != "MLFLOW_TRACKING_URI"}
    env["MODEL_PATH"] = str(bundle)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(command(port), workdir, env, f"{base}/ready"):
        yield base


@pytest.fixture(scope="module")
def service(
    project: Path, shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of the generated service's own command, serving a copy of the bundle."""
    serve = f"{shared_env['VENV']}/bin/{project.name} serve --host 127.0.0.1 --port {{}}"
    workdir = tmp_path_factory.mktemp("container")
    with serving_a_copy(project, workdir, shared_env, serve.format) as base:
        yield base


def metric_samples(base: str) -> dict[tuple[str, tuple], float]:
    status, text = call(f"{base}/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_serves_the_champion_without_tracking_database(service: str) -> None:
    assert call(f"{service}/health") == (200, {"status": "ok", "detail": None})
    status, metadata = call(f"{service}/metadata")
    assert status == 200
    assert (metadata["version"], metadata["alias"]) == ("1", "champion")
    assert metadata["runtime"] == "onnxruntime"
    assert 0.5 < metadata["metrics"]["test_roc_auc"] <= 1.0
    assert metadata["positive_class"] == 0  # the minority class of the bundled data
    # The alert's reference: the served model's own held-out accuracy, from the export.
    held_out = metric_samples(service)[("model_heldout_accuracy", ())]
    assert held_out == pytest.approx(metadata["metrics"]["test_accuracy"])


def test_traffic_moves_the_counters_exactly(service: str, held_out) -> None:
    records, labels = held_out
    before = metric_samples(service)

    batches = [records[0:1], records[1:4], records[4:20]]
    responses = [call(f"{service}/predict", {"records": batch}) for batch in batches]
    assert [status for status, _ in responses] == [200, 200, 200]
    for (_, body), batch in zip(responses, batches):
        assert body["warnings"] == []  # held-out rows: no unseen category
        assert len(body["positive_probabilities"]) == len(batch)
    predicted = [label for _, body in responses for label in body["predictions"]]

    missing = dict(records[0])
    missing.pop(next(iter(missing)))
    bad = [
        call(f"{service}/predict", {"records": [missing]}),
        call(f"{service}/predict", {"records": []}),
        call(f"{service}/predict", {"records": [dict(records[0], extra=1.0)]}),
    ]
    assert [status for status, _ in bad] == [422, 422, 422]
    assert call(f"{service}/predict", raw=b'{"records": [')[0] == 400

    last = responses[-1][1]
    status, feedback = call(
        f"{service}/feedback", {"request_id": last["request_id"], "labels": labels[4:20]}
    )
    assert status == 200
    assert call(f"{service}/feedback", {"request_id": "unknown", "labels": [labels[0]]})[0] == 404

    after = metric_samples(service)
    for label in set(predicted):
        counted = delta(after, before, "model_predictions_total", predicted_class=str(label))
        assert counted == predicted.count(label)
    assert delta(after, before, "model_prediction_latency_seconds_count") == len(batches)
    assert delta(after, before, "model_request_errors_total", reason="validation") == 3
    assert delta(after, before, "model_request_errors_total", reason="malformed_json") == 1
    assert delta(after, before, "model_request_errors_total", reason="unknown_request") == 1
    assert delta(after, before, "model_feedback_labels_total") == 16
    assert after[("model_live_accuracy", ())] == pytest.approx(feedback["live_accuracy"])
    # Recall of the positive class (0, malignant) over the 16 labelled predictions.
    pairs = list(zip(last["predictions"], labels[4:20]))
    positives = [predicted for predicted, label in pairs if label == 0]
    assert positives, "the labelled rows hold a positive example"
    recall = sum(predicted == 0 for predicted in positives) / len(positives)
    assert feedback["live_recall"] == pytest.approx(recall)
    assert after[("model_live_recall", ())] == pytest.approx(recall)
    assert after[("model_requests_in_flight", ())] == 0


def test_fuzzing_the_openapi_schema_finds_no_server_error(service: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(TOOLS / "schemathesis"), "run", f"{service}/openapi.json",
            "--checks", "all", "--max-examples", "25", "--seed", "1", "--workers", "1",
        ],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_mlflow_models_serve_answers_like_the_service(
    project: Path, shared_env: dict[str, str], service: str, held_out
) -> None:
    """The registered model is a standard MLflow model: MLflow's own server can serve it."""
    records, _ = held_out
    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    name = config["mlflow"]["registered_model_name"]
    port = free_port()
    env = dict(shared_env, MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    command = (
        f"{shared_env['VENV']}/bin/mlflow models serve -m 'models:/{name}@champion' "
        f"--env-manager local --host 127.0.0.1 --port {port}"
    )
    with running(command, project, env, f"http://127.0.0.1:{port}/ping"):
        import pandas as pd

        frame = pd.DataFrame.from_records(records[:10])
        status, body = call(
            f"http://127.0.0.1:{port}/invocations",
            {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))},
        )
    assert status == 200, body
    ours = call(f"{service}/predict", {"records": records[:10]})[1]["predictions"]
    assert body["predictions"] == ours
