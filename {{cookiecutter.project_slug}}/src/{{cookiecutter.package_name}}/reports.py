"""Read and write the project's files: data tables, and the JSON and CSV files DVC tracks.

Writes go to a temporary file that replaces the target only once complete, so a failed
step never leaves a half-written file for the next step (or DVC) to pick up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import DataValidationError

# A table's reader by file extension: CSV, and Parquet through pyarrow (a pandas extra
# that comes with it here).
READERS: dict[str, tuple[str, Callable[[Path], pd.DataFrame]]] = {
    ".csv": ("CSV", pd.read_csv),
    ".parquet": ("Parquet", pd.read_parquet),
}


def read_table(path: Path, what: str) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` file; any other file, or one that does not parse, is a
    one-line ``DataValidationError`` naming ``what`` (the config key or argument)."""
    kind, reader = READERS.get(path.suffix.lower(), (None, None))
    if reader is None:
        raise DataValidationError(f"{what}: {str(path)!r} is not a .csv or .parquet file")
    if not path.is_file():
        raise DataValidationError(f"{what}: file {str(path)!r} not found")
    try:
        return reader(path)
    except (ValueError, OSError) as exc:  # pandas' and pyarrow's parse errors derive from these
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataValidationError(
            f"{what}: {str(path)!r} is not readable {kind}: {reason}"
        ) from None


def _replace(path: Path, write: Callable[[Path], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    return _replace(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return payload


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return _replace(path, lambda partial: frame.to_csv(partial, index=False))
