#!/usr/bin/env bash
# Builds the project environment: Java >= 17 for Spark, and .venv from envs/requirements.lock. With
# --test (`make test`), also every training engine's own environment (the keras engine's package layer,
# BigDL's Python 3.10 environment) and the test tools from Debian (xrootd-server, rsync), where it may.
# Idempotent and quick when nothing changed; `make run` and `make test` call it first.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
LOCK=envs/requirements.lock

java_major() {
  command -v java >/dev/null 2>&1 || return 1
  java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'
}

java_ok() {
  local major
  major=$(java_major) || return 1
  [ -n "$major" ] && [ "$major" -ge 17 ]
}

if ! java_ok; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dltrigger setup: installing Java 17 (Debian openjdk-17-jre-headless) for Spark" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if ! java_ok; then
    echo "dltrigger setup: Java >= 17 is required by Spark: install openjdk-17-jre-headless (Debian/Ubuntu) or any JDK >= 17 and put its java on PATH" >&2
    exit 1
  fi
fi

# Test tools from Debian: xrootd (the remote-input tests serve files with it), rsync (the storage plugin
# of the Kubernetes profile copies with it; its test runs the workflow through that storage), and SLURM
# with munge (the SLURM profile's tests start a one-node cluster on 127.0.0.1, tests/slurm_cluster.py).
if [ "${1:-}" = --test ]; then
  missing=()
  command -v xrootd >/dev/null 2>&1 || missing+=(xrootd-server)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "dltrigger setup: installing Debian's ${missing[*]} for the tests" >&2
      (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) ||
        echo "dltrigger setup: installing ${missing[*]} failed: the tests that need them will be skipped" >&2
    else
      echo "dltrigger setup: missing ${missing[*]} (Debian/Ubuntu packages): the tests that need them will be skipped" >&2
    fi
  fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "dltrigger setup: Python >= 3.11 is required; set PYTHON=/path/to/python3.11 (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

stamp=$VENV/.installed
if [ ! -f "$stamp" ] || [ "$LOCK" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "dltrigger setup: building $VENV from $LOCK" >&2
  "$PYTHON" -m venv "$VENV"
  # Installed without byte-compiling, then compiled on every core at once: pip compiles one file after
  # the other (150 s in all with an empty pip cache, against ~95 + 37 s). Compiling is not optional:
  # where PYTHONDONTWRITEBYTECODE is set, nothing would ever cache it and every Spark and torch process
  # would compile its imports again (measured: the test suite 2,200 instead of ~1,500 s).
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -r "$LOCK"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  # Some packages ship templates that are not Python; pip skips what does not compile, and so does this.
  "$VENV/bin/python" -m compileall -qq -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
  touch "$stamp"
fi

# The engines' own environments for their tests, built here because the tests run without network: the
# keras engine's package layer (.venvs/keras), and BigDL's (.venvs/bigdl, Python 3.10; skipped, its tests
# too, where no Python 3.10 is found). A workflow run builds them only when its config asks for them.
if [ "${1:-}" = --test ]; then
  "$VENV/bin/python" -m dltrigger.tools.environments --environment .venvs/keras --lock envs/keras.lock --layer
  "$VENV/bin/python" -m dltrigger.tools.environments --environment .venvs/bigdl --lock envs/bigdl.lock ||
    echo "dltrigger setup: no BigDL environment: its tests will be skipped" >&2
fi
