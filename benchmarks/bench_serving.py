"""Serving throughput and latency: the generated service against MLflow's and the HTTP ceiling.

One run, one model, one machine, three servers, each started, warmed up, loaded with wrk,
measured and stopped in turn:

    mlflow       `mlflow models serve -m models:/<name>@champion --env-manager local`
    generated    `<slug> serve` on a copy of the exported bundle (no tracking database)
    ceiling      a FastAPI app that parses the same JSON body and answers a constant,
                 under the same uvicorn settings: what HTTP + JSON alone cost here

Absolute numbers move with whatever else the machine is doing; the ratios between servers
measured minutes apart in the same run are what to compare across runs and machines.

    make bench            # or: .venv/bin/python benchmarks/bench_serving.py  (needs wrk)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bake import (  # noqa: E402  (the helpers live beside the tests)
    ANSWERS_FILE,
    project_env,
    render,
    stop_process_group,
)

HOST = "127.0.0.1"  # never anything else: wrk is a load generator
READY_TIMEOUT_S = 180.0  # `import mlflow` alone takes 5-6 s on these cores, more under load
# Targets for the generated service, from docs/ and the design notes.
TARGET_MLFLOW_RATIO = 20.0
TARGET_CEILING_SHARE = 0.5
TARGET_P99_MS = 5.0

# The ceiling answers with a body shaped like /predict's, so it pays the same serialization.
# It runs with the uvicorn settings `<slug> serve` uses (no access log): if the service
# ever changes a per-request uvicorn setting, the ceiling must follow.
CEILING_APP = '''\
"""The HTTP ceiling: FastAPI parses the /predict body and answers a constant."""
from typing import Any

from fastapi import FastAPI

app = FastAPI()
ANSWER = {
    "request_id": "0" * 32,
    "model": {"name": "ceiling", "version": "1"},
    "warnings": [],
    "predictions": [1],
    "probabilities": [{"0": 0.25, "1": 0.75}],
    "positive_probabilities": [0.75],
}


@app.get("/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
async def predict(body: dict[str, Any]) -> dict[str, Any]:
    return ANSWER
'''

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""

WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True)
class Server:
    """How to start one server and what to send it."""

    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    port: int
    ready_path: str
    load_path: str
    body: dict[str, Any]

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


@dataclass(frozen=True)
class Load:
    """What wrk reports for one measured run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: str | None


@dataclass(frozen=True)
class Result:
    label: str
    load: Load
    rss_mib: float
    processes: int
    ready_s: float


# --- building the project -------------------------------------------------------------------


def run(command: list[str] | str, cwd: Path, env: dict[str, str]) -> None:
    """Run a setup step quietly; on failure show its output's tail, which says why."""
    result = subprocess.run(
        command, shell=isinstance(command, str), cwd=cwd, env=env,
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        sys.exit(f"`{command}` exited {result.returncode} in {cwd}:\n{output}")


def built_project(workdir: Path) -> Path | None:
    """A project a previous `--workdir` run already took through the pipeline, if any."""
    bundles = sorted(workdir.glob("*/models/serving/metadata.json"))
    return bundles[0].parents[2] if bundles else None


def build_project(workdir: Path) -> Path:
    """Render with copier defaults, install into the project's .venv, run the pipeline."""
    project = render("copier", workdir)
    venv = project / ".venv"
    env = project_env(venv)
    steps: dict[str, list[str] | str] = {
        "uv venv": [sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable,
                    str(venv)],
        "make install": "make install",
        "git init": ["git", "init", "--quiet"],
        "make pipeline": "make pipeline",
    }
    for name, command in steps.items():
        start = time.perf_counter()
        run(command, project, env)
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    return project


def sample_record(project: Path) -> tuple[dict[str, Any], str]:
    """One held-out row as a feature dict, and the registered model's name."""
    import pandas as pd

    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    test = pd.read_csv(project / config["data"]["processed_dir"] / "test.csv")
    record = test.drop(columns=config["data"]["target"]).head(1).to_dict(orient="records")[0]
    return record, config["mlflow"]["registered_model_name"]


# --- the three servers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def servers(project: Path, scratch: Path) -> list[Server]:
    """The three servers, on the same record, the same venv and the same uvicorn."""
    record, model_name = sample_record(project)
    slug = yaml.safe_load((project / ANSWERS_FILE).read_text())["project_slug"]
    bin_dir = project / ".venv" / "bin"
    base_env = project_env(project / ".venv")
    predict_body = {"records": [record]}

    mlflow_env = dict(base_env, MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    mlflow_port = free_port()
    mlflow = Server(
        "mlflow models serve",
        [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{model_name}@champion",
         "--env-manager", "local", "--workers", "1", "--host", HOST, "--port", str(mlflow_port)],
        project, mlflow_env, mlflow_port, "/ping", "/invocations",
        {"dataframe_split": {"columns": list(record), "data": [list(record.values())]}},
    )

    container = scratch / "container"  # the bundle alone, as a container would mount it
    bundle = shutil.copytree(project / "models" / "serving", container / "bundle")
    generated_port = free_port()
    generated = Server(
        "generated service",
        [str(bin_dir / slug), "serve", "--host", HOST, "--port", str(generated_port)],
        container, dict(base_env, MODEL_PATH=str(bundle)), generated_port,
        "/ready", "/predict", predict_body,
    )

    ceiling_dir = scratch / "ceiling"
    ceiling_dir.mkdir(exist_ok=True)
    (ceiling_dir / "ceiling_app.py").write_text(CEILING_APP)
    ceiling_port = free_port()
    ceiling = Server(
        "HTTP ceiling (FastAPI)",
        [str(bin_dir / "python"), "-m", "uvicorn", "ceiling_app:app",
         "--host", HOST, "--port", str(ceiling_port), "--no-access-log"],
        ceiling_dir, base_env, ceiling_port, "/ready", "/predict", predict_body,
    )
    return [mlflow, generated, ceiling]


def status_of(url: str, body: dict[str, Any] | None = None) -> int:
    """HTTP status of a GET (or of a JSON POST when a body is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_ready(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the readiness URL every 50 ms: fine enough to time a start-up of seconds."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{server.label} exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if status_of(server.url(server.ready_path)) == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        time.sleep(0.05)
    sys.exit(f"{server.label}: not ready after {READY_TIMEOUT_S:.0f} s:\n{log.read_text()[-4000:]}")


@contextmanager
def started(server: Server, logs: Path) -> Iterator[tuple[int, float]]:
    """Run the server in its own session; yield (pid, seconds from spawn to ready).

    Its own session lets the stop, and the memory count, cover every process it forks
    (`mlflow models serve` runs uvicorn as a child).
    """
    log = logs / f"{server.label.split()[0]}.log"
    with log.open("w") as output:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            server.argv, cwd=server.cwd, env=server.env, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_ready(server, process, log)
        yield process.pid, time.perf_counter() - spawned
    finally:
        stop_process_group(process)


def session_rss_mib(session: int) -> tuple[float, int]:
    """Summed VmRSS of the processes in a session, and how many there are.

    Shared pages count once per process, so for a parent + worker pair this slightly
    overstates the machine's cost; it is what a container's memory limit would see.
    """
    total_kib, count = 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            status = (entry / "status").read_text()
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue  # gone meanwhile
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            total_kib += int(match.group(1))
            count += 1
    return total_kib / 1024, count


# --- load -------------------------------------------------------------------------------------


def to_ms(value: str) -> float:
    """wrk prints durations like 812.00us, 1.43ms, 1.02s."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not match:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(match.group(1)) * WRK_UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    """Requests/sec and the 50% / 99% lines of the `Latency Distribution` block."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (rate and p50 and p99):
        raise ValueError(f"could not parse wrk output:\n{output}")
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if refused:
        # Error answers are cheap: counting them as throughput would flatter the server.
        raise ValueError(f"{refused.group(1)} requests were refused:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    return Load(float(rate.group(1)), to_ms(p50.group(1)), to_ms(p99.group(1)),
                errors.group(1) if errors else None)


def wrk(server: Server, script: Path, seconds: float, threads: int, connections: int) -> Load:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
        "-s", str(script), server.url(server.load_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def measure(server: Server, scratch: Path, args: argparse.Namespace) -> Result:
    """Start, check one answer, warm up, measure, read memory, stop."""
    script = scratch / f"post-{server.port}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(server.body)))
    print(f"  {server.label}: starting", flush=True)
    with started(server, scratch) as (pid, ready_s):
        status = status_of(server.url(server.load_path), server.body)
        if status != 200:
            sys.exit(f"{server.label}: {server.load_path} answered {status}, not 200")
        wrk(server, script, args.warmup, args.threads, args.connections)
        load = wrk(server, script, args.duration, args.threads, args.connections)
        rss_mib, processes = session_rss_mib(pid)
    print(f"  {server.label}: {load.requests_per_s:,.0f} req/s", flush=True)
    if load.socket_errors:
        print(f"  {server.label}: wrk socket errors: {load.socket_errors}")
    return Result(server.label, load, rss_mib, processes, ready_s)


# --- report -----------------------------------------------------------------------------------


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line, from the repository root, with every option spelled out."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO):
        python = python.relative_to(REPO)
    options = [
        f"--duration={args.duration:g}", f"--warmup={args.warmup:g}",
        f"--threads={args.threads}", f"--connections={args.connections}",
    ]
    return f"cd {shlex.quote(str(REPO))} && make venv && " + shlex.join(
        [str(python), "benchmarks/bench_serving.py", *options]
    )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    mlflow, generated, ceiling = results
    width = max(len(result.label) for result in results)
    print(f"\n{'server'.ljust(width)} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | RSS MiB")
    print(f"{'-' * width}-|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}")
    for result in results:
        load = result.load
        print(f"{result.label.ljust(width)} | {load.requests_per_s:8,.0f} | "
              f"{load.p50_ms:7.2f} | {load.p99_ms:7.2f} | {result.rss_mib:7.0f}"
              f"{'' if result.processes == 1 else f' ({result.processes} processes)'}")
    vs_mlflow = generated.load.requests_per_s / mlflow.load.requests_per_s
    vs_ceiling = generated.load.requests_per_s / ceiling.load.requests_per_s
    print(f"\nstart to ready (spawn -> 200): generated {generated.ready_s:.2f} s, "
          f"mlflow {mlflow.ready_s:.2f} s, ceiling {ceiling.ready_s:.2f} s")
    print(f"generated / mlflow throughput:  {vs_mlflow:6.1f}x   "
          f"(target >= {TARGET_MLFLOW_RATIO:g}x: {verdict(vs_mlflow >= TARGET_MLFLOW_RATIO)})")
    print(f"generated / ceiling throughput: {vs_ceiling:6.1%}   "
          f"(target >= {TARGET_CEILING_SHARE:.0%}: "
          f"{verdict(vs_ceiling >= TARGET_CEILING_SHARE)})")
    print(f"generated p99:                  {generated.load.p99_ms:6.2f} ms "
          f"(target < {TARGET_P99_MS:g} ms: {verdict(generated.load.p99_ms < TARGET_P99_MS)})")
    print(f"\nload: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
          f"one row per request, after {args.warmup:g} s of warm-up, on {os.cpu_count()} cores")
    print(f"reproduce: {reproduce_command(args)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before it")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--workdir", type=Path,
        help="build (or reuse) the project here and keep it; default: a temporary folder",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y --no-install-recommends wrk (or `make bench`)")

    with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as tmp:
        workdir = args.workdir.resolve() if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        project = built_project(workdir)
        if project is None:
            print("building the project (render, install, pipeline)", flush=True)
            project = build_project(workdir)
        print(f"measuring {project}", flush=True)
        scratch = Path(tempfile.mkdtemp(prefix="serving-", dir=tmp))
        results = [measure(server, scratch, args) for server in servers(project, scratch)]
    print_report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
