"""Security properties of the code base (issue 8): no config value is ever executed, and every service
a local run starts listens on 127.0.0.1 only."""

from __future__ import annotations

import ast
import re

from dltrigger.core.spark import session_settings
from dltrigger.train.bigdl_engine import job_spark_conf

from conftest import REPO

SPARK = {"master": "local[{threads},2]", "driver_memory": "2g", "executor_memory": "1g", "shuffle_partitions": 2, "event_log": False, "conf": {}}


def python_sources():
    return [*sorted((REPO / "src").rglob("*.py")), *sorted((REPO / "scripts").glob("*.py"))]


def test_no_eval_or_exec_anywhere():
    """Config values reach code only as data: no eval/exec/compile of strings in the package, the
    scripts or the rules (Snakemake rule files are checked as text)."""
    called = []
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec", "compile"):
                called.append(f"{path.relative_to(REPO)}:{node.lineno}")
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(?<![\w.])(eval|exec)\(", line):
                called.append(f"{path.relative_to(REPO)}:{number}")
    assert called == []


def test_local_spark_binds_to_loopback_with_no_ui():
    master, settings = session_settings(SPARK, threads=2)
    assert master == "local[2,2]"
    assert settings["spark.driver.host"] == settings["spark.driver.bindAddress"] == "127.0.0.1"
    assert settings["spark.ui.enabled"] == "false"


def test_the_bigdl_job_binds_to_loopback_with_no_ui():
    settings = job_spark_conf("6g")
    assert settings["spark.driver.host"] == settings["spark.driver.bindAddress"] == "127.0.0.1"
    assert settings["spark.ui.enabled"] == "false"
