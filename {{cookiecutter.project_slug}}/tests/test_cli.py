"""The command line dvc.yaml calls: one step per subcommand, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import DRIFT_EXIT_CODE, STEPS, build_parser, main
from {{ cookiecutter.package_name }}.schema import DatasetSchema

from data_support import drift_candidate, shifted

PROJECT = Path(__file__).resolve().parents[1]


def test_dvc_stages_are_the_cli_steps_in_order() -> None:
    """cli.STEPS is the one list of pipeline steps: dvc.yaml runs exactly those, in that
    order (each stage depends on an output of an earlier one), and the Makefile says so."""
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(STEPS)
    for name, stage in stages.items():
        assert stage["cmd"] == f"{{ cookiecutter.project_slug }} {name}"
    made: set[str] = set()
    for before, after in zip(list(stages.values()), list(stages.values())[1:]):
        made |= {
            next(iter(out)) if isinstance(out, dict) else out
            for kind in ("outs", "metrics", "plots")
            for out in before.get(kind, [])
        }
        assert made & set(after["deps"]), f"{after['cmd']} uses nothing an earlier stage makes"
    chain = " -> ".join(STEPS)
    assert (PROJECT / "dvc.yaml").read_text().startswith(f"# {chain}.")
    assert f"## run the DVC pipeline: {chain}" in (PROJECT / "Makefile").read_text()


def test_data_and_prepare_steps(project_dir: Path) -> None:
    assert main(["data"]) == 0
    assert main(["prepare"]) == 0
    assert (project_dir / "data" / "processed" / "schema.json").is_file()


def test_missing_config_is_one_line_error(project_dir: Path, capsys) -> None:
    assert main(["--config", "missing.yaml", "data"]) == 1
    error = capsys.readouterr().err
    assert error == "error: missing.yaml: config file not found\n"


def test_bad_config_value_is_one_line_error(project_dir: Path, capsys) -> None:
    config = project_dir / "config" / "model_config.yaml"
    config.write_text(config.read_text().replace("cv_folds: 5", "cv_folds: 1"))
    assert main(["prepare"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: config/model_config.yaml: training.cv_folds:")
    assert error.count("\n") == 1


def test_unknown_step_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["deploy"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'deploy'" in capsys.readouterr().err


def test_drift_exit_status_tells_drift_from_no_drift(project_dir: Path) -> None:
    assert main(["data"]) == 0 and main(["prepare"]) == 0
    processed = project_dir / "data" / "processed"
    assert main(["drift", str(processed / "test.csv")]) == 0
    train = pd.read_csv(processed / "train.csv")
    schema = DatasetSchema.load(processed / "schema.json")
    moved = shifted(pd.read_csv(processed / "test.csv"), train, drift_candidate(schema, train))
    moved.to_csv(project_dir / "shifted.csv", index=False)
    assert main(["drift", "shifted.csv"]) == DRIFT_EXIT_CODE
    assert (project_dir / "reports" / "drift" / "drift.html").is_file()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("prepare", "error: data.raw_path: 'data/raw/dataset.csv' not found; "
                    "run the data step first"),
        ("train", "error: data.processed_dir: 'data/processed/schema.json' not found; "
                  "run the prepare step first"),
        ("evaluate", "error: data.processed_dir: 'data/processed/schema.json' not found; "
                     "run the prepare step first"),
        ("promote", "error: artifacts.registration_path: 'models/registration.json' not found; "
                    "run the train step first"),
    ],
)
def test_a_step_run_out_of_order_is_one_line(project_dir: Path, capsys, step, message) -> None:
    assert main([step]) == 1
    assert capsys.readouterr().err == message + "\n"


def test_drift_on_a_missing_or_unsupported_file(project_dir: Path, capsys) -> None:
    assert main(["data"]) == 0 and main(["prepare"]) == 0
    capsys.readouterr()
    assert main(["drift", "nowhere.parquet"]) == 1
    assert capsys.readouterr().err == "error: current data: file 'nowhere.parquet' not found\n"
    (project_dir / "recent.xlsx").write_bytes(b"")
    assert main(["drift", "recent.xlsx"]) == 1
    assert capsys.readouterr().err == (
        "error: current data: 'recent.xlsx' is not a .csv or .parquet file\n"
    )
