"""What an exact filter before the shower can save for tt̄ and W+jets: the plain generation's selected
events split by what their hard process held (a W -> e or mu within the acceptance; otherwise a W -> tau
within it; neither), and the CPU-seconds per selected event that pre-shower filters keeping some of these
classes (the rest prescaled) would save at best, with the independent events they would keep.

A process-level hook records every hard process and vetoes none, so the sample is the plain one. The
savings are ceilings: a vetoed hard process is counted free and a kept one at the plain event's cost, a
prescaled event's replicas at the shower's cost once. "Tau decided" keeps a W -> tau event only where
its tau decays to e or mu (drawn before the shower at the branching ratio, then imposed on the decay);
it counts every selected tau-only event as kept, so it is an upper bound too.

    .venv/bin/python bench/bench_filter_ceiling.py [--events 4000] [--overlay config/paper-mini.yaml] [--processes ttbar wjets]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pythia8mc
from bench_generate import pileup_pool, run

from dltrigger.core.config import load_config
from dltrigger.generate import chunk
from dltrigger.generate.processes import W_LEPTONS
from dltrigger.physics import observables
from dltrigger.physics.delphes import read_delphes

from machine import cpu_model

# tau -> e nu nu and tau -> mu nu nu (PDG).
TAU_TO_LIGHT_LEPTON = 0.1782 + 0.1739
ACCEPTANCES = ((0.0, np.inf), (18.0, 2.7), (20.0, 2.5))  # (pT > GeV, |eta| <) of the hard-process lepton
PRESCALES = (10, 20)


class RecordWLeptons(pythia8mc.UserHooks):
    """Records the W's leptons of each hard process as rows (event, |id|, pT, |eta|); vetoes nothing."""

    def __init__(self):
        super().__init__()
        self.events, self.rows = 0, []

    def canVetoProcessLevel(self):
        return True

    def doVetoProcessLevel(self, process):
        for index in range(process.size()):  # ~15 entries: the hard process, not the event
            lepton = process[index]
            if abs(lepton.id()) in W_LEPTONS and abs(process[lepton.mother1()].id()) == 24:
                self.rows.append((self.events, abs(lepton.id()), lepton.pT(), abs(lepton.eta())))
        self.events += 1
        return False


def plain_sample(config: dict, process: str, events: int, directory: Path, pool: Path | None):
    """The plain generation's hard-process W leptons (rows: event, |id|, pT, |eta|), which events were
    selected, and its CPU seconds."""
    config = copy.deepcopy(config)
    config["generate"]["lepton_filter"]["prescaled_above"] = None
    config["generate"]["processes"][process]["leptonic_w"] = None
    recorder = RecordWLeptons()
    # The chunk builds its hooks from the settings; the recorder takes the place of the (absent) filter.
    with mock.patch.object(chunk, "process_hooks", lambda settings, seed: recorder):
        meta, _ = run(config, process, events, directory, "plain", pool)
    read = read_delphes(directory / f"{process}-plain.root", observables.BRANCHES)
    numbers = np.asarray(read["Event"].Number[:, 0])[observables.compute(read)["entry"]].astype(np.int64)
    selected = np.zeros(meta["events_generated"], bool)
    selected[numbers] = True
    assert recorder.events == meta["events_generated"]
    return np.array(recorder.rows, dtype=float).reshape(-1, 4), selected, meta["cpu_seconds"]


def classes(leptons: np.ndarray, events: int, pt_min: float, eta_max: float) -> np.ndarray:
    """Per event: 0 = a W -> e or mu within the acceptance, 1 = otherwise a W -> tau within it, 2 = neither."""
    event, pdg, pt, eta = leptons.T
    inside = (pt > pt_min) & (eta < eta_max)
    has_light, has_tau = np.zeros(events, bool), np.zeros(events, bool)
    has_light[event[inside & (pdg != 15)].astype(np.int64)] = True
    has_tau[event[inside & (pdg == 15)].astype(np.int64)] = True
    return np.select([has_light, has_tau], [0, 1], 2)


def ceiling(kept: np.ndarray, keeps_selected: np.ndarray, selected: np.ndarray, prescale: int) -> tuple[float, float]:
    """A pre-shower filter keeping the fraction ``kept`` of each event (1, 0 or the tau branching ratio)
    and prescaling the rest: its best CPU saving per selected row, and what its selected rows are worth in
    independent events, as a fraction of them, when the selected events marked ``keeps_selected`` are
    kept and the others prescaled (P replicas of one in P)."""
    cost = kept.mean() + (1 - kept).mean() / prescale
    selected_kept = (keeps_selected & selected).sum()
    return 1 / cost, selected.sum() / (selected_kept + prescale * (selected.sum() - selected_kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--overlay", nargs="*", default=[], help="config files on top of --config, e.g. config/paper-mini.yaml")
    parser.add_argument("--events", type=int, default=4000, help="Pythia events per process (default 4000)")
    parser.add_argument("--processes", nargs="+", default=["ttbar", "wjets"])
    args = parser.parse_args()
    config = load_config(args.config, *args.overlay)
    print(f"CPU: {cpu_model()}; pileup mu = {config['pileup']['mu']}; {args.events} plain Pythia events per process, one core")
    with tempfile.TemporaryDirectory() as directory:
        pool = pileup_pool(config, Path(directory))
        for process in args.processes:
            leptons, selected, cpu = plain_sample(config, process, args.events, Path(directory), pool)
            print(
                f"\n{process}: {selected.mean():.3f} selected per generated event, {cpu / selected.sum() * 1e3:.1f} CPU-ms per selected "
                f"event; ceiling of any filter (generated / selected): {1 / selected.mean():.2f}x"
            )
            for pt_min, eta_max in ACCEPTANCES:
                code = classes(leptons, selected.size, pt_min, eta_max)
                events, chosen = np.bincount(code, minlength=3), np.bincount(code[selected], minlength=3)
                split = ", ".join(
                    f"{name} {events[k] / code.size:.3f} of events, {chosen[k] / max(events[k], 1):.3f} selected, {chosen[k] / chosen.sum():.3f} of selected"
                    for k, name in enumerate(("e/mu", "tau only", "neither"))
                )
                print(f"  hard-process lepton pT > {pt_min:g} GeV, |eta| < {eta_max:g}: {split}")
                filters = {  # (fraction of each event kept, selected events kept)
                    "keep e/mu/tau": ((code <= 1).astype(float), code <= 1),
                    "tau decided": (np.select([code == 0, code == 1], [1.0, TAU_TO_LIGHT_LEPTON], 0.0), code <= 1),
                    "keep e/mu": ((code == 0).astype(float), code == 0),
                }
                for prescale in PRESCALES:
                    rows = "; ".join(
                        "{}: {:.2f}x, {:.2f} independent".format(name, *ceiling(kept, keeps, selected, prescale))
                        for name, (kept, keeps) in filters.items()
                    )
                    print(f"    prescale {prescale}: {rows}")
    print("\ngoal: >= 3x fewer CPU-seconds per selected event for every class, the physics unchanged")


if __name__ == "__main__":
    main()
