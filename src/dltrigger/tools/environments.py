"""The training engines' own environments, built from their locks on demand; a marker file (lock digest,
interpreter) says which lock built each.

* BigDL's: BigDL 2.4 needs Python <= 3.10, pyspark 3.1.3 and Java 11, none of which can share a process
  with the workflow's Python 3.11 / Spark 4: a virtual environment of a Python 3.10 found on the machine.
* The keras engine's: TensorFlow (1.3 GB, which no other engine needs) as a layer beside the workflow's
  environment: the lock's packages installed without dependencies into a folder of their own, which the
  keras jobs add to their search path (``activate_layer``).

    python -m dltrigger.tools.environments --environment .venvs/bigdl --lock envs/bigdl.lock [--python P]
    python -m dltrigger.tools.environments --environment .venvs/keras --lock envs/keras.lock --layer
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys

from ..core.errors import InputError

MARKER = "dltrigger-environment.json"
PYTHON_VERSION = (3, 10)


def find_python(configured: str | None) -> str:
    """A Python 3.10 interpreter: ``train.bigdl.python`` if set, else python3.10 on PATH, else pyenv's."""
    if configured:
        candidates = [configured]
    else:
        pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
        candidates = ["python3.10", *sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.10.*", "bin", "python3.10")), reverse=True)]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path and _version(path) == PYTHON_VERSION:
            return path
    if configured:
        raise InputError(f"train.bigdl.python: '{configured}' is not a Python {'.'.join(map(str, PYTHON_VERSION))} interpreter (BigDL 2.4 needs it)")
    raise InputError(
        "train.bigdl.python: no Python 3.10 found for the BigDL engine (BigDL 2.4 runs on Python <= 3.10): "
        "install one (`pyenv install 3.10`, or Debian/Ubuntu's python3.10) or set train.bigdl.python to its path"
    )


def _version(python: str) -> tuple[int, int] | None:
    """The interpreter's (major, minor); None if it does not run (e.g. a pyenv shim of another version)."""
    try:
        done = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return tuple(map(int, done.stdout.split())) if done.returncode == 0 else None


def lock_digest(lock: str) -> str:
    with open(lock, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def is_built(environment: str, lock: str) -> bool:
    """The environment exists and was built from this very lock."""
    try:
        with open(os.path.join(environment, MARKER)) as handle:
            return json.load(handle)["lock_sha256"] == lock_digest(lock)
    except (OSError, ValueError, KeyError):
        return False


def _write_marker(environment: str, lock: str, interpreter: str) -> None:
    with open(os.path.join(environment, MARKER), "w") as handle:
        json.dump({"lock": os.path.basename(lock), "lock_sha256": lock_digest(lock), "base_python": interpreter}, handle, indent=2)


def layer_packages(environment: str) -> str:
    """The folder of a layer's packages."""
    return os.path.join(environment, "site-packages")


def build_layer(environment: str, lock: str) -> None:
    """Install ``lock``'s packages, without their dependencies (the workflow's environment has them), into
    a layer for this interpreter; built in a temporary folder and renamed, its marker written last, so a
    failed build leaves nothing."""
    if os.path.isdir(environment) and os.listdir(environment) and not os.path.isdir(layer_packages(environment)):  # never delete what is not a layer
        raise InputError(f"train.keras.environment: {environment} exists and is not a package layer; choose another directory")
    partial = f"{environment}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "--no-deps"]
        subprocess.run([*pip, "--target", layer_packages(partial), "-r", lock], check=True)
        _write_marker(partial, lock, sys.executable)
        shutil.rmtree(environment, ignore_errors=True)
        os.replace(partial, environment)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise InputError(f"{lock}: building the package layer {environment} failed ({exc})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def activate_layer(environment: str) -> None:
    """Make a built layer's packages importable in this process (after the environment's own)."""
    if not os.path.exists(os.path.join(environment, MARKER)):
        raise InputError(f"{environment}: the keras engine's packages are not built (snakemake keras_env, or make test)")
    site.addsitedir(layer_packages(environment))


def build_environment(environment: str, lock: str, python: str | None) -> None:
    """Build the BigDL environment from ``lock``; its marker file (lock digest, interpreter) is written last,
    so a failed build leaves no marker and no half-built environment."""
    interpreter = find_python(python)
    if os.path.isdir(environment) and os.listdir(environment):
        if not os.path.exists(os.path.join(environment, "pyvenv.cfg")):  # never delete what is not an environment
            raise InputError(f"train.bigdl.environment: {environment} exists and is not a Python environment; choose another directory")
        shutil.rmtree(environment)
    try:
        subprocess.run([interpreter, "-m", "venv", environment], check=True)
        pip = [os.path.join(environment, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        # pyspark 3.1.3 has only a source release, built with the legacy setup.py without the wheel package.
        subprocess.run([*pip, "--quiet", "-r", lock], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(environment, ignore_errors=True)
        raise InputError(f"{lock}: building the BigDL environment {environment} with {interpreter} failed ({exc})") from None
    _write_marker(environment, lock, interpreter)


def main(argv: list[str] | None = None) -> int:
    """Build the environment (or, with --layer, the package layer) unless it was built from the current
    lock (the test set-up uses it, before the network-less tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--environment", required=True, help="the environment's directory")
    parser.add_argument("--lock", required=True, help="its lock file (pip requirements with exact pins)")
    parser.add_argument("--python", default=None)
    parser.add_argument("--layer", action="store_true", help="a package layer for this interpreter, not an environment of its own")
    args = parser.parse_args(argv)
    if is_built(args.environment, args.lock):
        os.utime(os.path.join(args.environment, MARKER))  # newer than a re-checked-out lock, as Snakemake expects
        return 0
    try:
        print(f"dltrigger: building {args.environment} from {args.lock}", file=sys.stderr)
        if args.layer:
            build_layer(args.environment, args.lock)
        else:
            build_environment(args.environment, args.lock, args.python)
    except InputError as error:
        print(f"dltrigger: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
