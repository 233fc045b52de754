"""Team mode, live: the README's two switches against real servers on 127.0.0.1.

1. ``MLFLOW_TRACKING_URI`` at an ``mlflow server`` (sqlite backend, proxied artifacts): the
   pipeline logs, registers and promotes there, and leaves no tracking files in the project.
2. A DVC remote on S3 (moto standing in for MinIO): push, lose the cache and the outputs,
   pull them back.

Each test works in its own copy of the session's generated project, which stays untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bake import TOOLS
from test_generated_service import free_port, running

pytestmark = pytest.mark.e2e

BUCKET = "team-bucket"
REGION = "us-east-1"
DUMMY_KEY, DUMMY_SECRET = "team-test-key", "team-test-secret"


def sh(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run a command; fail the test with its output when it fails or hangs."""
    try:
        result = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`{' '.join(args)}` still running after {timeout} s: {error.output}")
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}:\n"
            + (result.stdout + result.stderr)[-6000:]
        )
    return result.stdout


def project_copy(project: Path, dest: Path, shared_env: dict[str, str]) -> tuple[Path, dict]:
    """The project as a teammate has it: no local tracking files; its own code first on
    sys.path (the shared venv's editable install may point at another engine's project)."""
    copy = shutil.copytree(
        project, dest / project.name, symlinks=True,
        ignore=shutil.ignore_patterns("mlflow.db", "mlruns", "mlartifacts", "server-*.log"),
    )
    env = {key: value for key, value in shared_env.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = str(copy / "src")
    return copy, env


def config_of(project: Path) -> dict:
    return yaml.safe_load((project / "config" / "model_config.yaml").read_text())


def test_pipeline_tracks_registers_and_promotes_on_a_tracking_server(
    project: Path, shared_env: dict[str, str], tmp_path: Path
) -> None:
    copy, env = project_copy(project, tmp_path, shared_env)
    server_dir = tmp_path / "server"
    artifacts = server_dir / "artifacts"
    artifacts.mkdir(parents=True)
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    server_env = dict(env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    server_env.pop("PYTHONPATH")
    command = (
        f"{shared_env['VENV']}/bin/mlflow server"
        f" --backend-store-uri sqlite:///{server_dir / 'mlflow.db'}"
        f" --artifacts-destination {artifacts} --host 127.0.0.1 --port {port} --workers 1"
    )
    with running(command, server_dir, server_env, f"{server}/health"):
        env["MLFLOW_TRACKING_URI"] = server
        sh([f"{shared_env['VENV']}/bin/dvc", "repro", "--force"], copy, env, timeout=600)

        config = config_of(copy)["mlflow"]
        from mlflow import MlflowClient  # imported when used: collected in every run

        client = MlflowClient(tracking_uri=server)
        experiment = client.get_experiment_by_name(config["experiment_name"])
        assert experiment is not None, "no experiment on the tracking server"
        runs = client.search_runs([experiment.experiment_id])
        trained = [run for run in runs if run.data.params and run.data.metrics]
        assert trained, f"no run with params and metrics among {len(runs)}"
        run = trained[0]
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri

        name = config["registered_model_name"]
        versions = client.search_model_versions(f"name = '{name}'")
        assert [version.version for version in versions] == ["1"]
        champion = client.get_model_version_by_alias(name, "champion")
        assert champion.version == "1"
        assert champion.run_id == run.info.run_id

        registration = json.loads((copy / "models" / "registration.json").read_text())
        assert registration == {
            "model_name": name, "version": "1", "run_id": run.info.run_id,
        }
        promotion = json.loads((copy / "metrics" / "promotion.json").read_text())
        assert promotion["promoted"] is True

    # Artifacts went through the server to its destination, none into the project.
    assert list(artifacts.rglob("MLmodel")), "no model stored in the server's artifacts"
    leftovers = [n for n in ("mlflow.db", "mlruns", "mlartifacts") if (copy / n).exists()]
    assert not leftovers, f"team mode left local tracking files: {leftovers}"
    assert (copy / "models" / "serving").is_dir(), "export did not fetch the champion"


def dvc_s3_available(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import dvc_s3"], capture_output=True, check=False)
    return probe.returncode == 0


def locked_md5(project: Path, path: str) -> str:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise AssertionError(f"{path} is not a DVC output in dvc.lock")


def test_dvc_remote_on_s3_round_trips_the_pipeline_outputs(
    project: Path, shared_env: dict[str, str], tmp_path: Path
) -> None:
    boto3 = pytest.importorskip("boto3")
    copy, env = project_copy(project, tmp_path, shared_env)
    python = f"{shared_env['VENV']}/bin/python"
    if not dvc_s3_available(python):
        sh([str(TOOLS / "uv"), "pip", "install", "--quiet", "--python", python, "dvc-s3"],
           tmp_path, env, timeout=300)
    dvc = f"{shared_env['VENV']}/bin/dvc"

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto_dir = tmp_path / "moto"
    moto_dir.mkdir()
    # Keep the user's AWS profile out of it: DVC sees only the credentials it is given.
    no_profile = tmp_path / "aws-empty"
    no_profile.touch()
    env.update(AWS_CONFIG_FILE=str(no_profile), AWS_SHARED_CREDENTIALS_FILE=str(no_profile),
               AWS_EC2_METADATA_DISABLED="true")
    command = f"{TOOLS / 'moto_server'} -H 127.0.0.1 -p {port}"
    with running(command, moto_dir, env, f"{endpoint}/moto-api/"):
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET,
        )
        s3.create_bucket(Bucket=BUCKET)

        sh([dvc, "remote", "add", "-d", "team", f"s3://{BUCKET}/dvc"], copy, env)
        sh([dvc, "remote", "modify", "team", "endpointurl", endpoint], copy, env)
        sh([dvc, "remote", "modify", "--local", "team", "access_key_id", DUMMY_KEY], copy, env)
        sh([dvc, "remote", "modify", "--local", "team", "secret_access_key", DUMMY_SECRET],
           copy, env)
        shared_config = (copy / ".dvc" / "config").read_text()
        assert DUMMY_SECRET not in shared_config and DUMMY_KEY not in shared_config
        assert DUMMY_SECRET in (copy / ".dvc" / "config.local").read_text()
        sh(["git", "check-ignore", "-q", ".dvc/config.local"], copy, env)

        sh([dvc, "push"], copy, env, timeout=180)
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="dvc/")
        keys = {item["Key"] for item in listing.get("Contents", [])}
        outputs = {"data/raw/dataset.csv": "", "models/model.skops": ""}
        for path in outputs:
            outputs[path] = locked_md5(copy, path)
            assert f"dvc/files/md5/{outputs[path][:2]}/{outputs[path][2:]}" in keys, sorted(keys)

        shutil.rmtree(copy / ".dvc" / "cache")
        for path in outputs:
            (copy / path).unlink()
        shutil.rmtree(copy / "models" / "serving")

        sh([dvc, "pull"], copy, env, timeout=180)
        for path in outputs:
            assert (copy / path).is_file(), f"{path} not pulled back"
        assert (copy / "models" / "serving").is_dir(), "models/serving not pulled back"
        status = sh([dvc, "status"], copy, env)
        assert "up to date" in status, status
        cloud = sh([dvc, "status", "--cloud"], copy, env, timeout=180)
        assert "in sync" in cloud, cloud
