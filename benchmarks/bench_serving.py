"""Serving throughput and latency: the generated service against its peers, and a soak.

One run, one model, one machine. Each server is started, warmed up, loaded with wrk
(eight connections, one row per request), measured and stopped in turn:

    mlflow              `mlflow models serve -m models:/<name>@champion --env-manager local`
    generated           `<slug> serve` on a copy of the exported bundle (no tracking database)
    generated + scrapes the same, while a scraper GETs /metrics once a second, as Prometheus
                        would; the live drift gauges must be recomputed meanwhile
    drift in a thread   the same with DRIFT_PROCESS=false: the drift statistics in a
                        thread of the server instead of the drift process
    drift never         a diagnosis: the drift worker never wakes
    bentoml             `bentoml serve` of a minimal BentoML service around the same
                        scikit-learn pipeline (benchmarks/bentoml_service.py), in a venv of
                        its own
    ceiling             a FastAPI app that parses the same JSON body and answers a constant,
                        under the same uvicorn settings: what HTTP + JSON alone cost here

Then the generated service and the ceiling again, both up at once and loaded in turn for
`--rounds` rounds (0 to skip): the ceiling share of each round, and their median.

Then a soak (`--soak-seconds`, 0 to skip): the generated service under mixed good and bad
requests (benchmarks/soak.lua) with a scrape each second, counting answers by status and
sampling the server's resident memory after a warm-up and at the end.

Absolute numbers move with whatever else the machine is doing; the ratios between servers
measured minutes apart in the same run are what to compare across runs and machines.
The report is markdown, to paste into docs/benchmarks.md.

    make bench            # or: .venv/bin/python benchmarks/bench_serving.py  (needs wrk)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests"))

from bake import (  # noqa: E402  (the helpers live beside the tests)
    ANSWERS_FILE,
    project_env,
    render,
    stop_process_group,
)

HOST = "127.0.0.1"  # never anything else: wrk is a load generator
READY_TIMEOUT_S = 180.0  # `import mlflow` alone takes 5-6 s on these cores, more under load
SCRAPE_PERIOD_S = 1.0
# Targets for the generated service, from issue 10 and the design notes.
TARGET_MLFLOW_RATIO = 20.0
TARGET_BENTOML_RATIO = 1.0  # ahead of BentoML
TARGET_CEILING_SHARE = 0.6
TARGET_P99_MS = 5.0
TARGET_SCRAPE_P99_RATIO = 1.5
TARGET_SOAK_RSS_GROWTH = 0.10
# The BentoML peer's venv: BentoML pins its own web stack, so it never shares the project's.
BENTOML_SPEC = "bentoml>=1.4,<2"
# Installed in the peer's venv at the project venv's versions, so it loads the same file.
MODEL_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy")

CEILING_LABEL = "HTTP ceiling (FastAPI)"
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

# Runs in the project's venv: the model call alone (`Predictor.outputs`: class
# probabilities for a classifier), one row, in-process, for each runtime
# the bundle offers. It tells how much of a server's cost is the model and how much is
# the rest; the BentoML peer calls the scikit-learn pipeline, the generated service ONNX.
MODEL_CALL = """\
import json, statistics, sys, time
from pathlib import Path
from {package}.model_io import ServingBundle

bundle = ServingBundle.open(Path(sys.argv[1]))
record = json.loads(sys.argv[2])
medians = {{}}
for prefer_onnx in (True, False):
    predictor = bundle.predictor(prefer_onnx=prefer_onnx)
    times = []
    for attempt in range(220):
        start = time.perf_counter()
        predictor.outputs([record])
        if attempt >= 20:  # the first calls warm caches up
            times.append(time.perf_counter() - start)
    medians[predictor.runtime] = statistics.median(times) * 1e3
print(json.dumps(medians))
"""

WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
DRIFT_COMPUTED = "model_drift_computed_timestamp_seconds"
DRIFT_RECORDS = "model_drift_observed_records"


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
    drift_gauges: bool = False  # it exports the live drift gauges on /metrics
    scraped: bool = False  # /metrics is scraped once a second during the measured load

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


@dataclass(frozen=True)
class Load:
    """What wrk reports for one measured run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: str | None


@dataclass
class Scrapes:
    """What the scraper saw: each scrape's latency, status and the drift gauges' values."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    computed_at: list[float] = field(default_factory=list)  # model_drift_computed_timestamp

    def summary(self) -> str:
        if not self.latencies_ms:
            return "no scrape answered"
        return (f"{len(self.latencies_ms)} scrapes, p50 {statistics.median(self.latencies_ms):.1f}"
                f" ms, max {max(self.latencies_ms):.1f} ms")


@dataclass(frozen=True)
class Drift:
    """The drift gauges around a measured run: did the worker recompute them meanwhile?"""

    computations: int | None  # distinct computation times the scrapes saw, if scraped
    refreshed: bool  # computed again after the measured load started
    records_before: float
    records_after: float


@dataclass(frozen=True)
class Result:
    label: str
    load: Load
    rss_mib: float
    processes: int
    ready_s: float
    scrapes: Scrapes | None = None
    drift: Drift | None = None


@dataclass(frozen=True)
class Soak:
    seconds: float
    warmup_s: float
    sent: dict[str, int]
    statuses: dict[int, int]
    scrapes: Scrapes
    rss_warm_mib: float
    rss_end_mib: float
    rss_max_mib: float

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500) + sum(
            count for status, count in self.scrapes.statuses.items() if status >= 500
        )

    @property
    def growth(self) -> float:
        return self.rss_end_mib / self.rss_warm_mib - 1


# --- building the project -------------------------------------------------------------------


def run(command: list[str] | str, cwd: Path, env: dict[str, str]) -> str:
    """Run a setup step quietly; on failure show its output's tail, which says why."""
    result = subprocess.run(
        command, shell=isinstance(command, str), cwd=cwd, env=env,
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        sys.exit(f"`{command}` exited {result.returncode} in {cwd}:\n{output}")
    return result.stdout


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


def bentoml_venv(workdir: Path, project: Path) -> Path:
    """A venv with BentoML and the project venv's versions of the model's packages.

    Made with the template venv's uv, as the Airflow test makes Airflow's; reused when a
    previous `--workdir` run made it.
    """
    venv = workdir / "bentoml-venv"
    if (venv / "bin" / "bentoml").is_file():
        return venv
    versions = run(
        [str(project / ".venv" / "bin" / "python"), "-c",
         "import sys; from importlib.metadata import version; "
         "print(' '.join(f'{name}=={version(name)}' for name in sys.argv[1:]))",
         *MODEL_PACKAGES],
        project, project_env(project / ".venv"),
    ).split()
    uv = str(Path(sys.executable).parent / "uv")
    start = time.perf_counter()
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], workdir, os.environ.copy())
    run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         BENTOML_SPEC, *versions], workdir, os.environ.copy())
    print(f"  BentoML venv ({BENTOML_SPEC}, {' '.join(versions)}): "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return venv


def sample_record(project: Path) -> tuple[dict[str, Any], str]:
    """One held-out row as a feature dict, and the registered model's name."""
    import pandas as pd

    config = yaml.safe_load((project / "config" / "model_config.yaml").read_text())
    test = pd.read_csv(project / config["data"]["processed_dir"] / "test.csv")
    record = test.drop(columns=config["data"]["target"]).head(1).to_dict(orient="records")[0]
    return record, config["mlflow"]["registered_model_name"]


# --- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def generated_server(project: Path, scratch: Path) -> Server:
    """`<slug> serve` on a copy of the bundle, as a container would mount it."""
    record, _ = sample_record(project)
    slug = yaml.safe_load((project / ANSWERS_FILE).read_text())["project_slug"]
    container = scratch / "container"
    bundle = container / "bundle"
    if not bundle.is_dir():
        shutil.copytree(project / "models" / "serving", bundle)
    port = free_port()
    return Server(
        "generated",
        [str(project / ".venv" / "bin" / slug), "serve", "--host", HOST, "--port", str(port)],
        container, dict(project_env(project / ".venv"), MODEL_PATH=str(bundle)), port,
        "/ready", "/predict", {"records": [record]}, drift_gauges=True,
    )


def servers(project: Path, scratch: Path, bentoml: Path) -> list[Server]:
    """The servers, on the same record; all but BentoML in the project's venv."""
    record, model_name = sample_record(project)
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

    generated = generated_server(project, scratch)
    scraped_port = free_port()  # the same server, started again for its own run
    scraped = dataclasses.replace(
        generated, label="generated + scrapes", port=scraped_port, scraped=True,
        argv=[*generated.argv[:-1], str(scraped_port)],
    )
    # A diagnosis, not a configuration to ship: what the live drift computations cost the
    # requests, with the worker never woken (no interval or record count is ever reached).
    quiet_port = free_port()
    quiet = dataclasses.replace(
        generated, label="generated, drift never computed", port=quiet_port,
        argv=[*generated.argv[:-1], str(quiet_port)],
        env=dict(generated.env, DRIFT_INTERVAL="1e9", DRIFT_RECORDS=str(10**12)),
    )

    # The previous default, kept as a setting: the statistics in a thread of the server.
    threaded_port = free_port()
    threaded = dataclasses.replace(
        generated, label="generated, drift in a thread", port=threaded_port,
        argv=[*generated.argv[:-1], str(threaded_port)],
        env=dict(generated.env, DRIFT_PROCESS="false"),
    )

    bentoml_port = free_port()
    model_file = project / "models" / "serving" / "model" / "model.skops"
    bentoml_env = dict(
        base_env, PATH=f"{bentoml / 'bin'}{os.pathsep}{base_env['PATH']}",
        VIRTUAL_ENV=str(bentoml), BENTOML_DO_NOT_TRACK="True",
        BENTOML_HOME=str(scratch / "bentoml-home"), MODEL_FILE=str(model_file),
    )
    bentoml_server = Server(
        "BentoML",
        [str(bentoml / "bin" / "bentoml"), "serve", "bentoml_service:SklearnPipeline",
         "--host", HOST, "--port", str(bentoml_port)],
        BENCHMARKS, bentoml_env, bentoml_port, "/readyz", "/predict", predict_body,
    )

    ceiling_dir = scratch / "ceiling"
    ceiling_dir.mkdir(exist_ok=True)
    (ceiling_dir / "ceiling_app.py").write_text(CEILING_APP)
    ceiling_port = free_port()
    ceiling = Server(
        CEILING_LABEL,
        [str(bin_dir / "python"), "-m", "uvicorn", "ceiling_app:app",
         "--host", HOST, "--port", str(ceiling_port), "--no-access-log"],
        ceiling_dir, base_env, ceiling_port, "/ready", "/predict", predict_body,
    )
    return [mlflow, generated, scraped, threaded, quiet, bentoml_server, ceiling]


def fetch(url: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """HTTP status and body of a GET (or of a JSON POST when a body is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def status_of(url: str, body: dict[str, Any] | None = None) -> int:
    return fetch(url, body)[0]


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
    log = logs / f"{re.sub(r'[^a-z]+', '-', server.label.lower()).strip('-')}.log"
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


def vm_rss_mib(pid: int) -> float:
    """Resident memory of one process, from /proc/<pid>/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"process {pid} has no VmRSS (exited?)")
    return int(match.group(1)) / 1024


def session_rss_mib(session: int) -> tuple[float, int]:
    """Summed VmRSS of the processes in a session, and how many there are.

    Shared pages count once per process, so for a parent + worker pair this slightly
    overstates the machine's cost; it is what a container's memory limit would see.
    """
    total, count = 0.0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            total += vm_rss_mib(int(entry.name))
        except (ProcessLookupError, PermissionError, FileNotFoundError, RuntimeError):
            continue  # gone meanwhile
        count += 1
    return total, count


# --- scrapes and drift gauges -----------------------------------------------------------------


def gauge(exposition: str, name: str) -> float:
    """The value of an unlabelled gauge in a Prometheus text exposition."""
    match = re.search(rf"^{name} (\S+)$", exposition, re.MULTILINE)
    if match is None:
        raise ValueError(f"/metrics has no {name} line")
    return float(match.group(1))


class Scraper:
    """GET /metrics once a second in a thread, as Prometheus would during the load."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)
        self.seen = Scrapes()

    def __enter__(self) -> Scrapes:
        self._thread.start()
        return self.seen

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += SCRAPE_PERIOD_S
            start = time.perf_counter()
            try:
                status, body = fetch(self._url)
            except (urllib.error.URLError, ConnectionError) as error:
                self.seen.statuses[0] += 1  # no answer at all: counted, shown as status 0
                print(f"  scrape failed: {error}", flush=True)
                continue
            self.seen.latencies_ms.append((time.perf_counter() - start) * 1e3)
            self.seen.statuses[status] += 1
            if status == 200:
                self.seen.computed_at.append(gauge(body.decode(), DRIFT_COMPUTED))


def drift_gauges(server: Server) -> tuple[float, float]:
    """(computed timestamp, observed records) of the drift gauges now."""
    status, body = fetch(server.url("/metrics"))
    if status != 200:
        sys.exit(f"{server.label}: /metrics answered {status}")
    text = body.decode()
    return gauge(text, DRIFT_COMPUTED), gauge(text, DRIFT_RECORDS)


def model_call_ms(project: Path, bundle: Path, record: dict[str, Any]) -> dict[str, float]:
    """Median milliseconds of one row's model call, in-process, per runtime."""
    package = yaml.safe_load((project / ANSWERS_FILE).read_text())["package_name"]
    output = run([str(project / ".venv" / "bin" / "python"), "-c",
                  MODEL_CALL.format(package=package), str(bundle), json.dumps(record)],
                 project, project_env(project / ".venv"))
    return json.loads(output.strip().splitlines()[-1])


# --- load -------------------------------------------------------------------------------------


def to_ms(value: str) -> float:
    """wrk prints durations like 812.00us, 1.43ms, 1.02s."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not match:
        raise ValueError(f"unexpected wrk duration {value!r}")
    return float(match.group(1)) * WRK_UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    """Requests/sec, the Latency line's max and the 50% / 99% lines of `--latency`."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    latency = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (rate and latency and p50 and p99):
        raise ValueError(f"could not parse wrk output:\n{output}")
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if refused:
        # Error answers are cheap: counting them as throughput would flatter the server.
        raise ValueError(f"{refused.group(1)} requests were refused:\n{output}")
    errors = re.search(r"Socket errors: (.*)", output)
    return Load(float(rate.group(1)), to_ms(p50.group(1)), to_ms(p99.group(1)),
                to_ms(latency.group(1)), errors.group(1) if errors else None)


def wrk_command(url: str, script: Path, seconds: float, args: argparse.Namespace) -> list[str]:
    return [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
        "--timeout", "10s", "-s", str(script), url,
    ]


def wrk(server: Server, script: Path, seconds: float, args: argparse.Namespace) -> Load:
    command = wrk_command(server.url(server.load_path), script, seconds, args)
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def post_script(server: Server, scratch: Path) -> Path:
    """The wrk script that sends ``server`` its body."""
    script = scratch / f"post-{server.port}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(server.body)))
    return script


def measure(server: Server, scratch: Path, args: argparse.Namespace) -> Result:
    """Start, check one answer, warm up, measure (scraping, if asked), read memory, stop."""
    script = post_script(server, scratch)
    print(f"  {server.label}: starting", flush=True)
    scrapes, drift = None, None
    with started(server, scratch) as (pid, ready_s):
        status = status_of(server.url(server.load_path), server.body)
        if status != 200:
            sys.exit(f"{server.label}: {server.load_path} answered {status}, not 200")
        wrk(server, script, args.warmup, args)
        if server.drift_gauges:
            before = drift_gauges(server)
            load_started = time.time()
        if server.scraped:
            with Scraper(server.url("/metrics")) as scrapes:
                load = wrk(server, script, args.duration, args)
        else:
            load = wrk(server, script, args.duration, args)
        if server.drift_gauges:
            after = drift_gauges(server)
            computations = None
            if scrapes is not None:
                computations = len({at for at in scrapes.computed_at if at >= load_started})
            drift = Drift(computations, after[0] >= load_started, before[1], after[1])
        rss_mib, processes = session_rss_mib(pid)
    print(f"  {server.label}: {load.requests_per_s:,.0f} req/s", flush=True)
    if load.socket_errors:
        print(f"  {server.label}: wrk socket errors: {load.socket_errors}")
    return Result(server.label, load, rss_mib, processes, ready_s, scrapes, drift)


def interleaved_shares(generated: Server, ceiling: Server, scratch: Path,
                       args: argparse.Namespace) -> list[float]:
    """The generated service's throughput ÷ the ceiling's, round by round, with both servers
    up and loaded in turn: a change in the machine's speed falls on both runs of a round,
    where the one-server-at-a-time runs above are minutes apart."""
    scripts = {server.port: post_script(server, scratch) for server in (generated, ceiling)}
    shares = []
    with started(generated, scratch), started(ceiling, scratch):
        for server in (generated, ceiling):
            wrk(server, scripts[server.port], args.warmup, args)
        for number in range(1, args.rounds + 1):
            mine, top = (wrk(server, scripts[server.port], args.duration, args).requests_per_s
                         for server in (generated, ceiling))
            shares.append(mine / top)
            print(f"  round {number}: generated {mine:,.0f} req/s, ceiling {top:,.0f} req/s, "
                  f"{shares[-1]:.0%}", flush=True)
    return shares


# --- soak -------------------------------------------------------------------------------------


def soak_bodies(server: Server, project: Path) -> dict[str, str]:
    """The soak script's environment: a valid body, three invalid ones, a feedback body."""
    record = server.body["records"][0]
    first, last = next(iter(record)), list(record)[-1]
    wrong_type = dict(record, **{first: "not a number"})
    missing = {name: value for name, value in record.items() if name != last}
    schema = json.loads((project / "models" / "serving" / "schema.json").read_text())
    label = json.dumps(schema["classes"][0])
    return {
        "SOAK_PREDICT": json.dumps(server.body),
        "SOAK_WRONG_TYPE": json.dumps({"records": [wrong_type]}),
        "SOAK_MISSING": json.dumps({"records": [missing]}),
        "SOAK_MALFORMED": json.dumps(server.body)[:-7],  # cut off mid-record
        "SOAK_FEEDBACK": '{"request_id": "%s", "labels": [' + label + "]}",
    }


def soak_wrk(server: Server, seconds: float, env: dict[str, str],
             args: argparse.Namespace, pid: int) -> tuple[Counter[str], Counter[int], float]:
    """Mixed load for `seconds`, sampling the server's RSS every 5 s; the sent and
    received counts and the highest RSS seen."""
    command = wrk_command(server.url("/predict"), BENCHMARKS / "soak.lua", seconds, args)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    highest = vm_rss_mib(pid)
    while process.poll() is None:
        time.sleep(5)
        highest = max(highest, vm_rss_mib(pid))
    output, errors = process.communicate()
    if process.returncode != 0:
        sys.exit(f"soak: wrk exited {process.returncode}:\n{errors}\n{output}")
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for kind, key, value in re.findall(r"^soak (sent|status) (\S+) (\d+)$", output, re.MULTILINE):
        if kind == "sent":
            sent[key] += int(value)
        else:
            statuses[int(key)] += int(value)
    if not statuses:
        sys.exit(f"soak: no status counts in wrk's output:\n{output}\n{errors}")
    return sent, statuses, highest


def soak(project: Path, scratch: Path, args: argparse.Namespace) -> Soak:
    """The generated service under mixed traffic with a scrape a second, for soak-seconds
    after a soak-warmup of the same traffic; memory is read from the uvicorn process."""
    server = generated_server(project, scratch)
    env = dict(os.environ, **soak_bodies(server, project))
    print(f"  soak: {args.soak_warmup:g} s warm-up, then {args.soak_seconds:g} s", flush=True)
    with started(server, scratch) as (pid, _), Scraper(server.url("/metrics")) as scrapes:
        sent, statuses, _ = soak_wrk(server, args.soak_warmup, env, args, pid)
        warm = vm_rss_mib(pid)
        more_sent, more_statuses, highest = soak_wrk(server, args.soak_seconds, env, args, pid)
        end = vm_rss_mib(pid)
    sent.update(more_sent)
    statuses.update(more_statuses)
    return Soak(args.soak_seconds, args.soak_warmup, dict(sent), dict(statuses), scrapes,
                warm, end, max(highest, end))


# --- report -----------------------------------------------------------------------------------


def print_shares(shares: list[float]) -> None:
    median = statistics.median(shares)
    rounds = ", ".join(f"{share:.0%}" for share in shares)
    print(f"\n- generated ÷ ceiling throughput, {len(shares)} interleaved rounds: {rounds}; "
          f"median {median:.0%} (target >= {TARGET_CEILING_SHARE:.0%}): "
          f"{verdict(median >= TARGET_CEILING_SHARE)}")


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line, from the repository root, with every option spelled out."""
    python = Path(sys.executable)
    if python.is_relative_to(REPO):
        python = python.relative_to(REPO)
    options = [
        f"--duration={args.duration:g}", f"--warmup={args.warmup:g}",
        f"--threads={args.threads}", f"--connections={args.connections}",
        f"--rounds={args.rounds}", f"--soak-seconds={args.soak_seconds:g}",
        f"--soak-warmup={args.soak_warmup:g}",
    ]
    return f"cd {shlex.quote(str(REPO))} && make venv && " + shlex.join(
        [str(python), "benchmarks/bench_serving.py", *options]
    )


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def drift_note(drift: Drift | None) -> str:
    if drift is None:
        return ""
    seen = (f"recomputed {drift.computations} times (distinct timestamps in the scrapes)"
            if drift.computations is not None else
            "recomputed during the load" if drift.refreshed else "**not** recomputed")
    return (f"{seen}; records observed at the last computation "
            f"{drift.records_before:,.0f} -> {drift.records_after:,.0f}")


def print_report(results: list[Result], model_ms: dict[str, float],
                 args: argparse.Namespace) -> None:
    by_label = {result.label: result for result in results}
    mlflow, generated, scraped = (by_label[label] for label in
                                  ("mlflow models serve", "generated", "generated + scrapes"))
    quiet = by_label["generated, drift never computed"]
    threaded = by_label["generated, drift in a thread"]
    bentoml, ceiling = by_label["BentoML"], by_label[CEILING_LABEL]
    rows = []
    for result in results:
        load = result.load
        rss = f"{result.rss_mib:,.0f}" + ("" if result.processes == 1
                                          else f" ({result.processes} processes)")
        rows.append([result.label, f"{load.requests_per_s:,.0f}", f"{load.p50_ms:.2f}",
                     f"{load.p99_ms:.2f}", f"{load.max_ms:.1f}", rss, f"{result.ready_s:.2f}"])
    print()
    print(table(["server", "req/s", "p50 ms", "p99 ms", "max ms", "RSS MiB", "start to ready s"],
                rows))

    rate = generated.load.requests_per_s
    ratios = [
        ("generated ÷ mlflow throughput", rate / mlflow.load.requests_per_s,
         TARGET_MLFLOW_RATIO, ">=", "{:.1f}x"),
        ("generated ÷ BentoML throughput", rate / bentoml.load.requests_per_s,
         TARGET_BENTOML_RATIO, ">", "{:.1f}x"),
        ("generated ÷ ceiling throughput", rate / ceiling.load.requests_per_s,
         TARGET_CEILING_SHARE, ">=", "{:.0%}"),
        ("p99 with scrapes ÷ p99 without", scraped.load.p99_ms / generated.load.p99_ms,
         TARGET_SCRAPE_P99_RATIO, "<=", "{:.2f}"),
        ("generated p99 (ms)", generated.load.p99_ms, TARGET_P99_MS, "<", "{:.2f}"),
        ("generated p99 ÷ BentoML p99", generated.load.p99_ms / bentoml.load.p99_ms,
         None, "", "{:.2f}"),
        ("diagnosis: p99 with live drift ÷ p99 drift never computed",
         generated.load.p99_ms / quiet.load.p99_ms, None, "", "{:.2f}"),
        ("diagnosis: throughput, drift process ÷ drift in a thread",
         rate / threaded.load.requests_per_s, None, "", "{:.2f}x"),
        ("diagnosis: p99, drift in a thread ÷ drift process",
         threaded.load.p99_ms / generated.load.p99_ms, None, "", "{:.2f}"),
    ]
    checks = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}
    rows = []
    for name, value, target, op, fmt in ratios:
        if target is None:
            rows.append([name, fmt.format(value), "-", "-"])
        else:
            met = checks[op](float(value), float(target))
            rows.append([name, fmt.format(value), f"{op} {fmt.format(target)}", verdict(met)])
    print()
    print(table(["measure", "value", "target", "verdict"], rows))
    print()
    if scraped.scrapes is not None:
        print(f"- scrapes during `generated + scrapes`: {scraped.scrapes.summary()}, "
              f"statuses {dict(scraped.scrapes.statuses)}")
    for result in (generated, scraped, threaded, quiet):
        print(f"- drift gauges during `{result.label}`: {drift_note(result.drift)}")
    calls = ", ".join(f"{runtime} {ms:.3f} ms" for runtime, ms in model_ms.items())
    print(f"- the model call alone, one row, in-process (median of 200): {calls}")
    print(f"- load: `wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency`, "
          f"one row per request, after {args.warmup:g} s of warm-up, on {os.cpu_count()} cores")


def print_soak(result: Soak, args: argparse.Namespace) -> None:
    received = ", ".join(f"{status}: {count:,}"
                         for status, count in sorted(result.statuses.items()))
    sent = ", ".join(f"{kind} {count:,}" for kind, count in sorted(result.sent.items()))
    rows = [
        ["load", f"wrk -t{args.threads} -c{args.connections}, {result.warmup_s:g} s warm-up + "
                 f"{result.seconds:g} s, benchmarks/soak.lua", ""],
        ["requests sent", sent, ""],
        ["answers by status", received, ""],
        ["scrapes", f"{result.scrapes.summary()}, statuses {dict(result.scrapes.statuses)}", ""],
        ["5xx answers (requests and scrapes)", f"{result.server_errors}",
         verdict(result.server_errors == 0) + " (target 0)"],
        ["RSS after warm-up -> end (MiB)",
         f"{result.rss_warm_mib:.0f} -> {result.rss_end_mib:.0f} ({result.growth:+.1%}; "
         f"highest {result.rss_max_mib:.0f})",
         verdict(result.growth < TARGET_SOAK_RSS_GROWTH)
         + f" (target < {TARGET_SOAK_RSS_GROWTH:.0%})"],
    ]
    print()
    print(table(["soak (generated)", "measured", "verdict"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before it")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the generated service and the ceiling, "
                             "after the runs one server at a time; 0 skips them")
    parser.add_argument("--soak-seconds", type=float, default=600,
                        help="soak length after its warm-up; 0 skips the soak")
    parser.add_argument("--soak-warmup", type=float, default=60,
                        help="seconds of soak traffic before the first memory reading")
    parser.add_argument(
        "--workdir", type=Path,
        help="build (or reuse) the project and BentoML's venv here and keep them; "
             "default: a temporary folder",
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
        bentoml = bentoml_venv(workdir, project)
        print(f"measuring {project}", flush=True)
        scratch = Path(tempfile.mkdtemp(prefix="serving-", dir=tmp))
        model_ms = model_call_ms(project, project / "models" / "serving",
                                 sample_record(project)[0])
        measured = servers(project, scratch, bentoml)
        results = [measure(server, scratch, args) for server in measured]
        by_label = {server.label: server for server in measured}
        shares = (interleaved_shares(by_label["generated"], by_label[CEILING_LABEL], scratch,
                                     args) if args.rounds > 0 else [])
        soaked = soak(project, scratch, args) if args.soak_seconds > 0 else None
    print_report(results, model_ms, args)
    if shares:
        print_shares(shares)
    if soaked is not None:
        print_soak(soaked, args)
    print(f"\nreproduce: `{reproduce_command(args)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
