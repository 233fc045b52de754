"""The model behind the service, on either runtime: onnxruntime or the scikit-learn pipeline.

Both take request records (a value, or None, per feature) and feed them to the model as
training did (``schema.to_features``), so the service never cares which one it has.
Neither runtime is imported here until a predictor is built: a service on the ONNX path
never loads scikit-learn, and one without onnxruntime still imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from .schema import MISSING_CATEGORY, DatasetSchema, to_features

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MATRIX_INPUT = "features"  # the single ONNX input of all-numeric models
# skl2onnx's names for the outputs: class probabilities of a classifier (with zipmap
# off), the predicted value of a regressor.
PROBABILITY_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "variable"

Record = Mapping[str, Any]


def category(value: Any) -> str:
    """A request's categorical value as the model takes it, as ``to_features`` makes it:
    a string (booleans ``"True"``/``"False"``), ``MISSING_CATEGORY`` for a missing one."""
    return MISSING_CATEGORY if value is None else str(value)


class Predictor(Protocol):
    """What the service needs from a model, on either runtime: ``outputs`` for a batch of
    records. For a classifier those are each class's probability, one row per record and
    one column per class in the order of ``classes``; for a regressor (``classes`` None),
    one predicted value per record.

    Records map every feature to its value, None for a missing one; the predictor feeds
    them to the model as training did (``schema.to_features``).
    """

    runtime: str
    offload: bool  # too slow for the service's event loop: call it from a worker thread
    classes: list[Any] | None

    def outputs(self, records: Sequence[Record]) -> np.ndarray: ...


class SklearnPredictor:
    runtime = "sklearn"
    offload = True  # milliseconds per call, even for one record

    def __init__(self, pipeline: Pipeline, schema: DatasetSchema) -> None:
        self.pipeline = pipeline
        self.schema = schema
        classes = getattr(pipeline, "classes_", None)  # a classifier's: a numpy array
        self.classes = None if classes is None else classes.tolist()

    def _frame(self, records: Sequence[Record]) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(records, columns=self.schema.names())
        return to_features(frame, self.schema, "request")

    def outputs(self, records: Sequence[Record]) -> np.ndarray:
        frame = self._frame(records)
        if self.classes is None:
            return np.asarray(self.pipeline.predict(frame))
        return np.asarray(self.pipeline.predict_proba(frame))


class OnnxPredictor:
    runtime = "onnxruntime"
    offload = False  # microseconds per record: a thread hop would cost more

    def __init__(self, model: bytes, schema: DatasetSchema) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one request is tiny: threads only add overhead
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self.columns = schema.names()
        self.matrix = [node.name for node in self.session.get_inputs()] == [MATRIX_INPUT]
        # Otherwise one input per column: skl2onnx renames them, but keeps schema order.
        self.inputs = [
            (node.name, feature.name, feature.kind == "numeric")
            for node, feature in zip(self.session.get_inputs(), schema.features)
        ]
        self.classes = None if schema.classes is None else list(schema.classes)

    def _feed(self, records: Sequence[Record]) -> dict[str, np.ndarray]:
        """The session's inputs for a batch: one float32 matrix, or one array per column.

        numpy turns None into NaN in a float array, which the imputers replace as in
        training; categories go through ``category`` (numpy would make None "None").
        """
        if self.matrix:
            rows = [[record[column] for column in self.columns] for record in records]
            return {MATRIX_INPUT: np.array(rows, dtype=np.float32)}
        return {
            node: self._column(records, column, numeric) for node, column, numeric in self.inputs
        }

    @staticmethod
    def _column(records: Sequence[Record], column: str, numeric: bool) -> np.ndarray:
        if numeric:
            return np.array([[record[column]] for record in records], dtype=np.float32)
        return np.array([[category(record[column])] for record in records], dtype=np.str_)

    def outputs(self, records: Sequence[Record]) -> np.ndarray:
        if self.classes is None:
            return np.asarray(self.session.run([PREDICTION_OUTPUT], self._feed(records))[0]).ravel()
        return np.asarray(self.session.run([PROBABILITY_OUTPUT], self._feed(records))[0])
