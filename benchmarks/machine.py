"""The CPU a benchmark runs on, read in one place for every script in benchmarks/.

    from machine import cpu_info, cpu_model   # benchmarks/ is on sys.path in its scripts

Reads /proc/cpuinfo (Linux); elsewhere the model is ``platform.processor()`` and the
family and model number are unknown.
"""

from __future__ import annotations

import os
import platform


def cpu_info():
    """``(model name, cpu family, model number)`` of the first CPU in /proc/cpuinfo.

    Family and model number are strings, or None where /proc/cpuinfo is missing.
    """
    found = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in found:
                    found[key] = value.strip()
                if not line.strip() and found:
                    break
    except OSError:
        pass
    return (found.get("model name") or platform.processor() or "unknown",
            found.get("cpu family"), found.get("model"))


def cpu_model():
    """One line: ``'<model name> (family F model M), N CPUs'``."""
    name, family, number = cpu_info()
    return f"{name} (family {family or '?'} model {number or '?'}), {os.cpu_count()} CPUs"


if __name__ == "__main__":
    print(cpu_model())
