"""The one place that builds SparkSessions: every Spark setting of the workflow lives here.

The master comes from the config (``spark.master``): ``local[{threads},2]`` by default, i.e. the job's
threads with task retries; ``spark://``, ``yarn`` and ``k8s://`` masters work unchanged. In local mode
and with a cluster on 127.0.0.1 (``dltrigger.tools.cluster``) the driver binds to 127.0.0.1 and the UI is off,
so nothing listens beyond this machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def resolve_master(template: str, threads: int) -> str:
    """The master URL with ``{threads}`` replaced by the number of cores the job was given."""
    return template.replace("{threads}", str(max(1, int(threads))))


def is_local(master: str) -> bool:
    return master.startswith("local")


def on_loopback(master: str) -> bool:
    """A local-mode master or a cluster on this machine's loopback (dltrigger.tools.cluster's)."""
    return is_local(master) or master.startswith(("spark://127.0.0.1:", "spark://localhost:"))


def session_settings(spark_config: dict, threads: int = 1, log_dir: str | os.PathLike = "logs/spark") -> tuple[str, dict]:
    """The master URL and every Spark setting of a session built from the ``spark`` config section."""
    master = resolve_master(spark_config["master"], threads)
    settings = {
        "spark.driver.memory": spark_config["driver_memory"],
        "spark.executor.memory": spark_config["executor_memory"],
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",  # progress goes to the job log as text lines instead
        # Deterministic partitioning: shuffles keep the configured number of partitions.
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.shuffle.partitions": str(spark_config["shuffle_partitions"]),
    }
    if spark_config["event_log"]:
        event_dir = Path(log_dir).resolve()
        settings.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_dir.as_uri()})
    if on_loopback(master):
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false"})
    for key, value in spark_config["conf"].items():
        settings[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return master, settings


@contextlib.contextmanager
def spark_session(app_name: str, spark_config: dict, threads: int = 1, log_dir: str | os.PathLike = "logs/spark"):
    """A SparkSession configured from the ``spark`` config section; stopped when the block ends."""
    from pyspark.sql import SparkSession

    master, settings = session_settings(spark_config, threads, log_dir)
    # Executors and the driver must run this interpreter (with this venv's packages), not another python.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if on_loopback(master):
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    if spark_config["event_log"]:
        Path(log_dir).resolve().mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    log.info("Spark application '%s' on %s", app_name, master)
    try:
        yield session
    finally:
        session.stop()


def on_every_slot(spark, prepare) -> None:
    """Run ``prepare()`` once in every task slot's Python worker, through the DataFrame path (``mapInArrow``)
    the stages' tasks take: Spark keeps those workers for the later jobs of the session (an RDD job's
    workers are others), so what each loads once (compiled kernels, an inference session) is loaded
    before the first task that needs it, not inside it.

    What is loaded is then frozen out of Python's garbage collector: a worker holding numba's compiler
    has ~300,000 objects, whose every full collection (~0.14 s) came about once per task (an empty task
    took ~120 ms instead of ~55)."""
    slots = spark.sparkContext.defaultParallelism

    def run(batches):
        import gc

        prepare()
        gc.collect()  # what loading left as garbage goes now, not frozen with the rest
        gc.freeze()  # the loaded state lives as long as the worker: never traverse it again
        yield from batches

    spark.range(slots, numPartitions=slots).mapInArrow(run, "id long").collect()


def executor_error(exc: Exception) -> Exception:
    """The error an executor raised, out of Spark's wrapping: an ``InputError`` again (one line for the
    user), an injected fault as a RuntimeError; anything else as it came."""
    from .errors import InputError

    text = str(exc)
    for kind in ("InputError", "InjectedFault"):
        marker = f"{kind}: "
        if marker in text:
            message = text.split(marker, 1)[1].splitlines()[0]
            return InputError(message) if kind == "InputError" else RuntimeError(message)
    return exc
