"""chainrule.compiler: the speed rules every model gets, above ``nn`` (``nn`` never imports it).

- :mod:`~chainrule.compiler.fusion`: the fusion rule table (Linear then ReLU runs as one
  ``linear_relu`` op); every container runs its children through it.
- :mod:`~chainrule.compiler.capture`: step capture, ``cr.compile(model, loss_fn, optimizer)``:
  one training step replayed into fixed buffers, planned from the same rules.

The package loads with ``import chainrule`` (it registers the fusion rules with the
containers). Its name follows PyTorch's: the function ``torch.compile``, the namespace
``torch.compiler``.
"""

from . import fusion
from .capture import CompiledStep, compile

__all__ = ["fusion", "compile", "CompiledStep"]
