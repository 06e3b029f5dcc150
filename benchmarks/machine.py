"""The machine a benchmark runs on, described in one place for every script in benchmarks/:
the CPU, the memory, the BLAS library the workers load, the versions and the commit.

    from machine import cpu_model   # benchmarks/ is on sys.path in its scripts

The CPU comes from /proc/cpuinfo (Linux); elsewhere the model is ``platform.processor()``
and the family and model number are unknown. Imports no NumPy: a script may call
:func:`reexec_without_blas_pins` before NumPy loads OpenBLAS.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Variables the machine sets for old OpenBLAS builds; they pin slower kernels for current NumPy.
BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

BLAS_PROBE = ("import json, numpy; from threadpoolctl import threadpool_info; "
              "print(json.dumps([p for p in threadpool_info() if p.get('user_api') == 'blas']))")


def reexec_without_blas_pins():
    """Run this script again without :data:`BLAS_PINS` in its environment, if they are set.

    Call it before NumPy is imported: the pins act when NumPy loads OpenBLAS.
    """
    if any(k in os.environ for k in BLAS_PINS):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_PINS}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


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


def blas_line(pools):
    if not pools:
        return "no BLAS found by threadpoolctl"
    parts = []
    for p in pools:
        parts.append(f"{p.get('internal_api')} {p.get('version')} kernel={p.get('architecture')} "
                     f"num_threads={p.get('num_threads')} ({p.get('prefix')})")
    return "; ".join(parts)


def probe_blas(env):
    try:
        out = subprocess.run([sys.executable, "-c", BLAS_PROBE], env=env, capture_output=True,
                             text=True, timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # threadpoolctl missing, or numpy broken
        return [{"internal_api": f"probe failed: {type(e).__name__}: {e}"}]


def mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def package_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_revision():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "chainrule"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (chainrule/ has uncommitted changes)" if dirty else "")
    except Exception:
        return None


def machine_info(env):
    pools = probe_blas(env)
    model, family, number = cpu_info()
    info = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": model,
        "cpu_family": family,
        "cpu_model_number": number,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gb": mem_total_gb(),
        "python": platform.python_version(),
        "numpy": package_version("numpy"),
        "torch": package_version("torch"),
        "jax": package_version("jax"),
        "scikit-learn": package_version("scikit-learn"),
        "threadpoolctl": package_version("threadpoolctl"),
        "chainrule_git": git_revision(),
        "blas": pools,
        "blas_line": blas_line(pools),
        "removed_env": {k: os.environ[k] for k in BLAS_PINS if k in os.environ},
        "loadavg_start": os.getloadavg(),
    }
    if info["removed_env"]:
        pinned = probe_blas(dict(os.environ))
        info["blas_with_machine_env"] = blas_line(pinned)
    return info


if __name__ == "__main__":
    print(cpu_model())


def extract_baseline(ref, into):
    """``chainrule/`` at git revision ``ref`` under ``into``; returns the resolved commit.

    ``ref`` may also be a folder that holds a ``chainrule/`` package: it is used as is.
    """
    if (Path(ref) / "chainrule" / "__init__.py").is_file():
        return str(Path(ref).resolve())
    rev = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", rev, "chainrule"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return rev
