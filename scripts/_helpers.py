"""What every adapter in scripts/ shares: the job's ``snakemake`` object (Snakemake's own, or one built from
the workflow when a script is run by hand) and the job's log. The library (src/dltrigger) knows nothing
of Snakemake: this file and the rules are the only places that do.

    with job(globals()) as snakemake:
        run_something(snakemake.input.x, ...)

Run by hand, from the workflow directory: ``python scripts/<name>.py TARGET [--configfile FILE]`` runs
the job that writes TARGET with exactly the inputs, params and log it gets under Snakemake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from dltrigger.core.errors import user_message


@contextlib.contextmanager
def job(namespace: dict):
    """The job's ``snakemake`` object, with everything the job prints and logs going to its log file."""
    snakemake = namespace["snakemake"] if "snakemake" in namespace else snakemake_from_command_line()
    with job_log(snakemake.log[0]):
        yield snakemake


@contextlib.contextmanager
def job_log(path: str | os.PathLike):
    """Send this process's stdout/stderr (Python, and C++ libraries such as Pythia and fastjet) and
    INFO-level logging to ``path``, the rule's ``log:`` file, for the duration of the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    problem = None
    with open(path, "a", buffering=1) as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
        logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per call back from the JVM (each micro-batch)
        try:
            yield
        except Exception as exc:
            problem = user_message(exc)
            if problem is None:  # a bug, not the input: the whole traceback
                logging.getLogger("dltrigger").exception("job failed")
                raise
            logging.getLogger("dltrigger").error("job failed: %s", problem)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    if problem is not None:  # one line on the console too (Snakemake's, or the terminal of a run by hand)
        print(f"dltrigger: {problem}", file=sys.stderr)
        raise SystemExit(1)


def snakemake_for_target(target: str, configfiles: list[str] | None = None):
    """The ``snakemake`` object a rule's script would receive for the job producing ``target``.

    Lets every adapter in ``scripts/`` run by hand from the workflow directory, e.g.
    ``python scripts/generate_chunk.py results/raw/ttbar/chunk_000.root [--configfile FILE]``,
    with the same inputs, params and log as under Snakemake (whose DAG is built, nothing is executed).
    """
    from pathlib import Path

    from snakemake.api import SnakemakeApi
    from snakemake.script import Snakemake
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(f) for f in configfiles or []]),
            storage_settings=StorageSettings(),
            snakefile=Path("Snakefile"),
        )
        workflow_api.dag(dag_settings=DAGSettings(targets={target}, forcetargets=True))
        workflow = workflow_api._workflow  # the public API only executes; building the DAG needs the workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        job = next((job for job in workflow.dag.jobs if target in job.output), None)
        if job is None:
            raise SystemExit(f"no rule of the workflow produces '{target}'")
        missing = [path for path in job.input if not Path(path).exists()]
        if missing:
            raise SystemExit(f"inputs of '{target}' are missing; build them first: snakemake {' '.join(missing)}")
        for path in [*job.output, *job.log]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Snakemake(job.input, job.output, job.params, job.wildcards, job.threads, job.resources, job.log, workflow.config, job.rule.name, None)


def snakemake_from_command_line():
    """Parse ``TARGET [--configfile FILE ...]`` of a script run by hand (see ``snakemake_for_target``)."""
    import argparse

    parser = argparse.ArgumentParser(description="Run one job of the workflow by hand (from the workflow directory).")
    parser.add_argument("target", help="an output file of the job, e.g. results/raw/ttbar/chunk_000.root")
    parser.add_argument("--configfile", action="append", default=[], help="extra config file(s), as for snakemake")
    args = parser.parse_args()
    return snakemake_for_target(args.target, args.configfile)
