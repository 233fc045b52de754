"""The repository's definitions, for the ``feast`` command run in this folder (``feast
plan``, ``feast apply``, ``feast ui``). The pipeline's ``features`` step registers the
same objects: both build them with ``{{ cookiecutter.package_name }}.feature_store.definitions``
from the project's config and the schema ``prepare`` writes, so the feature view always
has the features the model is trained on. Run the pipeline first.

``feast apply`` imports every ``.py`` file under this folder: keep other scripts out of it
(or list them in ``.feastignore``).
"""

from pathlib import Path

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.feature_store import definitions, key_is_integer
from {{ cookiecutter.package_name }}.schema import SCHEMA_FILE, DatasetSchema

PROJECT = Path(__file__).resolve().parents[1]
config = load_config(PROJECT / "config" / "model_config.yaml")
schema = DatasetSchema.load(PROJECT / config.data.processed_dir / SCHEMA_FILE)
entity, source, feature_view, feature_service = definitions(
    config, schema, key_is_integer(config, PROJECT)
)
