"""Fixtures of the tests of skmice/pipeline/."""

from __future__ import annotations

import pytest

from tests.pipeline._common import clustered_data, regression_data


@pytest.fixture(scope="module")
def clustered():
    return clustered_data()


@pytest.fixture(scope="module")
def regression():
    return regression_data()
