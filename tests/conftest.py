"""Shared fixtures: one real engine per test session (the real model, on short lines)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def engine():
    from takefit.engine import Engine

    return Engine(threads=2)
