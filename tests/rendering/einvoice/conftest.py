"""The schematrons are compiled once per test session (1 to 5 s each)."""

from __future__ import annotations

import pytest

from relance.rendering.einvoice import validate


@pytest.fixture(scope="session")
def schematrons() -> None:
    validate.warm()
