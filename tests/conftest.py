"""Shared test settings: small, derandomized hypothesis runs, a fixed global seed, and
floating-point trouble as an error.

pyproject's ``filterwarnings = ["error::RuntimeWarning"]`` turns NumPy's overflow,
invalid-value and divide-by-zero warnings into test failures; the fixture below makes
sure NumPy does warn (whatever ``np.seterr`` a library or an earlier test left behind),
so that nothing is silently ignored. A test whose subject is such a condition opts out
locally, with a comment saying why.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import chainrule as cr

# CHAINRULE_TEST_DEVICE=cuda (or =fake, the CPU stand-in of tests/fake_device.py)
# runs the tests with that default device: tensors and layers the tests create live
# there, so the op and nn suites exercise the device path. Used by
# benchmarks/gpu_check.sh and tests/test_device.py.
TEST_DEVICE = os.environ.get("CHAINRULE_TEST_DEVICE", "").strip() or None
if TEST_DEVICE is not None:
    if TEST_DEVICE.startswith("fake"):
        import fake_device

        fake_device.install()
    cr.set_default_device(TEST_DEVICE)

    # The tests compare results with np.testing, which chainrule itself never calls:
    # let those assertions read device arrays (a stray np.* call inside chainrule
    # still meets the device array and fails).
    import functools

    import numpy as np

    from chainrule.device import to_host

    def _host(v):
        if isinstance(v, cr.Tensor):
            v = v.data
        return v if isinstance(v, (np.ndarray, np.generic)) or not hasattr(v, "dtype") \
            else to_host(v)

    def _reading_device_arrays(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*[_host(a) for a in args], **{k: _host(v) for k, v in kwargs.items()})
        return wrapper

    for _name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal",
                  "assert_equal", "assert_almost_equal", "assert_array_less"):
        setattr(np.testing, _name, _reading_device_arrays(getattr(np.testing, _name)))

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
# The device run (CHAINRULE_TEST_DEVICE, below) repeats the op suite through the
# device path; fewer examples keep it short, the default run keeps twelve.
settings.register_profile("chainrule-device", parent=settings.get_profile("chainrule"),
                          max_examples=3)
settings.load_profile("chainrule-device" if os.environ.get("CHAINRULE_TEST_DEVICE")
                      else "chainrule")


@pytest.fixture(autouse=True)
def _seeded():
    cr.manual_seed(0)
    with np.errstate(over="warn", invalid="warn", divide="warn"):
        yield
    assert cr.is_grad_enabled(), "a test left grad mode off"
