"""``import chainrule`` stays light: the heavy subpackages load on first use (PEP 562)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import chainrule as cr

LAZY = ("chainrule.data", "chainrule.train", "chainrule.io", "chainrule.optim",
        "chainrule.sklearn", "chainrule.onnx", "chainrule.distributed")


def _run(code):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(cr.__file__)), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_does_not_load_the_lazy_subpackages():
    loaded = _run("import json, sys, chainrule; "
                  "print(json.dumps(sorted(m for m in sys.modules if m.startswith('chainrule'))))")
    assert "chainrule.tensor" in loaded and "chainrule.nn" in loaded
    heavy = [m for m in loaded if m.startswith(LAZY)]
    assert heavy == []


def test_first_use_loads_each_subpackage_and_its_names():
    got = _run("import json, sys, chainrule as cr; before = 'chainrule.io' in sys.modules; "
               "save = cr.save; after = 'chainrule.io' in sys.modules; "
               "print(json.dumps([before, after, save is sys.modules['chainrule.io'].save, "
               "cr.optim.SGD.__module__, cr.data.DataLoader.__module__]))")
    assert got == [False, True, True, "chainrule.optim.sgd", "chainrule.data.loader"]


@pytest.mark.parametrize("name", ["data", "train", "io", "optim", "save", "load"])
def test_lazy_names_are_listed_and_resolve(name):
    assert name in dir(cr)
    assert getattr(cr, name) is not None


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        cr.no_such_thing  # noqa: B018
