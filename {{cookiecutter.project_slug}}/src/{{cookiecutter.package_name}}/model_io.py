"""Save and load the fitted pipeline as a skops file.

skops, unlike pickle, only rebuilds types it is told to trust, so loading a model file
cannot run arbitrary code. MLflow stores scikit-learn models the same way.
"""

from __future__ import annotations

from pathlib import Path

import skops.io
from skops.io.exceptions import UntrustedTypesFoundException
from sklearn.pipeline import Pipeline

from .errors import PipelineError

# Types our pipelines hold beyond those skops trusts by default.
TRUSTED_TYPES = ["numpy.dtype", "sklearn.tree._tree.Tree"]


def save_model(model: Pipeline, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, path)


def load_model(path: Path) -> Pipeline:
    """Load a pipeline saved by ``save_model``; refuse files holding other types."""
    if not path.is_file():
        raise PipelineError(f"{path}: model file not found; run the train step first")
    try:
        return skops.io.load(path, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise PipelineError(f"{path}: refusing to load a model file: {exc}") from None
