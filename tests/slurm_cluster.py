"""A real single-node SLURM cluster on 127.0.0.1 (Debian's slurm-wlm and munge), started and stopped by
the tests, or by hand to try profiles/slurm on one machine:

    python tests/slurm_cluster.py /tmp/slurm     # prints the SLURM_CONF to export, stops on Ctrl-C

One node (this machine, with the CPUs and memory slurmd detects), one partition, no cgroups
(proctrack/linuxproc), no accounting database: Snakemake's SLURM executor follows its jobs with squeue,
which keeps finished jobs for MinJobAge seconds, and every finished job is also written to a
job-completion file. Its own munge daemon and key, its own ports: nothing of the machine's SLURM, if
any, is used or changed. Must run as root (slurmd starts the jobs as their users).

Its configuration is found through SLURM_CONF, which snakemake-executor-plugin-slurm-jobstep (0.6.1)
removes from the environment of the `srun` it runs inside each job (it keeps only the allocation's
identity); a site's configuration in /etc/slurm or served by slurmctld is not affected. So the
cluster's PATH starts with an `srun` that sets SLURM_CONF again."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from dltrigger.tools.cluster import free_port

PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd")
# Completed jobs stay in squeue this long (seconds): the executor's status queries need them there.
MIN_JOB_AGE = 3600


def missing() -> str | None:
    """Why no cluster can start here (None where one can)."""
    absent = [name for name in (*DAEMONS, "sbatch", "srun", "squeue", "scontrol") if shutil.which(name) is None]
    if absent:
        return f"no {', '.join(absent)} (Debian: slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "slurmd must run as root"
    return None


def node_resources() -> dict:
    """CPUs and memory (MB) of this machine, as slurmd detects them."""
    detected = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=30).stdout.split()
    fields = dict(item.split("=", 1) for item in detected if "=" in item)
    return {"cpus": int(fields["CPUs"]), "memory_mb": int(fields["RealMemory"])}


def write_config(directory: Path) -> Path:
    """slurm.conf and munge key of a one-node cluster in ``directory``."""
    node, resources = socket.gethostname().split(".")[0], node_resources()
    for folder in ("state", "spool", "log", "munge"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    key = directory / "munge" / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    settings = {
        "ClusterName": "dltrigger-test",
        "SlurmctldHost": f"{node}(127.0.0.1)",
        "SlurmctldPort": free_port(),
        "SlurmdPort": free_port(),
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={directory / 'munge' / 'munge.socket'}",
        "StateSaveLocation": directory / "state",
        "SlurmdSpoolDir": directory / "spool",
        "SlurmctldPidFile": directory / "slurmctld.pid",
        "SlurmdPidFile": directory / "slurmd.pid",
        "SlurmctldLogFile": directory / "log" / "slurmctld.log",
        "SlurmdLogFile": directory / "log" / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "JobCompType": "jobcomp/filetxt",
        "JobCompLoc": directory / "log" / "jobcomp.txt",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "MpiDefault": "none",
        "ReturnToService": 2,
        "MinJobAge": MIN_JOB_AGE,
        "SlurmdTimeout": 60,
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    lines.append(f"NodeName={node} NodeAddr=127.0.0.1 CPUs={resources['cpus']} RealMemory={resources['memory_mb']} State=UNKNOWN")
    lines.append(f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP")
    conf = directory / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


@contextlib.contextmanager
def single_node_slurm(directory: Path, timeout: float = 60):
    """Start munged, slurmctld and slurmd on 127.0.0.1 with their files in ``directory``; wait until the
    node is idle; yield the environment (SLURM_CONF) under which sbatch, squeue and Snakemake use it.
    Stops the daemons, and every job left, afterwards. Each step is bounded by ``timeout`` seconds."""
    directory = Path(directory).absolute()
    conf = write_config(directory)
    (directory / "bin").mkdir(exist_ok=True)
    srun = directory / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{srun.parent}{os.pathsep}{os.environ['PATH']}"}
    munge = directory / "munge"
    commands = [
        ["munged", "--foreground", "--force", f"--socket={munge / 'munge.socket'}", f"--key-file={munge / 'munge.key'}"]
        + [f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
        ["slurmctld", "-D", "-i", "-f", str(conf)],
        ["slurmd", "-D", "-f", str(conf)],
    ]
    processes = []
    try:
        for command in commands:
            log = open(directory / "log" / f"{command[0]}.out", "w")  # noqa: SIM115 (closed with its process)
            processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
            if command[0] == "munged":
                _wait(lambda: (munge / "munge.socket").exists(), timeout, "munged's socket", directory)
        _wait(lambda: _node_state(env) == "idle", timeout, "the node to be idle", directory)
        yield env
    finally:
        subprocess.run(["scancel", "--full", "--partition", PARTITION], env=env, capture_output=True, timeout=timeout, check=False)
        for process, log in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _node_state(env: dict) -> str:
    result = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env, capture_output=True, text=True, timeout=10, check=False)
    return result.stdout.strip()


def _wait(ready, timeout: float, what: str, directory: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            logs = "; ".join(f"{log.name}: {log.read_text()[-400:]}" for log in sorted((directory / "log").glob("*")) if log.is_file())
            raise TimeoutError(f"SLURM test cluster: no {what} after {timeout:.0f} s ({logs})")
        time.sleep(0.25)


def job_details(job_id: str, env: dict) -> dict:
    """``scontrol show job``'s fields of one job (one level of key=value pairs)."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner", job_id], env=env, capture_output=True, text=True, timeout=30, check=True)
    return dict(item.split("=", 1) for item in shown.stdout.split() if "=" in item)


if __name__ == "__main__":
    reason = missing()
    if reason:
        sys.exit(f"slurm_cluster: cannot start: {reason}")
    with single_node_slurm(Path(sys.argv[1] if len(sys.argv) > 1 else "slurm-test")) as environment:
        print(f"export SLURM_CONF={environment['SLURM_CONF']}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
