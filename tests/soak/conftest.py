"""The soak proof runs the same real processes as the integration proofs: their fixtures and failure-log hook,
shared rather than copied."""

from __future__ import annotations

from tests.integration.conftest import database, hub_config, processes, pytest_runtest_makereport

__all__ = ["database", "hub_config", "processes", "pytest_runtest_makereport"]
