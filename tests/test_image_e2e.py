"""The generated project's container image, built and run without a Docker daemon.

hadolint and checkov only read the Dockerfile; here buildah builds it from the default
project (after its pipeline wrote the serving bundle) and podman runs the image the way the
Kubernetes manifests do: as the image's non-root user, read-only root filesystem, a tmpfs
at /tmp, no capabilities. The checks run inside the container: /ready and /predict answer,
the process has the manifests' uid, the HEALTHCHECK command exits 0, and no project file
other than the package and its bundle is in the image.

No registry is reachable from the machines that run this, so the images the Dockerfile
names are stand-ins that the test makes, under the names the Dockerfile uses:
- the official python image: a Debian minbase root filesystem with Debian's Python
  (debootstrap, ~2 minutes), made once and kept in a cache between runs;
- the uv image the Dockerfile copies the uv binary from: the same uv release's binary, from
  its PyPI wheel. The Dockerfile pins that image by digest, which no locally made image can
  match, so the build maps the reference to the stand-in with `--build-context`; the
  Dockerfile is built as it is.
Installs inside the build need the machine's CA bundle and uv settings; the build mounts
them (`-v`) for its RUN steps only, over paths the base image already has, so nothing of
them is left in the image.

Tools: buildah, podman, runc and debootstrap from Debian (`make tools` installs them as
root); storage is private (`vfs` driver under the cache folder), so no machine-wide
container configuration is read. The cache: `$XDG_CACHE_HOME/mlops-project-template-images`
(default `~/.cache/...`); delete the folder to make the stand-ins again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bake import outside_make

pytestmark = pytest.mark.e2e

TOOLS = ("buildah", "podman", "runc", "debootstrap")
# Bump to make the cached stand-in images again after changing how they are made.
RECIPE = "1"
RECIPE_LABEL = "mlops-project-template.stand-in-recipe"
# The official python:*-slim images are Debian plus a Python; ca-certificates comes with them.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
OFFICIAL_PYTHON = re.compile(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)-slim-(\w+)")
UV_IMAGE = re.compile(r"--from=((ghcr\.io/astral-sh/uv):(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64})")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's path, in the image too
# Shipped on purpose: what the Dockerfile installs (the package) and copies (the bundle).
SHIPPED = ("src/", "models/serving/")
NOT_PROJECT_FILES = (".git/", ".venv/", ".dvc/tmp/")  # git, a local venv, DVC's lock files
# podman's defaults need more than these machines allow (crun's setrlimit): runc and
# explicit limits work.
RUN_LIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")

# An HTTP call from inside the container: the container has no network but its loopback.
HTTP_INSIDE = """
import json, sys, urllib.error, urllib.request
port, path, body = sys.argv[1], sys.argv[2], sys.stdin.read()
request = urllib.request.Request(
    f"http://127.0.0.1:{port}{path}", data=body.encode() if body else None,
    headers={"content-type": "application/json"},
)
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        status, text = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, text = error.code, error.read().decode()
print(json.dumps({"status": status, "body": json.loads(text)}))
"""

# Every file of the image (virtual filesystems and the tmpfs aside) whose size and sha256
# match one of the fingerprints read from stdin; and the files under /app with their hashes.
FILES_INSIDE = """
import hashlib, json, os, sys
wanted = {(size, digest) for size, digest in json.load(sys.stdin)}
sizes = {size for size, _ in wanted}
def digest(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()
found, app = [], {}
for top in sorted(set(os.listdir("/")) - {"proc", "sys", "dev", "tmp", "run"}):
    for root, dirs, files in os.walk("/" + top):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if path.startswith("/app/"):
                app[os.path.relpath(path, "/app")] = digest(path)
            size = os.path.getsize(path)
            if size in sizes and (size, digest(path)) in wanted:
                found.append(path)
print(json.dumps({"found": found, "app": app}))
"""


def cache_dir() -> Path:
    """Where the stand-in images live between runs (the XDG cache, like other tools)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "mlops-project-template-images"


@dataclass(frozen=True)
class Containers:
    """buildah and podman over one private storage: settings in files this test writes."""

    env: dict[str, str]
    policy: Path

    def run(self, *command: str, stdin: str | None = None, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a container tool; with `check`, fail the test with its output on an error."""
        result = subprocess.run(
            command, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr)[-6000:]
            pytest.fail(f"`{' '.join(command)}` exited {result.returncode}:\n{output}")
        return result

    def label(self, image: str, name: str) -> str | None:
        """A label of a local image; None when the image is not there."""
        result = self.run("podman", "image", "inspect", image, check=False)
        if result.returncode != 0:
            return None
        return (json.loads(result.stdout)[0]["Config"].get("Labels") or {}).get(name)


@pytest.fixture(scope="module")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Containers:
    """Private storage under the cache folder, and the configuration to use it."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    reason = (f"{', '.join(missing)} not installed: `make tools` installs them as root"
              if missing else None)
    if os.geteuid() != 0:
        reason = "building and running images without a daemon needs root (debootstrap, chroot)"
    if reason and "CI" in os.environ:
        pytest.fail(reason)  # CI runs `make tools` as root: a missing tool is a broken setup
    if reason:
        pytest.skip(reason + "; skipped because CI is unset")
    cache = cache_dir()
    # podman's database records the run folders: they stay the same between runs.
    (cache / "run").mkdir(parents=True, exist_ok=True)
    settings = tmp_path_factory.mktemp("containers")
    (settings / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{cache / "storage"}"\n'
        f'runroot = "{cache / "run" / "storage"}"\n'
    )
    (settings / "containers.conf").write_text(
        # No systemd or cgroup manager on these machines: runc and plain cgroupfs.
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'events_logfile_path = "{cache / "run" / "events.log"}"\n'
        f'tmp_dir = "{cache / "run" / "libpod"}"\n'
    )
    (settings / "registries.conf").write_text("unqualified-search-registries = []\n")
    (settings / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    env = outside_make()
    env.update(
        CONTAINERS_STORAGE_CONF=str(settings / "storage.conf"),
        CONTAINERS_CONF=str(settings / "containers.conf"),
        CONTAINERS_REGISTRIES_CONF=str(settings / "registries.conf"),
    )
    return Containers(env=env, policy=settings / "policy.json")


def recipe_key(**inputs: Any) -> str:
    """What made a stand-in, hashed: a cached image is reused only while it is the same."""
    text = json.dumps({"recipe": RECIPE, **inputs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def debian_mirror(suite: str) -> str:
    """The machine's Debian mirror that carries `suite`, from apt's sources."""
    apt = Path("/etc/apt")
    for path in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines()
                if ":" in line and not line.startswith(("#", " "))
            )
            values = {key.strip(): value.split() for key, value in fields.items()}
            if ("deb" in values.get("Types", []) and suite in values.get("Suites", [])
                    and "main" in values.get("Components", [])):
                return values["URIs"][0]
    for path in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        lines = path.read_text().splitlines() if path.is_file() else []
        for line in lines:
            match = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line.strip())
            if match and match.group(2) == suite and "main" in match.group(3).split():
                return match.group(1)
    pytest.fail(f"/etc/apt/sources*: no Debian mirror for {suite} main, which debootstrap "
                "needs to make the stand-in base image")


def make_base_image(containers: Containers, name: str, python: str, suite: str,
                    workdir: Path) -> None:
    """Stand-in for the official python image: Debian `suite` with Debian's Python.

    The official image builds its own Python under /usr/local; this one links Debian's
    there, which is where the Dockerfile (and `uv venv --python`) looks for it.
    """
    mirror = debian_mirror(suite)
    key = recipe_key(suite=suite, python=python, packages=BASE_PACKAGES, mirror=mirror)
    if containers.label(name, RECIPE_LABEL) == key:
        return
    rootfs = workdir / "rootfs"
    containers.run("debootstrap", "--variant=minbase", "--components=main",
                   f"--include={','.join(BASE_PACKAGES)}", suite, str(rootfs), mirror,
                   timeout=1200)
    interpreter = rootfs / "usr" / "bin" / f"python{python}"
    if not interpreter.is_file():
        pytest.fail(f"Debian {suite} has no Python {python}: it cannot stand in for {name}")
    for link in ("python", "python3", f"python{python}"):
        (rootfs / "usr" / "local" / "bin" / link).symlink_to(f"/usr/bin/python{python}")
    # What the official image leaves out too: package lists and downloads, host identity.
    for leftover in [*(rootfs / "var/lib/apt/lists").glob("*"),
                     *(rootfs / "var/cache/apt").rglob("*.deb"),
                     *(rootfs / "var/cache/apt").glob("*.bin"), rootfs / "etc/hostname"]:
        if leftover.is_file():
            leftover.unlink()
    (rootfs / "etc" / "resolv.conf").write_text("")
    archive = workdir / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:  # a tar keeps owners and modes; a copy would not
        tar.add(rootfs, arcname=".")
    container = containers.run(
        "buildah", "from", "--signature-policy", str(containers.policy), "scratch"
    ).stdout.strip()
    containers.run("buildah", "add", container, str(archive), "/")
    commit(containers, container, name, key,
           "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "--env", "LANG=C.UTF-8", "--cmd", '["python3"]',
           "--label", f"org.opencontainers.image.description=Stand-in for {name}: Debian "
           f"{suite} minbase with Debian's Python {python}, made by tests/test_image_e2e.py")
    shutil.rmtree(rootfs)
    archive.unlink()


def make_uv_image(containers: Containers, name: str, version: str, workdir: Path) -> None:
    """Stand-in for the uv image: the same release's binaries at /uv and /uvx."""
    key = recipe_key(uv=version)
    if containers.label(name, RECIPE_LABEL) == key:
        return
    target = workdir / "uv"
    containers.run(str(Path(sys.executable).parent / "uv"), "pip", "install", "--quiet",
                   "--target", str(target), f"uv=={version}")
    container = containers.run(
        "buildah", "from", "--signature-policy", str(containers.policy), "scratch"
    ).stdout.strip()
    containers.run("buildah", "copy", "--chmod", "0755", container,
                   str(target / "bin" / "uv"), str(target / "bin" / "uvx"), "/")
    commit(containers, container, name, key,
           "--label", f"org.opencontainers.image.description=Stand-in for {name}: uv {version} "
           "from its PyPI wheel, made by tests/test_image_e2e.py")


def commit(containers: Containers, container: str, name: str, key: str, *config: str) -> None:
    """Set the image configuration and the recipe label, then commit under `name`."""
    containers.run("buildah", "config", "--label", f"{RECIPE_LABEL}={key}", *config, container)
    containers.run("buildah", "commit", "--signature-policy", str(containers.policy),
                   "--rm", "--quiet", container, name)


def build_settings(workdir: Path) -> Path:
    """A home folder holding the machine's uv settings for the build's RUN steps.

    It is mounted over /root, which the base image has: a mount on a path the image lacks
    would leave an empty mount point behind in the image. uv reads ~/.config/uv/uv.toml.
    system-certs: trust the CA bundle mounted at CA_BUNDLE, as uv here trusts
    SSL_CERT_FILE; the index settings are the machine's uv ones, when it has any.
    """
    machine = next((path for path in (
        Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "uv" / "uv.toml",
        Path("/etc/uv/uv.toml"),
    ) if path.is_file()), None)
    text = machine.read_text() if machine else ""
    present = set(tomllib.loads(text))
    settings = {"system-certs": True}
    if index := os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL"):
        settings["index-url"] = index
    if extra := os.environ.get("UV_EXTRA_INDEX_URL"):
        settings["extra-index-url"] = extra.split()
    # Top-level keys go first: after a [table] they would belong to it.
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()
             if key not in present and not (key == "system-certs" and "native-tls" in present)]
    config = workdir / "home" / ".config" / "uv" / "uv.toml"
    config.parent.mkdir(parents=True)
    config.write_text("\n".join([*lines, text]) + "\n")
    return workdir / "home"


@pytest.fixture(scope="module")
def built_project(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the default project as its pipeline left it, which the image is built from
    and checked against: tests of other modules retrain and re-export the shared project,
    also while this module runs when the end-to-end tier runs in parallel."""
    return Path(shutil.copytree(project, tmp_path_factory.mktemp("built") / project.name,
                                symlinks=True))


@pytest.fixture(scope="module")
def image(
    built_project: Path, containers: Containers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The project's image, built from its Dockerfile as it is; removed afterwards."""
    workdir = tmp_path_factory.mktemp("image")
    dockerfile = (built_project / "Dockerfile").read_text()
    bases = set(re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE))
    assert len(bases) == 1, f"Dockerfile: expected one base image, found {sorted(bases)}"
    base = bases.pop()
    official = OFFICIAL_PYTHON.fullmatch(base)
    assert official, f"Dockerfile: FROM {base} is no official python slim image"
    make_base_image(containers, f"docker.io/library/{base.split('/')[-1]}", *official.groups(),
                    workdir)
    contexts = []
    for reference, repository, version in set(UV_IMAGE.findall(dockerfile)):
        stand_in = f"{repository}:{version}"
        make_uv_image(containers, stand_in, version, workdir)
        contexts += ["--build-context", f"{reference}=docker-image://{stand_in}"]
    tag = f"localhost/{built_project.name}:image-e2e"
    containers.run("podman", "rmi", "--force", tag, check=False)  # left by a stopped run
    ca_bundle = os.environ.get("SSL_CERT_FILE") or CA_BUNDLE
    containers.run(
        # docker format, as docker builds: the OCI format has no HEALTHCHECK.
        "buildah", "bud", "--isolation=chroot", "--pull=never", "--format=docker",
        "--signature-policy", str(containers.policy), *contexts,
        "--volume", f"{ca_bundle}:{CA_BUNDLE}:ro",
        "--volume", f"{build_settings(workdir)}:/root",  # writable: uv venv keeps a cache
        "--tag", tag, str(built_project),
        timeout=1800,
    )
    try:
        yield tag
    finally:
        containers.run("podman", "rmi", "--force", tag, check=False)


@dataclass(frozen=True)
class PodSpec:
    """What the Kubernetes manifests ask of the server container."""

    uid: int
    gid: int
    port: int
    read_only_root: bool
    tmpfs: dict[str, str]  # mount path -> size limit of the emptyDir
    env: dict[str, str]


@pytest.fixture(scope="module")
def pod_spec(built_project: Path) -> PodSpec:
    base = built_project / "k8s" / "base"
    pod = yaml.safe_load((base / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    (server,) = [c for c in pod["containers"] if c["name"] == "server"]
    security = {**pod.get("securityContext", {}), **server.get("securityContext", {})}
    empty_dirs = {v["name"]: v["emptyDir"] for v in pod.get("volumes", []) if "emptyDir" in v}
    configmap = yaml.safe_load((base / "configmap.yaml").read_text())
    return PodSpec(
        uid=security["runAsUser"],
        gid=security["runAsGroup"],
        port=server["ports"][0]["containerPort"],
        read_only_root=security.get("readOnlyRootFilesystem", False),
        tmpfs={mount["mountPath"]: empty_dirs[mount["name"]].get("sizeLimit", "")
               for mount in server.get("volumeMounts", []) if mount["name"] in empty_dirs},
        env={**configmap.get("data", {}),
             **{item["name"]: item["value"] for item in server.get("env", []) if "value" in item}},
    )


def tmpfs_option(path: str, size_limit: str) -> str:
    """podman's --tmpfs for an emptyDir: Kubernetes' Mi/Gi are podman's m/g."""
    size = re.fullmatch(r"(\d+)([MG])i", size_limit)
    return f"{path}:rw,size={size.group(1)}{size.group(2).lower()}" if size else f"{path}:rw"


@pytest.fixture(scope="module")
def container(image: str, pod_spec: PodSpec, containers: Containers) -> Iterator[str]:
    """The image's own CMD, run as the pod runs it; the name once /ready answers 200."""
    assert pod_spec.read_only_root, "deployment.yaml: the server's root filesystem is writable"
    name = f"image-e2e-{uuid.uuid4().hex[:12]}"
    options = ["--read-only", "--read-only-tmpfs=false"] if pod_spec.read_only_root else []
    for path, size in pod_spec.tmpfs.items():
        options += ["--tmpfs", tmpfs_option(path, size)]
    for key, value in pod_spec.env.items():
        options += ["--env", f"{key}={value}"]
    containers.run(
        "podman", "run", "--detach", "--name", name, "--pull=never", *RUN_LIMITS,
        "--network=none", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        *options, image,
    )
    try:
        wait_until_ready(containers, name, pod_spec.port)
        yield name
    finally:
        containers.run("podman", "rm", "--force", "--time", "5", name, check=False)


def inside(containers: Containers, name: str, *command: str, stdin: str = "",
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command run in the container (as its user), reading `stdin`."""
    return containers.run("podman", "exec", "--interactive", name, *command,
                          stdin=stdin, check=check)


def call(containers: Containers, name: str, port: int, path: str,
         body: Any = None) -> tuple[int, Any]:
    """(status, JSON body) of a GET, or a POST of `body`, made from inside the container."""
    data = "" if body is None else json.dumps(body)
    result = inside(containers, name, "python", "-c", HTTP_INSIDE, str(port), path, stdin=data)
    answer = json.loads(result.stdout)
    return answer["status"], answer["body"]


def wait_until_ready(containers: Containers, name: str, port: int, limit: float = 180) -> None:
    """Poll /ready from inside until 200; fail with the container's log if it stops."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = json.loads(containers.run("podman", "inspect", name).stdout)[0]["State"]
        if not state["Running"]:
            log = containers.run("podman", "logs", name, check=False)
            pytest.fail(f"the container exited {state['ExitCode']}:\n"
                        f"{(log.stdout + log.stderr)[-4000:]}")
        probe = inside(containers, name, "python", "-c", HTTP_INSIDE, str(port), "/ready",
                       check=False)
        if probe.returncode == 0 and json.loads(probe.stdout)["status"] == 200:
            return
        time.sleep(1)
    log = containers.run("podman", "logs", name, check=False)
    pytest.fail(f"/ready not 200 after {limit:.0f} s:\n{(log.stdout + log.stderr)[-4000:]}")


def fingerprint(path: Path) -> tuple[int, str]:
    return path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_holds_the_bundle_and_no_other_project_file(
    container: str, containers: Containers, built_project: Path
) -> None:
    files = {path.relative_to(built_project).as_posix(): path
             for path in built_project.rglob("*") if path.is_file() and not path.is_symlink()}
    files = {name: path for name, path in files.items() if not name.startswith(NOT_PROJECT_FILES)}
    shipped = {fingerprint(path) for name, path in files.items() if name.startswith(SHIPPED)}
    # Tests, data, MLflow runs, DVC's cache, configs, manifests, the Dockerfile itself...
    # A file with the bytes of a bundle file (the registered model in mlruns/, a DVC cache
    # entry) is the bundle's own content, which the image carries on purpose.
    unshipped = {
        fingerprint(path): name for name, path in files.items()
        if not name.startswith(SHIPPED) and path.stat().st_size > 0
    }
    unshipped = {key: name for key, name in unshipped.items() if key not in shipped}
    assert {"tests", "data", "mlflow.db", "Dockerfile"} <= {
        name.split("/")[0] for name in unshipped.values()
    }
    listing = json.loads(inside(containers, container, "python", "-c", FILES_INSIDE,
                                stdin=json.dumps(list(unshipped))).stdout)
    assert listing["found"] == []
    bundle = {name.removeprefix("models/serving/"): fingerprint(path)[1]
              for name, path in files.items() if name.startswith("models/serving/")}
    assert listing["app"] == {f"models/serving/{name}": digest for name, digest in bundle.items()}


def test_service_answers_ready_and_predict_from_inside(
    container: str, containers: Containers, pod_spec: PodSpec, built_project: Path
) -> None:
    import pandas as pd  # imported when used: e2e modules are collected in every run

    assert call(containers, container, pod_spec.port, "/ready") == (
        200, {"status": "ready", "detail": None}
    )
    config = yaml.safe_load((built_project / "config" / "model_config.yaml").read_text())
    target = config["data"]["target"]
    held_out = pd.read_csv(built_project / "data" / "processed" / "test.csv")
    records = held_out.drop(columns=target).to_dict(orient="records")
    status, body = call(containers, container, pod_spec.port, "/predict", {"records": records})
    assert status == 200, body
    metadata = json.loads((built_project / "models" / "serving" / "metadata.json").read_text())
    assert body["model"] == {"name": metadata["name"], "version": metadata["version"]}
    labels = held_out[target].tolist()
    assert len(body["predictions"]) == len(labels)
    # The image serves the model the pipeline evaluated: its ONNX form scores the held-out
    # set as the evaluate stage scored the fitted pipeline (tree parity is ~1e-6, so at
    # most a row on a split threshold could differ).
    accuracy = sum(p == y for p, y in zip(body["predictions"], labels)) / len(labels)
    assert accuracy == pytest.approx(metadata["metrics"]["test_accuracy"], abs=1 / len(labels))


def test_service_runs_as_the_manifests_non_root_user(
    container: str, containers: Containers, pod_spec: PodSpec, image: str, built_project: Path
) -> None:
    assert pod_spec.uid != 0 and pod_spec.gid != 0
    config = json.loads(containers.run("podman", "image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{pod_spec.uid}:{pod_spec.gid}"
    status = inside(containers, container, "cat", "/proc/1/status").stdout
    ids = dict(re.findall(r"^(Uid|Gid):\s+(.*)$", status, flags=re.MULTILINE))
    assert ids == {"Uid": f"{pod_spec.uid}\t" * 3 + str(pod_spec.uid),
                   "Gid": f"{pod_spec.gid}\t" * 3 + str(pod_spec.gid)}
    # PID 1 is the service itself (exec-form CMD), so it gets the kubelet's SIGTERM.
    command = inside(containers, container, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert Path(command[1]).name == built_project.name and "serve" in command


def test_root_filesystem_is_read_only_with_a_tmpfs_tmp(
    container: str, containers: Containers, pod_spec: PodSpec
) -> None:
    mounts = {fields[1]: fields for line in inside(containers, container, "cat",
                                                   "/proc/mounts").stdout.splitlines()
              if (fields := line.split())}
    assert "ro" in mounts["/"][3].split(",")
    assert set(pod_spec.tmpfs) == {"/tmp"}
    for path in pod_spec.tmpfs:
        assert mounts[path][2] == "tmpfs" and "rw" in mounts[path][3].split(",")
    write = "import sys, tempfile; tempfile.NamedTemporaryFile(dir=sys.argv[1])"
    assert inside(containers, container, "python", "-c", write, "/tmp").returncode == 0
    refused = inside(containers, container, "python", "-c", write, "/app", check=False)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr


def test_healthcheck_command_exits_zero(
    container: str, containers: Containers, image: str
) -> None:
    inspected = json.loads(containers.run("podman", "image", "inspect", image).stdout)[0]
    assert inspected["Healthcheck"]["Test"][0] == "CMD"  # exec form: no shell needed
    containers.run("podman", "healthcheck", "run", container)
    state = json.loads(containers.run("podman", "inspect", container).stdout)[0]["State"]
    assert state["Health"]["Status"] == "healthy"
