"""Registers the shared fixtures (shared_fixtures.py) in each process that runs tests.

``make test`` runs the tests on pytest-xdist's workers. Its controller, which only hands
the tests out and gathers the reports, loads this file as well: had it imported the
fixtures, and with them scikit-learn, pandas and FastAPI, every run would wait
about 2.5 s before the first worker even started. So the fixtures are a plugin, loaded
by the workers and by a run in one process (``pytest``, ``make test TEST_WORKERS=0``).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    in_worker = hasattr(config, "workerinput")  # what xdist.is_xdist_worker checks
    distributing = config.getoption("dist", "no") != "no"  # "no" also without xdist
    if in_worker or not distributing:
        config.pluginmanager.import_plugin("shared_fixtures")
