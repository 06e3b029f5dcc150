"""The former home of step capture, now :mod:`chainrule.compiler.capture` (this path is kept
for the code that still imports it: ``from chainrule.capture import CompiledStep``)."""

from .compiler.capture import CompiledStep, compile

__all__ = ["CompiledStep", "compile"]
