"""Fast tier: the generated Dockerfile and Kubernetes manifests pass the real validators.

hadolint lints the Dockerfile; `kubectl kustomize` renders each overlay and
kubernetes-validate checks every object against the Kubernetes API schemas; checkov scans
the Dockerfile and the rendered manifests for security findings. Cross-file checks keep
the port, probe paths, user id and settings of the Dockerfile, the manifests and the
generated service in agreement. No Docker engine and no cluster are needed.
"""

import ast
import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from bake import ENGINES, capture, dev_tool, render

KUBECTL = shutil.which("kubectl")
NO_KUBECTL = "kubectl is not on PATH: it renders the kustomize overlays (kubectl kustomize)"
OVERLAYS = ("staging", "production")
PORT = 8080
# Both engines with the defaults (dependency_manager uv), a slug that is no valid Kubernetes
# name as it is, pip as the dependency manager (the Dockerfile installs with it), and a
# feature store (the image carries its repository).
CASES = {
    **{engine: (engine, {}) for engine in ENGINES},
    "underscore-slug-py313": ("copier", {"project_slug": "churn_model", "python_version": "3.13"}),
    "pip": ("cookiecutter", {"dependency_manager": "pip"}),
    "feast": ("cookiecutter", {"feature_store": "feast"}),
}
# kubernetes-validate's oldest bundled schemas, and its default (the newest).
KUBERNETES_VERSIONS = {"k8s-1.25": ["--kubernetes-version", "1.25"], "k8s-newest": []}
# checkov checks skipped by annotations in the manifests, each with its reason written there.
# A new skip has to be added here on purpose.
EXPECTED_SKIPS = {"CKV_K8S_43"}  # image by digest: overlays pin a release tag instead
# uv's own image, pinned by release and digest: `COPY --from=<this> /uv /bin/uv`.
UV_IMAGE = re.compile(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}")
VALIDATED = re.compile(r"passed for resource (\S+) against version (\S+)")


# ---------------------------------------------------------------------------------------
# What the generated project says about itself


def dockerfile(project: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs as dockerfile-parse reads them (continuation lines
    joined, comments dropped), with runs of whitespace in the arguments made one space."""
    parsed = DockerfileParser(path=str(project / "Dockerfile")).structure
    return [
        (item["instruction"], " ".join(item["value"].split()))
        for item in parsed
        if item["instruction"] != "COMMENT"
    ]


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def only(instructions: list[tuple[str, str]], keyword: str) -> str:
    found = [arguments for name, arguments in instructions if name == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def copies(instructions: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from a stage)."""
    found = []
    for name, arguments in instructions:
        if name == "COPY" and not arguments.startswith("--"):
            *sources, destination = arguments.split()
            found.append((sources, destination))
    return found


def feature_repository(project: Path) -> Path | None:
    """The Feast repository the config names (relative to the project), or None."""
    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    if "feature_store" not in config:
        return None
    return Path(config["feature_store"]["repo_path"])


def feature_repository_files(project: Path, repo: Path) -> tuple[set[str], set[str]]:
    """What an image needs of the repository: its rendered files but .gitignore (settings,
    definitions, .feastignore), and the registry and online store the pipeline writes
    (paths from feature_store.yaml), all relative to the project."""
    rendered = {
        str(path.relative_to(project)) for path in (project / repo).rglob("*")
        if path.is_file() and path.name != ".gitignore"
    }
    settings = yaml.safe_load((project / repo / "feature_store.yaml").read_text())
    assert settings["provider"] == "local" and settings["online_store"]["type"] == "sqlite"
    stores = {str(repo / settings["registry"]), str(repo / settings["online_store"]["path"])}
    return rendered, stores


def pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text())


def package_dir(project: Path) -> Path:
    (package,) = (project / "src").iterdir()
    return package


def serving_modules(project: Path) -> list[ast.Module]:
    """The generated service's modules, parsed."""
    return [ast.parse(path.read_text()) for path in (package_dir(project) / "serving").glob("*.py")]


def routes(project: Path) -> set[str]:
    """GET paths the generated service declares (probes and scrapes only ever GET)."""
    found = {
        decorator.args[0].value
        for module in serving_modules(project)
        for node in ast.walk(module)
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "get"
        and isinstance(decorator.args[0], ast.Constant)
    }
    assert {"/health", "/ready", "/metrics"} <= found, found
    return found


def settings_variables(project: Path) -> set[str]:
    """The environment variables the service's pydantic settings classes read."""
    return {
        statement.target.id.upper()
        for module in serving_modules(project)
        for node in module.body
        if isinstance(node, ast.ClassDef) and node.name in {"Settings", "TaskSettings"}
        for statement in node.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }


def quantity(value: str | int) -> float:
    """A Kubernetes CPU or memory quantity as a number (cores or bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match and match.group(2) in {"", *units}, f"unexpected quantity {value!r}"
    return float(match.group(1)) * units.get(match.group(2), 1)


# ---------------------------------------------------------------------------------------
# Fixtures: rendered once per module


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        case: render(engine, tmp_path_factory.mktemp(case), **answers)
        for case, (engine, answers) in CASES.items()
    }


def kustomize(overlay: Path) -> str:
    built = capture([KUBECTL, "kustomize", str(overlay)])
    assert built.returncode == 0, f"kubectl kustomize {overlay}:\n{built.stderr}"
    return built.stdout


@pytest.fixture(scope="module")
def manifests(projects: dict[str, Path]) -> dict[tuple[str, str], str]:
    """`kubectl kustomize` output of each overlay of each case, as YAML text."""
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    return {
        (case, overlay): kustomize(project / "k8s" / "overlays" / overlay)
        for case, project in projects.items()
        for overlay in OVERLAYS
    }


def objects(text: str) -> dict[str, dict[str, Any]]:
    """Rendered objects keyed by kind (each overlay deploys one object of each kind)."""
    found: dict[str, dict[str, Any]] = {}
    for document in yaml.safe_load_all(text):
        assert document["kind"] not in found, f"two {document['kind']} objects"
        found[document["kind"]] = document
    return found


# ---------------------------------------------------------------------------------------
# Dockerfile


@pytest.mark.parametrize("case", CASES)
def test_hadolint_reports_nothing(projects: dict[str, Path], case: str) -> None:
    lint = capture(
        [dev_tool("hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=projects[case],
    )
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


def test_hadolint_check_can_fail(tmp_path: Path, projects: dict[str, Path]) -> None:
    """The harness sees findings: a shell-form CMD is reported (DL3025)."""
    text = (projects["cookiecutter"] / "Dockerfile").read_text()
    broken = re.sub(r"^CMD .*$", "CMD my-ml-project serve", text, flags=re.MULTILINE)
    assert broken != text
    (tmp_path / "Dockerfile").write_text(broken)
    lint = capture([dev_tool("hadolint"), "--no-color", "Dockerfile"], cwd=tmp_path)
    assert lint.returncode != 0 and "DL3025" in lint.stdout


@pytest.mark.parametrize("case", CASES)
def test_dockerfile_builds_and_runs_the_service(projects: dict[str, Path], case: str) -> None:
    project = projects[case]
    instructions = dockerfile(project)
    meta = pyproject(project)
    python = meta["project"]["requires-python"].removeprefix(">=")
    bases = [arguments.split()[0] for name, arguments in instructions if name == "FROM"]
    assert len(bases) >= 2, "a multi-stage build"
    assert set(bases) == {f"python:{python}-slim-bookworm"}

    # Dependencies in a layer of their own: pyproject.toml alone, installed before the source.
    order = [f"{name} {arguments}" for name, arguments in instructions]
    first_copy = next(
        i for i, line in enumerate(order) if line.startswith("COPY ") and "--from" not in line
    )
    install = next(i for i, line in enumerate(order) if "--requirement" in line)
    source = order.index("COPY src/ src/")
    assert order[first_copy] == "COPY pyproject.toml ./"
    assert first_copy < install < source

    # Both installs (dependencies, then the project) use the chosen tool, without a cache.
    installs = [line for line in order if re.search(r"\bpip install\b", line)]
    assert len(installs) == 2 and installs[0] == order[install], installs
    if CASES[case][1].get("dependency_manager", "uv") == "uv":
        (uv,) = [line for line in order if line.startswith("COPY --from=ghcr.io/astral-sh/uv")]
        assert UV_IMAGE.fullmatch(uv.split()[1].removeprefix("--from=")) and uv.endswith(
            " /uv /bin/uv"
        ), uv
        assert order.index(uv) < install
        assert all(line.startswith("RUN uv pip install --no-cache ") for line in installs)
        assert "--requirements pyproject.toml" in installs[0]
    else:
        assert not re.search(r"\buv\b", (project / "Dockerfile").read_text())
        assert all(re.search(r"(?<!uv )pip install --no-cache-dir ", line) for line in installs)

    runtime = final_stage(instructions)
    assert only(runtime, "EXPOSE") == str(PORT)
    script = json.loads(only(runtime, "CMD"))
    assert script == [meta["project"]["name"], "serve", "--host", "0.0.0.0", "--port", str(PORT)]
    assert meta["project"]["scripts"][script[0]].endswith(".cli:main")

    user = only(runtime, "USER")
    assert re.fullmatch(r"\d+:\d+", user) and int(user.split(":")[0]) >= 10000, user
    env = " ".join(arguments for name, arguments in runtime if name == "ENV")
    assert "MODEL_PATH=/app/models/serving" in env.split()
    assert ("COPY", "models/serving/ /app/models/serving/") in runtime

    # The service's files as it finds them from WORKDIR: the bundle, the feature repository.
    assert only(runtime, "WORKDIR") == "/app"
    repo = feature_repository(project)
    carried = [(sources, destination) for sources, destination in copies(runtime)
               if sources != ["models/serving/"]]
    if repo is None:
        assert carried == []
        assert not re.search(r"feast|feature", (project / "Dockerfile").read_text(), re.I)
    else:
        rendered, stores = feature_repository_files(project, repo)
        # Each file lands at its own path under /app, where FEATURE_REPO points.
        for sources, destination in carried:
            for source in sources:
                assert destination == f"/app/{Path(source).parent}/", (source, destination)
        assert {source for sources, _ in carried for source in sources} == rendered | stores
        assert f"FEATURE_REPO=/app/{repo}" in env.split()
        assert "FEATURE_REPO" in settings_variables(project)
        # The stores are the pipeline's, never committed: the repository ignores them.
        ignored = (project / repo / ".gitignore").read_text().split()
        assert {str(repo / name.lstrip("/")) for name in ignored if name.startswith("/")} \
            == stores

    options, _, check = only(runtime, "HEALTHCHECK").partition("CMD ")
    command = json.loads(check)
    assert command[:2] == ["python", "-c"] and "urllib.request" in command[2]
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w*)", command[2])
    assert url and int(url.group(1)) == PORT and url.group(2) in routes(project)
    assert "--timeout=" in options


@pytest.mark.parametrize("case", CASES)
def test_dockerignore_sends_only_what_the_build_needs(
    projects: dict[str, Path], case: str, tmp_path: Path
) -> None:
    """docker's own context filter, over the project plus what a pipeline run leaves."""
    context = shutil.copytree(projects[case], tmp_path / "context")
    package = package_dir(context).name
    leftovers = [
        "data/raw/dataset.csv", "data/processed/train.csv", "mlruns/1/meta.yaml", "mlflow.db",
        ".venv/bin/python", ".git/HEAD", ".pytest_cache/v/cache", "reports/drift/drift.html",
        "metrics/train.json", "plots/roc.csv", "models/model.skops", "models/model.onnx",
        f"src/{package}/serving/__pycache__/app.cpython-311.pyc", ".dvc/cache/files/md5/ab/cd",
    ]
    bundle = ["models/serving/metadata.json", "models/serving/model/model.skops"]
    repo = feature_repository(context)
    if repo is not None:
        # The offline feature table (a DVC output, only training reads it) stays out; the
        # registry and online store the pipeline wrote go in.
        leftovers += [f"{repo}/data/features.parquet", f"{repo}/data/.gitignore",
                      f"{repo}/__pycache__/definitions.cpython-311.pyc", f"{repo}/notes.txt"]
        rendered, stores = feature_repository_files(context, repo)
        bundle += sorted(stores)  # written below; the rendered files are there already
    for name in leftovers + bundle:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text("x")
    patterns = [
        line.strip() for line in (context / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = exclude_paths(str(context), patterns)

    copied = [item.rstrip("/") for sources, _ in copies(dockerfile(context)) for item in sources]
    for source in copied:
        assert source in sent, f"the Dockerfile copies {source}, .dockerignore leaves it out"
    assert {f"src/{package}/serving/app.py", *bundle} <= sent
    assert sorted(name for name in leftovers if name in sent) == []
    assert not any(name.startswith(("tests", "k8s", "config")) for name in sent)
    # ...and it sends no file the Dockerfile does not copy (docker always sends these two).
    unused = sorted(
        name for name in sent
        if (context / name).is_file() and name not in {"Dockerfile", ".dockerignore"}
        and not any(name == source or name.startswith(f"{source}/") for source in copied)
    )
    assert unused == []
    if repo is None:
        assert not re.search(r"feast|feature", (context / ".dockerignore").read_text(), re.I)
    else:
        assert rendered <= sent


@pytest.mark.parametrize("case", ["cookiecutter", "feast"])
def test_make_image_needs_every_pipeline_output_it_copies(
    projects: dict[str, Path], case: str, tmp_path: Path
) -> None:
    """`make image` refuses to build while a pipeline output the Dockerfile copies is
    missing, naming it: the bundle, and with Feast the registry and online store (at the
    paths feature_store.yaml gives)."""
    project = shutil.copytree(projects[case], tmp_path / projects[case].name)
    inputs = ["models/serving/metadata.json"]
    repo = feature_repository(project)
    if repo is not None:
        inputs += sorted(feature_repository_files(project, repo)[1])
    assert len(inputs) == (1 if repo is None else 3)
    for name in inputs:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("{}")
    for name in inputs:  # each one missing, every other one there
        (project / name).rename(project / f"{name}.away")
        refused = capture(["make", "image"], cwd=project)
        assert refused.returncode != 0
        assert refused.stderr.splitlines()[0] == f"{name} is missing: run make pipeline first"
        assert "docker build" not in refused.stdout
        (project / f"{name}.away").rename(project / name)
    planned = capture(["make", "-n", "image"], cwd=project)
    assert planned.returncode == 0, planned.stderr
    assert f"docker build -t {project.name}:dev ." in planned.stdout
    image = f"registry.example.com/{project.name}:1.0"
    named = capture(["make", "-n", "image", f"IMAGE={image}"], cwd=project)
    assert f"docker build -t {image} ." in named.stdout


# ---------------------------------------------------------------------------------------
# Kubernetes


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("case", CASES)
def test_kubernetes_validate_strict(
    manifests: dict[tuple[str, str], str], case: str, overlay: str, version: str
) -> None:
    """Every object of the overlay, by stdin (`-`: without it the tool only prints usage)."""
    text = manifests[case, overlay]
    validate = [dev_tool("kubernetes-validate"), "--strict", *KUBERNETES_VERSIONS[version], "-"]
    check = capture(validate, input=text)
    assert check.returncode == 0, check.stdout + check.stderr
    validated = [resource for resource, _ in VALIDATED.findall(check.stdout + check.stderr)]
    expected = [f"{doc['kind'].lower()}/{doc['metadata']['name']}"
                for doc in yaml.safe_load_all(text)]
    assert len(expected) >= 8 and sorted(validated) == sorted(expected)


@dataclass(frozen=True)
class Workload:
    """One overlay's objects by kind, its Deployment's pod template, the pod's only
    container, and what the manifests are checked against: the image's final stage and
    the project."""

    found: dict[str, dict]
    pod: dict
    container: dict
    runtime: list[tuple[str, str]]
    project: Path
    overlay: str

    @property
    def spec(self) -> dict:
        return self.pod["spec"]

    def port(self, port: int | str) -> int:
        """A port number, or the number of the container's port of that name."""
        named = {item["name"]: item["containerPort"] for item in self.container["ports"]}
        return named[port] if isinstance(port, str) else port


@pytest.fixture(params=[(case, overlay) for case in CASES for overlay in OVERLAYS],
                ids=lambda param: "-".join(param))
def workload(request: pytest.FixtureRequest, projects: dict[str, Path],
             manifests: dict[tuple[str, str], str]) -> Workload:
    case, overlay = request.param
    found = objects(manifests[case, overlay])
    pod = found["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    project = projects[case]
    return Workload(found, pod, container, final_stage(dockerfile(project)), project, overlay)


def test_one_port_for_image_container_and_service(workload: Workload) -> None:
    """The image's EXPOSE, the container's only port and the Service's target agree, and
    the container runs the image's CMD."""
    container = workload.container
    assert {item["name"]: item["containerPort"] for item in container["ports"]} == {"http": PORT}
    assert only(workload.runtime, "EXPOSE") == str(PORT)
    assert "command" not in container and "args" not in container
    (service_port,) = workload.found["Service"]["spec"]["ports"]
    assert workload.port(service_port["targetPort"]) == PORT
    ingress = workload.found["NetworkPolicy"]["spec"]["ingress"]
    assert workload.port(ingress[0]["ports"][0]["port"]) == PORT


def test_probes_and_scrapes_hit_routes_the_app_declares(workload: Workload) -> None:
    app_routes = routes(workload.project)
    probes = {kind: workload.container[f"{kind}Probe"]["httpGet"]
              for kind in ("startup", "liveness", "readiness")}
    assert probes["liveness"]["path"] == "/health" and probes["readiness"]["path"] == "/ready"
    for probe in probes.values():
        assert probe["path"] in app_routes and workload.port(probe["port"]) == PORT
    scrape = workload.pod["metadata"]["annotations"]
    assert scrape["prometheus.io/scrape"] == "true"
    assert int(scrape["prometheus.io/port"]) == PORT and scrape["prometheus.io/path"] in app_routes


def test_selectors_find_the_pods(workload: Workload) -> None:
    found = workload.found
    deployment = found["Deployment"]
    labels = workload.pod["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"],
                 found["Service"]["spec"]["selector"],
                 found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
                 found["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]]
    for selector in selectors:
        assert selector and selector.items() <= labels.items()
    assert found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]
    }


def test_names_labels_namespace_and_image(workload: Workload) -> None:
    slug = pyproject(workload.project)["project"]["name"]
    name = slug.replace("_", "-")
    namespace = workload.found["Namespace"]["metadata"]["name"]
    assert namespace == f"{name}-{workload.overlay}"
    for kind, document in workload.found.items():
        metadata = document["metadata"]
        assert metadata.get("namespace", namespace) == namespace, kind
        if kind != "Namespace":
            assert metadata["name"] == name
            assert metadata["labels"]["app.kubernetes.io/name"] == name
            assert metadata["labels"]["app.kubernetes.io/instance"] == f"{name}-{workload.overlay}"
            assert {"app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"} <= set(
                metadata["labels"])
    image, _, tag = workload.container["image"].rpartition(":")
    assert image == f"ghcr.io/OWNER/{slug}" and tag and tag != "latest"


def test_pods_run_as_the_image_user_locked_down(workload: Workload) -> None:
    """The image's user, no privilege, a read-only root; the only writable path is an
    emptyDir /tmp; no service-account token."""
    spec, container = workload.spec, workload.container
    uid, gid = map(int, only(workload.runtime, "USER").split(":"))
    pod_security, security = spec["securityContext"], container["securityContext"]
    assert pod_security["runAsNonRoot"] is True and security["runAsNonRoot"] is True
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (uid, gid)
    assert security.get("runAsUser", uid) == uid
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    (mount,) = container["volumeMounts"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert mount["mountPath"] == "/tmp" and "emptyDir" in volumes[mount["name"]]
    assert spec["automountServiceAccountToken"] is False
    service_account = workload.found["ServiceAccount"]
    assert spec["serviceAccountName"] == service_account["metadata"]["name"]
    assert service_account["automountServiceAccountToken"] is False


def test_settings_are_variables_the_app_reads(workload: Workload) -> None:
    """MODEL_PATH as in the image; the ConfigMap holds only variables the app reads."""
    container = workload.container
    env = {item["name"]: item["value"] for item in container["env"]}
    image_env = dict(item.split("=", 1) for name, arguments in workload.runtime
                     if name == "ENV" for item in arguments.split())
    assert env["MODEL_PATH"] == image_env["MODEL_PATH"] == "/app/models/serving"
    config_map = workload.found["ConfigMap"]
    assert container["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert config_map["data"] and set(config_map["data"]) <= settings_variables(workload.project)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("case", CASES)
def test_pods_get_the_time_a_graceful_shutdown_needs(
    manifests: dict[tuple[str, str], str], case: str, overlay: str
) -> None:
    """The grace period covers the preStop pause plus the service's SHUTDOWN_TIMEOUT (the
    time in-flight requests get after SIGTERM), so no pod is killed mid-request."""
    found = objects(manifests[case, overlay])
    spec = found["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    needed = float(pause[1]) + float(found["ConfigMap"]["data"]["SHUTDOWN_TIMEOUT"])
    assert spec["terminationGracePeriodSeconds"] >= needed + 5  # and a margin to exit


@pytest.mark.parametrize("case", CASES)
def test_overlay_sizes(manifests: dict[tuple[str, str], str], case: str) -> None:
    production = objects(manifests[case, "production"])
    staging = objects(manifests[case, "staging"])

    def resources(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
        return found["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]

    assert production["Deployment"]["spec"]["replicas"] == 3
    assert production["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 3
    assert production["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] > 3
    assert {
        bound: {key: quantity(value) for key, value in values.items()}
        for bound, values in resources(production).items()
    } == {
        "requests": {"cpu": 1, "memory": 2 * 2**30},
        "limits": {"cpu": 2, "memory": 4 * 2**30},
    }
    assert production["Service"]["spec"]["type"] == "LoadBalancer"

    assert staging["Service"]["spec"]["type"] == "ClusterIP"
    assert staging["Deployment"]["spec"]["replicas"] < 3
    hpa = staging["HorizontalPodAutoscaler"]["spec"]
    assert 1 <= hpa["minReplicas"] <= staging["Deployment"]["spec"]["replicas"] <= hpa[
        "maxReplicas"]
    for bound in ("requests", "limits"):
        for key in ("cpu", "memory"):
            small = quantity(resources(staging)[bound][key])
            assert 0 < small < quantity(resources(production)[bound][key]), (bound, key)


# ---------------------------------------------------------------------------------------
# checkov: one run over every case, Dockerfiles and rendered overlays


@pytest.fixture(scope="module")
def checkov(
    projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """checkov's JSON report per framework, and the files it was given."""
    root = tmp_path_factory.mktemp("checkov")
    scanned: dict[str, set[str]] = {"dockerfile": set(), "kubernetes": set()}
    for case, project in projects.items():
        (root / case).mkdir()
        shutil.copy(project / "Dockerfile", root / case / "Dockerfile")
        scanned["dockerfile"].add(f"/{case}/Dockerfile")
        for overlay in OVERLAYS if KUBECTL else ():
            text = kustomize(project / "k8s" / "overlays" / overlay)
            (root / case / f"{overlay}.yaml").write_text(text)
            scanned["kubernetes"].add(f"/{case}/{overlay}.yaml")
    scan = capture([
        dev_tool("checkov"), "--skip-download", "--compact", "--output", "json",
        "--directory", str(root), "--framework", "kubernetes", "dockerfile",
    ])
    # Exit status 1 means failed checks: the tests below name them from the report.
    assert scan.returncode in (0, 1), scan.stdout[-4000:] + scan.stderr[-4000:]
    report = json.loads(scan.stdout)
    reports = report if isinstance(report, list) else [report]
    return {
        entry["check_type"]: {**entry, "scanned": scanned[entry["check_type"]]}
        for entry in reports
    }


def assert_checkov_clean(report: dict[str, Any]) -> set[str]:
    """No failure or parse error; every file scanned; returns the skipped check ids."""
    results, summary = report["results"], report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, [
        (check["check_id"], check["file_path"], check["resource"])
        for check in results["failed_checks"]
    ]
    checked = {check["file_path"] for check in results["passed_checks"]}
    assert checked == report["scanned"]
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} skipped without a reason"
    return {check["check_id"] for check in results["skipped_checks"]}


def test_checkov_dockerfile(checkov: dict[str, dict[str, Any]]) -> None:
    report = checkov["dockerfile"]
    assert report["summary"]["passed"] > 0
    assert assert_checkov_clean(report) == set()


def test_checkov_kubernetes(checkov: dict[str, dict[str, Any]]) -> None:
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    report = checkov["kubernetes"]
    assert report["summary"]["passed"] > 0
    assert assert_checkov_clean(report) == EXPECTED_SKIPS
