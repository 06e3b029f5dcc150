"""chainrule.backend: array module, seeding, allocator tuning."""

import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend


def test_array_module_is_numpy_for_numpy_arrays():
    assert backend.array_module(np.zeros(2), np.ones(3)) is np


def test_manual_seed_makes_randn_repeatable_and_rejects_bad_seeds():
    cr.manual_seed(3)
    a = cr.randn(4).numpy()
    cr.manual_seed(3)
    assert np.array_equal(a, cr.randn(4).numpy())
    with pytest.raises(ValueError, match="seed"):
        cr.manual_seed(-1)


def test_rng_state_round_trips():
    state = backend.get_rng_state()
    a = cr.rand(5).numpy()
    backend.set_rng_state(state)
    assert np.array_equal(a, cr.rand(5).numpy())


def _tuned(env_value):
    env = {"CHAINRULE_TUNE_MALLOC": env_value} if env_value is not None else {}
    out = subprocess.run([sys.executable, "-c",
                          "import chainrule.backend as b; print(b.ALLOCATOR_TUNED)"],
                         env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator only")
def test_allocator_tuning_can_be_turned_off():
    assert _tuned("0") == "False"
    if backend.ALLOCATOR_TUNED:  # glibc: on by default
        assert _tuned(None) == "True"
