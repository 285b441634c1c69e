#!/usr/bin/env bash
# Snakemake runs this inside the train environment right after creating it (`--sdm conda`): tf-keras
# without its dependencies, because its metadata asks for the 1.9 GB `tensorflow` build (train.yaml has
# tensorflow-cpu). Same pin as envs/requirements-nodeps.lock (tests/test_envs.py checks it).
set -euo pipefail
python -m pip install --no-deps tf-keras==2.21.0
