"""A Spark standalone cluster on this machine (one master, N workers, all on 127.0.0.1) started from the
installed pyspark, for running the workflow's Spark stages against a real cluster:

    python -m dltrigger.tools.cluster start --workers 2 [--state logs/cluster/state.json]   # prints the master URL
    snakemake --config spark='{master: spark://127.0.0.1:PORT, ...}'                  # or profiles/spark-standalone
    python -m dltrigger.tools.cluster stop [--state logs/cluster/state.json]

pyspark's wheel ships ``bin/spark-class`` but not the ``sbin/`` scripts: each daemon is one
``spark-class`` process (which execs the JVM, so its PID is the JVM's). The state file records the PIDs
and URLs; ``stop`` terminates the workers first, then the master.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    pass


def free_port(host: str = HOST) -> int:
    """A port nothing listens on at ``host`` now (for a server about to start there)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _environment(log_dir: Path) -> dict:
    return dict(
        os.environ,
        SPARK_LOCAL_IP=HOST,
        SPARK_LOG_DIR=str(log_dir),
        SPARK_WORKER_DIR=str(log_dir / "work"),
        PYSPARK_PYTHON=sys.executable,
        SPARK_NO_DAEMONIZE="1",
    )


def _alive_workers(webui_port: int) -> int:
    with urllib.request.urlopen(f"http://{HOST}:{webui_port}/json/", timeout=2) as reply:
        return int(json.load(reply).get("aliveworkers", 0))


def start(
    workers: int = 2, cores: int = 1, memory: str = "2g", log_dir: str | os.PathLike = "logs/cluster", port: int | None = None, timeout: float = 90.0
) -> dict:
    """Start a master (on ``port``, default: a free one) and ``workers`` workers, wait until all workers
    are registered; return the state (master URL, web UI URL, PIDs). On failure, whatever started is
    stopped again."""
    log_dir = Path(log_dir).resolve()
    (log_dir / "work").mkdir(parents=True, exist_ok=True)
    port, webui_port = port or free_port(), free_port()
    master = f"spark://{HOST}:{port}"
    state = {"master": master, "webui": f"http://{HOST}:{webui_port}", "log_dir": str(log_dir), "pids": []}
    environment = _environment(log_dir)

    def launch(name: str, arguments: list[str]) -> None:
        with open(log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen([spark_class(), *arguments], stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
        state["pids"].append({"name": name, "pid": process.pid})

    try:
        launch("master", ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port), "--webui-port", str(webui_port)])
        for index in range(workers):
            launch(
                f"worker-{index}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    HOST,
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--webui-port",
                    str(free_port()),
                    master,
                ],
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                if _alive_workers(webui_port) == workers:
                    return state
            if time.monotonic() > deadline:
                raise ClusterError(f"Spark standalone cluster not ready after {timeout:.0f} s: see {log_dir}/*.log")
            for entry in state["pids"]:
                if not _running(entry["pid"]):
                    raise ClusterError(f"Spark {entry['name']} exited at start-up: see {log_dir}/{entry['name']}.log")
            time.sleep(0.5)
    except BaseException:
        stop(state)
        raise


def _running(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reaps our own children; others raise ChildProcessError
        return finished == 0
    except ChildProcessError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def stop(state: dict, timeout: float = 30.0) -> None:
    """Terminate the workers, then the master (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
    for entry in sorted(state["pids"], key=lambda e: e["name"] == "master"):
        pid = entry["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def standalone_cluster(workers: int = 2, cores: int = 1, memory: str = "2g", log_dir: str | os.PathLike = "logs/cluster"):
    """A running cluster for the duration of the block (always stopped afterwards)."""
    state = start(workers, cores, memory, log_dir)
    try:
        yield state
    finally:
        stop(state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="2g", help="memory per worker")
    parser.add_argument("--port", type=int, help="the master's port (default: a free one; profiles/spark-standalone expects 7077)")
    parser.add_argument("--state", default="logs/cluster/state.json", help="where start records the PIDs and URLs")
    args = parser.parse_args(argv)
    state_path = Path(args.state)
    if args.action == "start":
        if state_path.exists():
            raise SystemExit(f"{state_path} exists: a cluster may be running; stop it first")
        state = start(args.workers, args.cores, args.memory, state_path.parent, args.port)
        state_path.write_text(json.dumps(state, indent=2) + "\n")
        print(state["master"])
    else:
        if not state_path.exists():
            raise SystemExit(f"{state_path} not found: no cluster started with this state file")
        stop(json.loads(state_path.read_text()))
        state_path.unlink()


if __name__ == "__main__":
    main()
