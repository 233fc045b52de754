"""The BentoML peer of `benchmarks/bench_serving.py`: a minimal service for the same model.

What a user would write to serve the project's trained scikit-learn pipeline with BentoML
1.x: one `@bentoml.service` class that loads the pipeline once, and one `@bentoml.api`
method that answers the generated service's request body, `{"records": [{...}]}`, with the
same prediction fields. It runs in a venv of its own (BentoML pins its own web stack) that
bench_serving.py makes with the template venv's uv, started as

    BENTOML_DO_NOT_TRACK=True MODEL_FILE=<bundle>/model/model.skops \
        bentoml serve bentoml_service:SklearnPipeline --host 127.0.0.1 --port PORT

No BentoML model store and no `bentoml build`: the file is read where the export step left
it, as the generated service reads its bundle.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import numpy as np
import pandas as pd
import skops.io

# The types the project's model files hold beyond those skops trusts by default: the same
# list as the generated project's model_io.TRUSTED_TYPES, so the peer refuses what it does.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


@bentoml.service(workers=1)
class SklearnPipeline:
    """The exported champion's scikit-learn pipeline, one process, as `<slug> serve` runs."""

    def __init__(self) -> None:
        self.pipeline = skops.io.load(os.environ["MODEL_FILE"], trusted=TRUSTED_TYPES)
        self.columns = list(self.pipeline.feature_names_in_)
        self.classes = [label.item() for label in self.pipeline.classes_]

    @bentoml.api
    def predict(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Predictions and class probabilities for a batch of records."""
        frame = pd.DataFrame.from_records(records, columns=self.columns)
        probabilities = self.pipeline.predict_proba(frame)
        names = [str(label) for label in self.classes]
        return {
            "predictions": [self.classes[i] for i in np.argmax(probabilities, axis=1)],
            "probabilities": [dict(zip(names, map(float, row))) for row in probabilities],
        }
