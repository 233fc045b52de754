"""A generated project on a team's own data, not the bundled demo tables.

Three small synthetic tables carry the awkward properties real ones have: string labels,
missing values in numeric and categorical columns, integer columns, a rare positive class,
an id column, free text with commas, rows without a target, a target on a scale far from
the demo's. Each goes into a freshly rendered project's `data/external/`; only the config
keys for own data are edited (`data.source`, `data.target`, `data.drop_columns`,
`data.missing_target`), then the README steps run: `make install`, `make pipeline`,
`make lint`, `make test`, the service and the drift check. The tables are seeded, with a
signal from several features (a categorical one among them), so the default gate (beat the
baseline by 0.1 skill) passes with margin and every number asserted here is reproducible.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import yaml
from pandas.api.types import is_numeric_dtype

from bake import capture, render
from conftest import run
from test_generated_service import call, delta, metric_samples, serving_a_copy
from test_option_matrix_e2e import (
    NO_COMPONENTS,
    assert_components_left_out_stay_out,
    assert_trained_the_chosen_model,
)

pytestmark = pytest.mark.e2e

UNSEEN_COUNTER = "model_unseen_categories_total"
# What evaluate writes beside the model's metrics: the baseline's, and the skill score.
METRICS = {
    "classification": {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                       "average_precision"},
    "regression": {"rmse", "mae", "r2"},
}
PRIMARY = {"classification": "roc_auc", "regression": "rmse"}
MIN_IMPROVEMENT = 0.1  # the default gate
DRIFT_EXIT_CODE = 3
BATCH = 100  # records per /predict call: below the service's default max_batch_size (256)
DRIFT_ROWS = 300


def with_gaps(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``values`` with a random ``share`` missing: NaN in numbers, None in strings."""
    missing = rng.random(len(values)) < share
    if values.dtype.kind in "fi":
        return np.where(missing, np.nan, values)
    return np.where(missing, None, values.astype(object))


def customer_tiers() -> pd.DataFrame:
    """Multi-class with string labels (bronze 50%, silver 30%, gold 20%), gaps in two numeric
    columns and a categorical one, and an integer column without gaps."""
    rng = np.random.default_rng(7)
    n = 900
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.3, 0.3, 0.2, 0.2])
    channel = rng.choice(["web", "store", "phone"], n, p=[0.5, 0.3, 0.2])
    visits = rng.poisson(4.0, n)
    spend = rng.gamma(2.0, 60.0, n)
    age = rng.normal(42.0, 12.0, n)  # no signal: real tables have such columns too
    effect = pd.Series(region).map({"north": 1.0, "south": 0.0, "east": -1.0, "west": 0.5})
    score = spend / 60 + 0.5 * visits + effect.to_numpy() + rng.normal(0.0, 0.7, n)
    tier = np.select(
        [score < np.quantile(score, 0.5), score < np.quantile(score, 0.8)],
        ["bronze", "silver"],
        "gold",
    )
    return pd.DataFrame({
        "region": with_gaps(region, 0.05, rng),
        "channel": channel,
        "visits": visits,
        "spend": with_gaps(spend, 0.06, rng),
        "age": with_gaps(age, 0.04, rng),
        "tier": tier,
    })


def churn() -> pd.DataFrame:
    """Imbalanced binary: exactly 75 "yes" in 1500 rows (5%, 12 per training fold), an id
    column, two integer columns, gaps in a numeric and a categorical column."""
    rng = np.random.default_rng(11)
    n, positives = 1500, 75
    contract = rng.choice(["monthly", "yearly", "two-year"], n, p=[0.5, 0.3, 0.2])
    payment = rng.choice(["card", "transfer", "invoice"], n)
    tenure = rng.integers(1, 73, n)
    charges = rng.normal(70.0, 20.0, n).clip(20.0, 130.0)
    calls = rng.poisson(1.5, n)
    risk = (2.0 * (contract == "monthly") - 0.05 * tenure + 0.04 * (charges - 70.0)
            + 0.6 * calls + rng.logistic(0.0, 0.5, n))
    churned = np.full(n, "no", dtype=object)
    churned[np.argsort(risk)[-positives:]] = "yes"
    return pd.DataFrame({
        "customer_id": [f"CUST-{number:05d}" for number in rng.permutation(n)],
        "tenure_months": tenure,
        "contract": with_gaps(contract, 0.04, rng),
        "payment": payment,
        "monthly_charges": with_gaps(charges, 0.05, rng),
        "support_calls": calls,
        "churned": churned,
    })


def house_prices() -> pd.DataFrame:
    """Regression on prices around 250k, two categorical columns (one with gaps), integer
    columns, a free-text description with 300 distinct values (and commas, so CSV quotes
    it), and 60 rows without a price."""
    rng = np.random.default_rng(23)
    n, unpriced = 1100, 60
    premiums = {"harbour": 60_000, "old-town": 0, "riverside": 35_000, "hillside": 20_000,
                "market": -15_000, "university": 10_000}
    qualities = {"poor": -40_000, "fair": -10_000, "good": 15_000, "excellent": 45_000}
    neighbourhood = rng.choice(list(premiums), n)
    condition = rng.choice(list(qualities), n, p=[0.1, 0.3, 0.4, 0.2])
    area = rng.normal(95.0, 30.0, n).clip(25.0, 250.0)
    rooms = np.clip(np.rint(area / 25 + rng.normal(0.0, 0.6, n)), 1, 9).astype(int)
    year_built = rng.integers(1920, 2021, n)
    price = (40_000 + 2_200 * area + 12_000 * rooms + 400 * (year_built - 1920)
             + pd.Series(neighbourhood).map(premiums).to_numpy()
             + pd.Series(condition).map(qualities).to_numpy() + rng.normal(0.0, 20_000.0, n))
    price[rng.choice(n, unpriced, replace=False)] = np.nan
    phrases = [
        f"{adjective} {kind}, {detail}" for adjective, kind, detail in product(
            ["bright", "quiet", "spacious", "cosy", "modern", "charming", "renovated",
             "sunny", "classic", "compact"],
            ["flat", "house", "loft", "maisonette", "studio", "townhouse"],
            ["near the park", "with balcony", "close to shops", "top floor", "with garden"],
        )
    ]
    return pd.DataFrame({
        "neighbourhood": neighbourhood,
        "condition": with_gaps(condition, 0.03, rng),
        "area_sqm": with_gaps(area, 0.04, rng),
        "rooms": rooms,
        "year_built": year_built,
        "description": rng.choice(phrases, n),
        "price": price,
    })


@dataclass(frozen=True)
class OwnData:
    """One team's table, the project it goes into and the config keys that describe it."""

    engine: str
    answers: dict[str, Any]
    build: Callable[[], pd.DataFrame]
    file: str  # in data/external/; the suffix picks CSV or Parquet
    target: str
    drop_columns: tuple[str, ...]
    missing_target: str
    rows_without_target: int
    positive_class: str | None  # what prepare must pick on its own (positive_class: null)
    shifted: tuple[str, ...]  # the features the drift test moves, one numeric, one not

    @property
    def problem_type(self) -> str:
        return self.answers.get("problem_type", "classification")

    def config_keys(self) -> dict[str, Any]:
        return {
            "data.source": f"data/external/{self.file}",
            "data.target": self.target,
            "data.drop_columns": list(self.drop_columns),
            "data.missing_target": self.missing_target,
        }


# Distinct project names: every project installs into the one shared environment. The
# answers are sets of the option matrix (test_option_matrix_e2e.py), which these builds
# also check: one build serves both modules.
DATASETS = {
    "multiclass": OwnData(
        engine="cookiecutter",
        answers={"project_name": "Tier Segments", "model": "gradient_boosting", **NO_COMPONENTS},
        build=customer_tiers,
        file="customers.csv", target="tier", drop_columns=(), missing_target="error",
        rows_without_target=0, positive_class=None, shifted=("spend", "channel"),
    ),
    "binary": OwnData(
        engine="copier",
        answers={"project_name": "Churn Signals", "model": "linear", "linter": "ruff",
                 "dependency_manager": "pip"},
        build=churn,
        file="churn.parquet", target="churned", drop_columns=("customer_id",),
        missing_target="error", rows_without_target=0, positive_class="yes",
        shifted=("monthly_charges", "contract"),
    ),
    "regression": OwnData(
        engine="copier", answers={"project_name": "House Prices", "problem_type": "regression"},
        build=house_prices, file="houses.csv", target="price", drop_columns=("description",),
        missing_target="drop", rows_without_target=60, positive_class=None,
        shifted=("area_sqm", "neighbourhood"),
    ),
}
# The project whose data is switched, and the dataset it switches to: other source format,
# target, classes and features.
SWITCH = ("multiclass", "binary")


class Built(NamedTuple):
    name: str  # the key in DATASETS
    project: Path
    data: OwnData
    frame: pd.DataFrame  # the table as written to data/external/


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """CSV or Parquet by the file's suffix, without the index, as a team would export it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def configure(project: Path, keys: dict[str, Any]) -> None:
    """Set dotted keys (``data.source``) in the project's config, leaving every other key
    as generated."""
    path = project / "config" / "model_config.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in keys.items():
        *sections, leaf = dotted.split(".")
        section = config
        for name in sections:
            section = section[name]
        assert leaf in section, f"{dotted} is not a key of the generated config"
        section[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def features(data: OwnData, frame: pd.DataFrame) -> list[str]:
    """The columns the model must learn from: all but the target and the dropped ones."""
    return [name for name in frame.columns if name != data.target and name not in data.drop_columns]


def categorical(data: OwnData, frame: pd.DataFrame) -> list[str]:
    """The feature columns that hold no numbers: the service one-hot encodes them."""
    return [name for name in features(data, frame) if not is_numeric_dtype(frame[name])]


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects: NaN and None as null, integer columns as JSON integers."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> Iterator[dict[str, dict[str, float]]]:
    """Numbers worth reporting, by dataset; printed when the module ends, even under -q."""
    recorded: dict[str, dict[str, float]] = {}
    yield recorded
    lines = [f"{name}: " + ", ".join(f"{key} {value:.4g}" for key, value in numbers.items())
             for name, numbers in recorded.items()]
    capturing = request.config.pluginmanager.getplugin("capturemanager")
    with capturing.global_and_fixture_disabled():
        print("\nown data:\n  " + "\n  ".join(lines))


@pytest.fixture(scope="module", params=list(DATASETS))
def built(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_env: dict[str, str],
    report: dict[str, dict[str, float]],
) -> Built:
    """A project rendered for the dataset, its table in data/external/, the own-data keys set,
    then the README's first steps: git init, make install, make pipeline."""
    data = DATASETS[request.param]
    project = render(data.engine, tmp_path_factory.mktemp(request.param), **data.answers)
    frame = data.build()
    write_table(frame, project / "data" / "external" / data.file)
    configure(project, data.config_keys())
    run("git init", project, shared_env)
    run("make install", project, shared_env)
    start = time.monotonic()
    run("make pipeline", project, shared_env)
    report[request.param] = {"make pipeline s": time.monotonic() - start}
    return Built(request.param, project, data, frame)


@pytest.fixture(scope="module")
def held_out(built: Built) -> pd.DataFrame:
    """The test split prepare wrote: real rows the model never saw."""
    return pd.read_csv(built.project / "data" / "processed" / "test.csv")


@pytest.fixture(scope="module")
def service(
    built: Built, shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of `make serve` on 127.0.0.1, serving a copy of the exported bundle."""
    serve = f"make -C {built.project} serve HOST=127.0.0.1 PORT={{}}"
    workdir = tmp_path_factory.mktemp("serving")
    with serving_a_copy(built.project, workdir, shared_env, serve.format) as base:
        yield base


def predict(service: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST the records in batches the service accepts; every answer must be 200."""
    answers = []
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        status, body = call(f"{service}/predict", {"records": batch})
        assert status == 200, body
        assert len(body["predictions"]) == len(batch)
        answers.append(body)
    return answers


def unseen_counts(samples: dict[tuple[str, tuple], float], before: dict) -> dict[str, float]:
    """How far the unseen-category counter moved, per feature, since ``before``."""
    moved = {
        dict(labels)["feature"]: delta(samples, before, name, **dict(labels))
        for name, labels in samples if name == UNSEEN_COUNTER
    }
    return {feature: count for feature, count in moved.items() if count}


def drift(
    built: Built, env: dict[str, str], current: pd.DataFrame, where: Path
) -> tuple[int, dict[str, Any]]:
    """Run the drift command (what `make drift CURRENT=...` runs, without make's own exit
    status) on ``current``, saved in the dataset's own format; (exit status, drift.json)."""
    path = write_table(current, where / f"current{Path(built.data.file).suffix}")
    command = [f"{env['VENV']}/bin/{built.project.name}", "drift", str(path)]
    result = capture(command, cwd=built.project, env=env)
    assert result.returncode in (0, DRIFT_EXIT_CODE), (result.stdout + result.stderr)[-4000:]
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    return result.returncode, read_json(built.project / "reports" / "drift" / "drift.json")


def test_generated_tests_pass_on_own_data(
    built: Built, shared_env: dict[str, str], report: dict[str, dict[str, float]]
) -> None:
    """The project's own tests name no column or class: they must pass on the team's table.

    Their time is recorded before the verdict, so it is reported either way; a failure shows
    pytest's summary of the generated tests, one line per failed test.
    """
    start = time.monotonic()
    result = capture(["make", "test"], cwd=built.project, env=shared_env)
    report[built.name]["make test s"] = time.monotonic() - start
    failures = result.stdout.partition("short test summary info")[2]
    assert result.returncode == 0, (failures or result.stdout + result.stderr)[-6000:]


def test_lint_is_clean(built: Built, shared_env: dict[str, str]) -> None:
    """Own data adds no code: the generated code and tests stay clean after a pipeline run."""
    run("make lint", built.project, shared_env)


def test_data_summary_counts_what_prepare_did(built: Built) -> None:
    """Dropped rows are counted, not silently lost; the positive class is the rare one."""
    summary = read_json(built.project / "metrics" / "data.json")
    kept = len(built.frame) - built.data.rows_without_target
    assert summary["rows_raw"] == len(built.frame)
    assert summary["rows_dropped_missing_target"] == built.data.rows_without_target
    assert summary["rows_train"] + summary["rows_test"] == kept
    assert summary["features"] == len(features(built.data, built.frame))
    assert summary.get("positive_class") == built.data.positive_class


def test_model_beats_the_baseline(built: Built, report: dict[str, dict[str, float]]) -> None:
    """Held-out metrics sit beside the baseline's; the first model is promoted."""
    problem_type = built.data.problem_type
    metrics = read_json(built.project / "metrics" / "evaluate.json")
    names = METRICS[problem_type]
    assert set(metrics) == names | {f"baseline_{name}" for name in names} | {"improvement"}
    primary = PRIMARY[problem_type]
    score, baseline = metrics[primary], metrics[f"baseline_{primary}"]
    perfect = 0.0 if primary == "rmse" else 1.0
    assert metrics["improvement"] == pytest.approx((score - baseline) / (perfect - baseline))
    assert metrics["improvement"] >= MIN_IMPROVEMENT
    report[built.name].update(
        {primary: score, f"baseline {primary}": baseline, "improvement": metrics["improvement"]}
    )
    promotion = read_json(built.project / "metrics" / "promotion.json")
    assert promotion["promoted"] is True, promotion
    assert (promotion["challenger_version"], promotion["previous_champion_version"]) == ("1", None)


def test_pipeline_trained_the_chosen_model(built: Built) -> None:
    """The answers' model, on the team's table (the option matrix's check)."""
    assert_trained_the_chosen_model(built.project, built.data.answers)


def test_components_left_out_stay_out(built: Built) -> None:
    assert_components_left_out_stay_out(built.project, built.data.answers)


def test_service_serves_the_own_features(built: Built, service: str) -> None:
    """The request schema is the team's columns minus target and dropped ones, typed as in
    the table."""
    status, metadata = call(f"{service}/metadata")
    assert status == 200, metadata
    served = {feature["name"]: feature["kind"] for feature in metadata["features"]}
    expected_categorical = categorical(built.data, built.frame)
    assert served == {
        name: "categorical" if name in expected_categorical else "numeric"
        for name in features(built.data, built.frame)
    }
    if built.data.problem_type == "classification":
        assert metadata["classes"] == sorted(built.frame[built.data.target].unique())


def test_service_answers_held_out_rows_like_the_evaluation(
    built: Built, service: str, held_out: pd.DataFrame
) -> None:
    """Every held-out row, gaps and integers as they are, gets an answer without warnings,
    and the answers score what evaluate measured."""
    target = held_out[built.data.target]
    before = metric_samples(service)
    answers = predict(service, as_records(held_out[features(built.data, built.frame)]))
    assert [body["warnings"] for body in answers] == [[] for _ in answers]
    assert unseen_counts(metric_samples(service), before) == {}
    predicted = [value for body in answers for value in body["predictions"]]
    metrics = read_json(built.project / "metrics" / "evaluate.json")
    if built.data.problem_type == "regression":
        rmse = float(np.sqrt(np.mean((np.asarray(predicted) - target.to_numpy()) ** 2)))
        assert rmse == pytest.approx(metrics["rmse"], rel=1e-4)  # ONNX computes in float32
        return
    classes = sorted(built.frame[built.data.target].unique())
    assert set(predicted) <= set(classes)
    for probabilities in (row for body in answers for row in body["probabilities"]):
        assert set(probabilities) == set(classes)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    correct = int((np.asarray(predicted, dtype=object) == target.to_numpy()).sum())
    # float32 probabilities can break an exact tie between two classes the other way
    assert abs(correct - metrics["accuracy"] * len(target)) <= max(1, len(target) // 100)


def test_service_accepts_nulls_in_every_feature(
    built: Built, service: str, held_out: pd.DataFrame
) -> None:
    """A record with nothing known, and one record per feature with that feature missing:
    answered, and missing is not an unseen category."""
    names = features(built.data, built.frame)
    row = as_records(held_out[names].dropna().head(1))[0]
    records = [dict.fromkeys(names)] + [dict(row, **{name: None}) for name in names]
    before = metric_samples(service)
    (body,) = predict(service, records)
    assert body["warnings"] == []
    assert unseen_counts(metric_samples(service), before) == {}


def test_service_counts_unseen_categories_exactly(
    built: Built, service: str, held_out: pd.DataFrame
) -> None:
    """Three unseen values over two features in one request: three warnings naming each
    record and feature, and the counter moves by exactly those."""
    names = features(built.data, built.frame)
    first, second = categorical(built.data, built.frame)[:2]
    row = as_records(held_out[names].dropna().head(1))[0]
    records = [
        dict(row, **{first: "never-seen-1"}),
        dict(row, **{first: "never-seen-2", second: "never-seen-3"}),
        row,
    ]
    before = metric_samples(service)
    (body,) = predict(service, records)
    located = re.compile(rf"records\.(\d+)\.({'|'.join(map(re.escape, names))})\b")
    matches = [located.search(warning) for warning in body["warnings"]]
    assert len(body["warnings"]) == 3 and all(matches), body["warnings"]
    located_pairs = sorted(match.groups() for match in matches)
    assert located_pairs == sorted([("0", first), ("1", first), ("1", second)])
    assert unseen_counts(metric_samples(service), before) == {first: 2, second: 1}


def test_no_drift_in_a_random_sample(
    built: Built, shared_env: dict[str, str], tmp_path: Path
) -> None:
    """Unlabelled rows drawn from the same table (ids and text included, as production data
    comes): nothing drifts, exit 0."""
    sample = built.frame.drop(columns=built.data.target).sample(DRIFT_ROWS, random_state=1)
    status, found = drift(built, shared_env, sample, tmp_path)
    assert (status, found["drifted"], found["detected"]) == (0, [], False)


def test_drift_found_in_exactly_the_shifted_features(
    built: Built, shared_env: dict[str, str], tmp_path: Path
) -> None:
    """A sample with one numeric feature moved by two standard deviations and one
    categorical feature collapsed onto its rarest value: exactly those two drift, exit 3."""
    numeric, other = built.data.shifted
    frame = built.frame
    current = frame.drop(columns=built.data.target).sample(DRIFT_ROWS, random_state=2)
    current[numeric] = current[numeric] + 2 * frame[numeric].std()
    current[other] = frame[other].value_counts().idxmin()
    status, found = drift(built, shared_env, current, tmp_path)
    assert (status, sorted(found["drifted"]), found["detected"]) == (
        DRIFT_EXIT_CODE, sorted(built.data.shifted), True
    )


# Last in the module on purpose: it retrains the project the tests above looked at, and
# pytest runs the tests of one fixture parameter in the order they are defined.
@pytest.mark.parametrize("built", [SWITCH[0]], indirect=True)
def test_switching_to_other_data_promotes_without_traceback(
    built: Built, shared_env: dict[str, str]
) -> None:
    """An existing project pointed at another table (other format, target, classes and
    features): the pipeline reruns, and the champion trained on the old data gives way."""
    other = DATASETS[SWITCH[1]]
    write_table(other.build(), built.project / "data" / "external" / other.file)
    configure(built.project, other.config_keys())
    result = run("make pipeline", built.project, shared_env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-6000:]
    promotion = read_json(built.project / "metrics" / "promotion.json")
    assert promotion["promoted"] is True, promotion
    assert (promotion["challenger_version"], promotion["previous_champion_version"]) == ("2", "1")
    assert "other data" in promotion["reason"], promotion["reason"]
    assert read_json(built.project / "metrics" / "data.json").get("positive_class") == "yes"
    served = read_json(built.project / "models" / "serving" / "schema.json")
    assert served["target"] == other.target
