"""Type aliases shared by the public signatures (for the type checker and the reader)."""

from __future__ import annotations

import os
from typing import TypeAlias

#: A file name: a string or a path object (``pathlib.Path``).
StrPath: TypeAlias = "str | os.PathLike[str]"
