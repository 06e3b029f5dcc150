"""Shared test settings: small, derandomized hypothesis runs and a fixed global seed."""

import pytest
from hypothesis import HealthCheck, settings

import chainrule as cr

# Few examples, no deadline, the same examples on every run: the battery stays
# fast and deterministic.
settings.register_profile(
    "chainrule",
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("chainrule")


@pytest.fixture(autouse=True)
def _seeded():
    cr.manual_seed(0)
    yield
    assert cr.is_grad_enabled(), "a test left grad mode off"
