"""Every public name of the framework is documented, and the docs speak for themselves."""

import importlib
import inspect
import pkgutil
import re

import pytest

import chainrule as cr

PACKAGES = ["chainrule", "chainrule.nn", "chainrule.optim", "chainrule.optim.lr_scheduler",
            "chainrule.data", "chainrule.train", "chainrule.functional"]


def documented(cls, name):
    """The docstring of ``cls.name``, looked up along the MRO (an override inherits it)."""
    for klass in cls.__mro__:
        attr = klass.__dict__.get(name)
        if attr is None:
            continue
        if isinstance(attr, property):
            attr = attr.fget
        attr = getattr(attr, "__func__", attr)
        if getattr(attr, "__doc__", None):
            return attr.__doc__
    return None


def public_names():
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            yield package, name, getattr(module, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_and_method_has_a_docstring(package):
    missing = []
    for pkg, name, obj in public_names():
        if pkg != package or name.startswith("__"):
            continue
        own = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        if not (own or "").strip():
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") or not (callable(value) or isinstance(value, property)):
                continue
            if inspect.isclass(value):
                continue
            if not documented(obj, attr):
                missing.append(f"{name}.{attr}")
    assert not missing, f"{package}: undocumented public names: {missing}"


def test_docstrings_do_not_refer_to_the_lecture():
    # The tutorials (docs/) and examples carry the teaching; the API docs stand alone.
    offenders = []
    for info in pkgutil.walk_packages(cr.__path__, "chainrule."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        source = inspect.getsource(module)
        for m in re.finditer(r'"""(.*?)"""', source, re.S):
            if re.search(r"\bthe lecture\b|\blecture's\b", m.group(1), re.I):
                offenders.append(f"{info.name}: {m.group(1).strip().splitlines()[0][:60]}")
    assert not offenders, offenders
