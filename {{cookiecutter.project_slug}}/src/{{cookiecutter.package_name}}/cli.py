"""Command line: one subcommand per pipeline step, plus drift checks and the service.

``dvc.yaml``, the Makefile and any scheduler call these same subcommands. Each step's
module is imported only when its subcommand runs, so ``data`` never loads MLflow and
``serve`` never loads training code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from .config import DEFAULT_CONFIG_PATH, ProjectConfig, load_config
from .errors import PipelineError

# Exit status of `drift` when drift is found, distinct from errors (1) and usage (2).
DRIFT_EXIT_CODE = 3

# subcommand -> (module, function, help); each function takes the validated config.
STEPS: dict[str, tuple[str, str, str]] = {
    "data": ("data", "fetch", "write the raw dataset to data.raw_path"),
    "prepare": ("data", "prepare", "validate the raw data, split it, record its schema"),
{%- if cookiecutter.feature_store == "feast" %}
    "features": ("feature_store", "apply", "write the feature table, register it in Feast"),
{%- endif %}
    "train": ("train", "run", "cross-validate, fit, log to MLflow, register as challenger"),
    "evaluate": ("evaluate", "run", "held-out metrics and plots; fail unless it beats a baseline"),
    "promote": ("registry", "promote", "make the challenger champion if it beats the champion"),
    "export": ("model_io", "export", "write the champion as a serving bundle"),
{%- if cookiecutter.feature_store == "feast" %}
    "materialize": ("feature_store", "materialize",
                    "load each key's newest features into the online store"),
{%- endif %}
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.project_slug }}",
        description="Run one step of the {{ cookiecutter.project_name }} pipeline.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help=f"config file (default: {DEFAULT_CONFIG_PATH})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, _, help_text) in STEPS.items():
        commands.add_parser(name, help=help_text)
    drift = commands.add_parser(
        "drift", help=f"compare a dataset with the training data; exit {DRIFT_EXIT_CODE} on drift"
    )
    drift.add_argument("current", type=Path, help=".csv or .parquet file with the feature columns")
    serve = commands.add_parser("serve", help="run the prediction service (settings: env vars)")
    serve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container")
    serve.add_argument("--port", type=int, default=8080)
    return parser


def step_function(name: str) -> Callable[[ProjectConfig], object]:
    module, function, _ = STEPS[name]
    step: Callable[[ProjectConfig], object] = getattr(
        import_module(f"{__package__}.{module}"), function
    )
    return step


def run_drift(config: ProjectConfig, current: Path) -> int:
{%- if cookiecutter.drift_report == "evidently" %}
    from .evidently_report import run  # Evidently decides; the built-in report is written too
{%- else %}
    from .monitor import run
{%- endif %}

    report = run(config, current)
    return DRIFT_EXIT_CODE if report.detected else 0


def run_service(host: str, port: int) -> int:
    import uvicorn
    from pydantic import ValidationError

    from .serving import Settings

    try:
        settings = Settings()
    except ValidationError as exc:  # one line per bad variable, named as it is set
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            print(f"error: {name}: {error['msg']}", file=sys.stderr)
        return 1
    # No access log: Prometheus counts requests, and the log line costs ~8% of throughput.
    # On SIGTERM uvicorn stops accepting connections and lets in-flight requests finish,
    # for up to SHUTDOWN_TIMEOUT seconds.
    uvicorn.run(
        f"{__package__}.serving:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        # uvicorn annotates an int but waits with asyncio.wait_for, which takes any number.
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            return run_service(args.host, args.port)
        config = load_config(args.config)
        if args.command == "drift":
            return run_drift(config, args.current)
        step_function(args.command)(config)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
