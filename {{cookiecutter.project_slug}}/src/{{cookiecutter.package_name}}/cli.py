"""Command line: one subcommand per pipeline step; ``dvc.yaml`` calls these.

Each step's module is imported only when its subcommand runs, so ``data`` and
``prepare`` start fast and never load MLflow.
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

# subcommand -> (module, function, help)
STEPS: dict[str, tuple[str, str, str]] = {
    "data": ("data", "fetch", "write the raw dataset to data.raw_path"),
    "prepare": ("data", "prepare", "validate the raw data, split it, record its schema"),
    "train": ("train", "run", "cross-validate, fit, log to MLflow, register as challenger"),
    "evaluate": ("evaluate", "run", "held-out metrics and plots; fail below the thresholds"),
    "promote": ("registry", "promote", "make the challenger champion if it beats the champion"),
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
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, (_, _, help_text) in STEPS.items():
        steps.add_parser(name, help=help_text)
    return parser


def step_function(name: str) -> Callable[[ProjectConfig], object]:
    module, function, _ = STEPS[name]
    return getattr(import_module(f"{__package__}.{module}"), function)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        step_function(args.step)(load_config(args.config))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
