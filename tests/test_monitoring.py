"""Fast tier: the generated monitoring stack and team-mode compose file pass real validators.

promtool (Debian package `prometheus`) checks the Prometheus configuration, the alerting
rules and the commented Kubernetes discovery example; check-jsonschema checks
`deploy/compose.yaml` against the compose-spec schema. Cross-file checks keep the PromQL of
the dashboard and the alerts on metrics the generated service really exports, the scrape
target on the service's name and port, the images pinned, and every mounted file present.
No Docker engine, Prometheus server or Grafana is needed.
"""

import ast
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from bake import TOOLS, capture, render

PORT = 8080
SERVICE = "model-service"  # the compose service and the Prometheus job
COMPOSE_SCHEMA = "vendor.compose-spec"
NO_PROMTOOL = (
    "promtool is not on PATH: install the Debian package `prometheus` "
    "(apt-get install -y --no-install-recommends prometheus; `make test` does)"
)
SERVICE_ALERTS = {
    "ModelServiceDown", "ModelServiceHighErrorRatio", "ModelServiceHighLatencyP99",
    "ModelFeatureDrift",
}
# The model-quality alert and the metrics the dashboard must show, by problem_type: each
# service exports its own live-quality gauge (accuracy or MAE) and prediction metrics.
QUALITY_ALERT = {"classification": "ModelLiveAccuracyLow", "regression": "ModelLiveMaeHigh"}


class Quality(NamedTuple):
    """The quality alert's series, and values of the live gauge that fire it or not
    against a held-out value (the rule compares the two, never a fixed number)."""

    live: str
    held_out: str
    feedback: str
    held_out_value: float
    firing: float
    quiet: float


QUALITY = {
    "classification": Quality(
        "model_live_accuracy", "model_heldout_accuracy", "model_feedback_labels_total",
        held_out_value=0.9, firing=0.7, quiet=0.85,
    ),
    "regression": Quality(
        "model_live_mae", "model_heldout_mae", "model_feedback_targets_total",
        held_out_value=50.0, firing=80.0, quiet=70.0,
    ),
}
SHARED_PANEL_METRICS = {
    "model_predictions_total", "model_prediction_latency_seconds_bucket",
    "model_request_errors_total", "model_requests_in_flight", "model_feature_drift_psi",
    "model_feature_drift_detected",
}
PANEL_METRICS = {
    "classification": SHARED_PANEL_METRICS | {"model_live_accuracy", "model_heldout_accuracy"},
    "regression": SHARED_PANEL_METRICS
    | {"model_live_mae", "model_heldout_mae", "model_predicted_value_sum",
       "model_predicted_value_count"},
}
# Renders checked: both engines with the default answers, and a regression project.
RENDERS = {
    "cookiecutter": ("cookiecutter", "classification"),
    "copier": ("copier", "classification"),
    "copier-regression": ("copier", "regression"),
}
DASHBOARD = "monitoring/grafana/dashboards/model-service.json"
# Series Prometheus makes itself for every target, not exported by the service.
SYNTHETIC_SERIES = {"up"}
# What each prometheus_client type exports (`_created` series are never queried).
SUFFIXES = {
    "Counter": ("_total",),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Summary": ("", "_sum", "_count"),
    "Info": ("_info",),
}
PROMQL_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan",
}
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?::?-[^}]*)?\}")


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from PATH; missing, it fails the run in CI and skips elsewhere."""
    path = shutil.which("promtool")
    if path is None:
        if "CI" in os.environ:
            pytest.fail(NO_PROMTOOL)
        pytest.skip(NO_PROMTOOL + "; skipped because CI is unset")
    return path


@pytest.fixture(scope="module", params=list(RENDERS))
def render_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def problem_type(render_id: str) -> str:
    return RENDERS[render_id][1]


@pytest.fixture(scope="module")
def project(
    render_id: str, problem_type: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    engine, _ = RENDERS[render_id]
    return render(
        engine, tmp_path_factory.mktemp(f"monitoring-{render_id}"), problem_type=problem_type
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose(project: Path) -> dict[str, Any]:
    return load_yaml(project / "deploy" / "compose.yaml")


# ---------------------------------------------------------------------------------------
# What the generated service exports, and what the PromQL asks for


def exported_metrics(project: Path) -> set[str]:
    """Series names the service's metric constructors declare (``Counter("name", ...)``
    in its modules), suffixed as prometheus_client does."""
    (serving,) = project.glob("src/*/serving")
    calls = [
        (node.func.id, node.args[0].value)
        for path in serving.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in SUFFIXES
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert len(calls) >= 10, f"expected the service's metrics in {serving}, found {calls}"
    return {name + suffix for kind, name in calls for suffix in SUFFIXES[kind]}


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are no function, keyword or label."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery windows
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        name, call = match.groups()
        if not call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def test_promql_parser_finds_names() -> None:
    """The name extraction itself: metrics kept; functions, labels, keywords and numbers not."""
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job=~"$job"}[$__rate_interval])))'
        " > 1e-3 and on (job) increase(b_total[1h]) > 0 unless c"
    )
    assert promql_metrics(expr) == {"a_bucket", "b_total", "c"}


def dashboard(project: Path) -> dict[str, Any]:
    return json.loads((project / DASHBOARD).read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, the ones inside collapsed rows included."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def alert_rules(project: Path) -> list[dict[str, Any]]:
    rules = load_yaml(project / "monitoring" / "alerts.yml")
    return [rule for group in rules["groups"] for rule in group["rules"]]


# ---------------------------------------------------------------------------------------
# promtool


def test_prometheus_config_is_valid(project: Path, promtool: str) -> None:
    result = capture([promtool, "check", "config", "monitoring/prometheus.yml"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout  # alerts.yml is loaded


def test_alert_rules_are_valid(project: Path, problem_type: str, promtool: str) -> None:
    result = capture([promtool, "check", "rules", "monitoring/alerts.yml"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {rule["alert"]: rule for rule in alert_rules(project)}
    assert set(alerts) == SERVICE_ALERTS | {QUALITY_ALERT[problem_type]}
    assert "histogram_quantile" in alerts["ModelServiceHighLatencyP99"]["expr"]
    assert "model_prediction_latency_seconds_bucket" in alerts["ModelServiceHighLatencyP99"]["expr"]
    assert alerts["ModelFeatureDrift"]["for"] == "15m"


def quality_rule_test(project: Path, problem_type: str) -> dict[str, Any]:
    """A promtool unit test of the quality alert: instance `low` fires; `fine` (within the
    factor of its held-out metric), `unknown` (no held-out metric) and `silent` (no
    feedback) do not."""
    q = QUALITY[problem_type]
    alert = QUALITY_ALERT[problem_type]
    (rule,) = [rule for rule in alert_rules(project) if rule.get("alert") == alert]
    instances = {
        "low": (q.firing, q.held_out_value, "0+10x120"),
        "fine": (q.quiet, q.held_out_value, "0+10x120"),
        "unknown": (q.firing, None, "0+10x120"),
        "silent": (q.firing, q.held_out_value, "5x120"),
    }
    series = []
    for instance, (live, held_out, feedback) in instances.items():
        labels = f'{{job="{SERVICE}", instance="{instance}"}}'
        series.append({"series": q.live + labels, "values": f"{live}x120"})
        series.append({"series": q.feedback + labels, "values": feedback})
        if held_out is not None:
            series.append({"series": q.held_out + labels, "values": f"{held_out}x120"})
    expected = {**rule["labels"], "job": SERVICE, "instance": "low"}
    checks = [
        {"eval_time": "20m", "alertname": alert, "exp_alerts": []},  # not yet `for` long
        {"eval_time": "90m", "alertname": alert,
         "exp_alerts": [{"exp_labels": expected, "exp_annotations": rule["annotations"]}]},
    ]
    return {
        "rule_files": [str(project / "monitoring" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
    }


def test_quality_alert_compares_live_with_held_out_quality(
    project: Path, problem_type: str, promtool: str, tmp_path: Path
) -> None:
    q = QUALITY[problem_type]
    (rule,) = [r for r in alert_rules(project) if r.get("alert") == QUALITY_ALERT[problem_type]]
    assert {q.live, q.held_out, q.feedback} <= promql_metrics(rule["expr"])
    tests = tmp_path / "quality_test.yml"
    tests.write_text(yaml.safe_dump(quality_rule_test(project, problem_type)))
    result = capture([promtool, "test", "rules", str(tests)], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_discovery_example_is_valid(
    project: Path, promtool: str, tmp_path: Path
) -> None:
    """The commented kubernetes_sd job is a working config once uncommented.

    Debian's promtool is built without Kubernetes discovery, so the discovery block is
    swapped for a static one: promtool still checks the relabelling (actions, RE2 regexes).
    """
    text = (project / "monitoring" / "prometheus.yml").read_text()
    marker = text.index("Replace the job above with:")
    commented = re.findall(r"^  # ?(.*)$", text[marker:], re.MULTILINE)
    example = yaml.safe_load("\n".join(commented))
    assert example[0]["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert example[0]["relabel_configs"]
    example[0]["static_configs"] = [{"targets": [f"pod:{PORT}"]}]
    del example[0]["kubernetes_sd_configs"]
    config = load_yaml(project / "monitoring" / "prometheus.yml")
    config["scrape_configs"] = example
    shutil.copy(project / "monitoring" / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = capture([promtool, "check", "config", "prometheus.yml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # It keys on the annotations the Deployment really carries.
    deployment = (project / "k8s" / "base" / "deployment.yaml").read_text()
    for annotation in ("scrape", "port", "path"):
        assert f"prometheus.io/{annotation}:" in deployment
        assert f"__meta_kubernetes_pod_annotation_prometheus_io_{annotation}" in text


def test_prometheus_config_without_kubernetes_is_valid(
    promtool: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With include_k8s off the config loses the commented Kubernetes job and stays valid."""
    project = render("cookiecutter", tmp_path_factory.mktemp("no-k8s"), include_k8s=False)
    config = project / "monitoring" / "prometheus.yml"
    assert "kubernetes" not in config.read_text().lower()
    result = capture([promtool, "check", "config", "monitoring/prometheus.yml"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------
# Grafana


def test_dashboard_panels_have_a_datasource(project: Path) -> None:
    board = dashboard(project)
    assert 36 <= board["schemaVersion"] <= 41
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    all_panels = panels(board)
    titles = {panel["title"] for panel in all_panels}
    assert len(titles) == len(all_panels), "panel titles repeat"
    for panel in all_panels:
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"panel {panel['title']!r} has an empty query"


def test_promql_uses_only_exported_metrics(project: Path, problem_type: str) -> None:
    """Every metric in the dashboard and the alerts is one the service exports."""
    exported = exported_metrics(project) | SYNTHETIC_SERIES
    queries = {
        f"dashboard panel {panel['title']!r}": target["expr"]
        for panel in panels(dashboard(project))
        for target in panel.get("targets", [])
    }
    queries |= {f"alert {rule['alert']}": rule["expr"] for rule in alert_rules(project)}
    used: set[str] = set()
    for where, expr in queries.items():
        names = promql_metrics(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{where} queries {sorted(unknown)}, not exported by the service"
        used |= names
    # The panels the dashboard promises are there.
    for metric in sorted(PANEL_METRICS[problem_type]):
        assert metric in used, f"{metric} is on no dashboard panel or alert"


def test_grafana_provisioning_matches_compose(project: Path) -> None:
    services = compose(project)["services"]
    mounts = dict(
        volume.rsplit(":", 1)[0].split(":", 1) for volume in services["grafana"]["volumes"]
        if volume.startswith("..")
    )
    provisioning = project / "monitoring" / "grafana" / "provisioning"
    providers = load_yaml(provisioning / "dashboards" / "dashboards.yml")["providers"]
    assert providers[0]["options"]["path"] == mounts["../monitoring/grafana/dashboards"]
    assert mounts["../monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in services and "9090:9090" in services["prometheus"]["ports"]


# ---------------------------------------------------------------------------------------
# Compose


def test_compose_matches_the_compose_spec(project: Path) -> None:
    check = TOOLS / "check-jsonschema"
    assert check.is_file(), "check-jsonschema is missing: `make venv` installs the dev dependencies"
    result = capture(
        [str(check), "--builtin-schema", COMPOSE_SCHEMA, "deploy/compose.yaml"], cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_images_are_pinned(project: Path) -> None:
    services = compose(project)["services"]
    expected = {"mlflow", "postgres", "minio", "minio-setup", SERVICE, "prometheus", "grafana"}
    assert set(services) == expected
    for name, service in services.items():
        if "image" not in service:
            assert "build" in service, f"service {name} has neither image nor build"
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"service {name}: image {image} has no tag"
        assert tag != "latest" and not tag.startswith("latest"), f"service {name}: {image}"
    assert services["mlflow"]["image"].startswith("ghcr.io/mlflow/mlflow:v3.")
    assert services["minio-setup"]["image"].startswith("minio/mc:")


def test_compose_wires_mlflow_to_postgres_and_minio(project: Path) -> None:
    services = compose(project)["services"]
    command = services["mlflow"]["command"]
    store = command[command.index("--backend-store-uri") + 1]
    assert store.startswith("postgresql") and "@postgres:5432/" in store
    destination = command[command.index("--artifacts-destination") + 1]
    assert destination == "s3://mlflow/"
    assert "--serve-artifacts" in command
    assert services["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    buckets = re.search(r"mc mb [^&]*", " ".join(services["minio-setup"]["command"])).group()
    assert {"team/mlflow", "team/dvc"} <= set(buckets.split()), buckets
    for name in ("postgres", "minio", "mlflow", SERVICE):
        assert "healthcheck" in services[name], f"service {name} has no healthcheck"
    needs = services["mlflow"]["depends_on"]
    assert needs["minio-setup"]["condition"] == "service_completed_successfully"
    assert needs["postgres"]["condition"] == "service_healthy"


def test_compose_credentials_come_from_the_environment(project: Path) -> None:
    """Every interpolated variable has a default and is documented in .env.example."""
    text = (project / "deploy" / "compose.yaml").read_text()
    example = (project / "deploy" / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    used = set(INTERPOLATION.findall(text))
    assert {"MINIO_ROOT_PASSWORD", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= used
    assert used <= documented, f"not in deploy/.env.example: {sorted(used - documented)}"
    without_default = re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}", text)
    assert not without_default, f"no default for {without_default}"
    slug = project.name
    assert f"dvc remote add -d team s3://dvc/{slug}" in text
    assert "dvc remote modify team endpointurl http://localhost:9000" in text
    assert "MLFLOW_TRACKING_URI=http://localhost:5000" in text


def test_scrape_target_is_the_service_port(project: Path) -> None:
    config = load_yaml(project / "monitoring" / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == SERVICE
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (target,) = [t for static in job["static_configs"] for t in static["targets"]]
    host, port = target.rsplit(":", 1)
    services = compose(project)["services"]
    assert host in services, f"scrape target {host} is no compose service"
    assert int(port) == PORT
    published = [str(mapping).split(":")[-1] for mapping in services[host]["ports"]]
    assert str(PORT) in published
    assert f"EXPOSE {PORT}" in (project / "Dockerfile").read_text()
    healthcheck = " ".join(services[host]["healthcheck"]["test"])
    assert f"127.0.0.1:{PORT}/ready" in healthcheck
    assert services[host]["environment"]["MODEL_PATH"]
    assert config["rule_files"] == ["alerts.yml"]


def test_compose_mounts_and_build_context_exist(project: Path) -> None:
    deploy = project / "deploy"
    services = compose(project)["services"]
    build = services[SERVICE]["build"]
    context = (deploy / build["context"]).resolve()
    assert context == project.resolve()
    assert (context / build.get("dockerfile", "Dockerfile")).is_file()
    binds = 0
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                binds += 1
                assert (deploy / source).exists(), f"service {name} mounts missing {source}"
    assert binds >= 4
    mounted = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"} <= mounted
