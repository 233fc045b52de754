"""Model files: the skops pipeline, its ONNX twin, and the bundle the service loads.

skops, unlike pickle, only rebuilds types it is told to trust, so loading a model file
cannot run arbitrary code (MLflow stores scikit-learn models the same way). It is
imported where used: a service on the ONNX path never needs it (nor scikit-learn and
SciPy behind it), and starts seconds faster and ~100 MiB smaller without it. The ONNX
copy answers a one-row request in microseconds instead of milliseconds; the service
falls back to the scikit-learn pipeline when onnxruntime or the ONNX file is missing
(``predictors`` holds both).

A serving bundle is a folder, the unit a container ships or mounts as ``MODEL_PATH``::

    model/          the MLflow model (scikit-learn flavour), for `mlflow models serve`
    model.onnx      the same pipeline for onnxruntime
    schema.json     feature names and types: the request schema is built from it
    reference.csv   a sample of training features, the baseline for live drift
    metadata.json   name, version, alias, run, metrics, monitoring settings
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from .config import ProjectConfig
from .errors import PipelineError
from .predictors import MATRIX_INPUT, OnnxPredictor, Predictor, SklearnPredictor
from .schema import SCHEMA_FILE, DatasetSchema

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from sklearn.pipeline import Pipeline

# Types our pipelines hold beyond those skops trusts by default.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
MLFLOW_MODEL_DIR = "model"
MLMODEL_FILE = "MLmodel"  # MLflow's description of a model folder: flavors, file names
ONNX_FILE = "model.onnx"
REFERENCE_FILE = "reference.csv"
METADATA_FILE = "metadata.json"
SERVING_ARTIFACTS = "serving"  # run artifact folder holding the ONNX model and schema
CHAMPION = "champion"
REFERENCE_ROWS = 1000


def model_file(model_dir: Path) -> Path:
    """The pipeline's file in an MLflow model folder, as its MLmodel file names it.

    The name is MLflow's to choose (``model.skops`` for the skops format today); reading
    it from ``flavors.sklearn.pickled_model`` keeps working when that changes.
    """
    mlmodel = model_dir / MLMODEL_FILE
    try:
        description = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
        name = description["flavors"]["sklearn"]["pickled_model"]
    except FileNotFoundError:
        raise PipelineError(f"{mlmodel}: not found; run the export step") from None
    except (yaml.YAMLError, KeyError, TypeError):
        raise PipelineError(
            f"{mlmodel}: names no scikit-learn model file (flavors.sklearn.pickled_model)"
        ) from None
    return model_dir / str(name)


def save_model(model: Pipeline, path: Path) -> None:
    import skops.io

    path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, path)


def load_model(path: Path) -> Pipeline:
    """Load a pipeline saved by ``save_model``; refuse files holding other types."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    if not path.is_file():
        raise PipelineError(f"{path}: model file not found; run the train step first")
    try:
        return skops.io.load(path, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise PipelineError(f"{path}: refusing to load a model file: {exc}") from None


def to_onnx(pipeline: Pipeline, schema: DatasetSchema) -> bytes:
    """Convert the fitted pipeline to ONNX: a classifier's probabilities as a plain matrix
    (no per-row dictionaries), a regressor's one float32 prediction per record.

    skl2onnx wants one input per column (float32, as tree operators take no doubles;
    strings for categories). When every feature is numeric, the graph gets a single
    ``features`` matrix input instead: one array per call rather than one per column
    makes a one-row prediction about three times faster.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (f.name, FloatTensorType([None, 1]) if f.kind == "numeric" else StringTensorType([None, 1]))
        for f in schema.features
    ]
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
    model = convert_sklearn(pipeline, initial_types=inputs, options=options)
    if not schema.names("categorical"):
        model = _single_matrix_input(model)
    serialized: bytes = model.SerializeToString()
    return serialized


def _single_matrix_input(model: Any) -> Any:
    """Replace the per-column inputs by one float matrix, gathering each column from it."""
    import onnx

    graph = model.graph
    columns = [node.name for node in graph.input]
    gathers = []
    for position, column in enumerate(columns):
        index = f"{column}_index"
        graph.initializer.append(
            onnx.numpy_helper.from_array(np.array([position], dtype=np.int64), index)
        )
        gathers.append(onnx.helper.make_node("Gather", [MATRIX_INPUT, index], [column], axis=1))
    for position, node in enumerate(gathers):
        graph.node.insert(position, node)
    del graph.input[:]
    graph.input.append(
        onnx.helper.make_tensor_value_info(
            MATRIX_INPUT, onnx.TensorProto.FLOAT, [None, len(columns)]
        )
    )
    onnx.checker.check_model(model)
    return model


@dataclass(frozen=True)
class ServingBundle:
    """Everything the service loads from ``MODEL_PATH``."""

    path: Path
    schema: DatasetSchema
    metadata: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> ServingBundle:
        for required in (SCHEMA_FILE, METADATA_FILE, MLFLOW_MODEL_DIR):
            if not (path / required).exists():
                raise PipelineError(
                    f"{path}: not a serving bundle ({required} missing); run the export step"
                )
        metadata = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
        return cls(path=path, schema=DatasetSchema.load(path / SCHEMA_FILE), metadata=metadata)

    def predictor(self, prefer_onnx: bool = True) -> Predictor:
        """onnxruntime when it and the ONNX file are there, the skops pipeline otherwise."""
        onnx_file = self.path / ONNX_FILE
        if prefer_onnx and onnx_file.is_file() and find_spec("onnxruntime") is not None:
            return OnnxPredictor(onnx_file.read_bytes(), self.schema)
        pipeline = load_model(model_file(self.path / MLFLOW_MODEL_DIR))
        return SklearnPredictor(pipeline, self.schema)

    def reference(self) -> pd.DataFrame:
        return pd.read_csv(self.path / REFERENCE_FILE)


def _registered_metadata(
    client: MlflowClient, model_uri: str, extra_metadata: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The training run behind ``model_uri``, whose artifacts hold the rest of the bundle,
    and the bundle's metadata: name, version, alias, run, the run's metrics, the extras."""
    from mlflow.exceptions import MlflowException

    name, _, alias = model_uri.removeprefix("models:/").partition("@")
    if not model_uri.startswith("models:/") or not name or not alias:
        raise PipelineError(f"MODEL_URI: {model_uri!r} must look like models:/<name>@<alias>")
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        reason = (str(exc).strip().splitlines() or ["not found"])[0]
        raise PipelineError(
            f"MODEL_URI: {model_uri!r} not found ({reason}); run the train and promote steps first"
        ) from None
    run_id = version.run_id
    if run_id is None:  # registered from files, not from a training run
        raise PipelineError(f"MODEL_URI: {model_uri!r} has no training run to export from")
    metadata = {
        "name": name,
        "version": str(version.version),
        "alias": alias,
        "run_id": run_id,
        "metrics": client.get_run(run_id).data.metrics,
        **extra_metadata,
    }
    return run_id, metadata


def export_from_registry(
    model_uri: str, tracking_uri: str, dest: Path, extra_metadata: Mapping[str, Any]
) -> ServingBundle:
    """Download a registered model (e.g. ``models:/name@champion``) into a serving bundle.

    The bundle is written next to ``dest`` and moved into place at the end, so a failed
    download never leaves a half-written bundle behind.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    run_id, metadata = _registered_metadata(MlflowClient(), model_uri, extra_metadata)
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=str(staging / MLFLOW_MODEL_DIR)
    )
    served = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=SERVING_ARTIFACTS, dst_path=str(staging)
    )
    for item in Path(served).iterdir():
        item.rename(staging / item.name)
    Path(served).rmdir()
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return ServingBundle.open(dest)


def export(config: ProjectConfig) -> ServingBundle:
    """Step ``export``: the current champion as a serving bundle in ``artifacts.serving_dir``."""
    model_uri = f"models:/{config.mlflow.registered_model_name}@{CHAMPION}"
    return export_from_registry(
        model_uri,
        config.mlflow.resolved_tracking_uri(),
        Path(config.artifacts.serving_dir),
        {"monitoring": config.monitoring.model_dump()},
    )
