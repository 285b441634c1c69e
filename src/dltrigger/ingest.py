"""Ingestion: Delphes ROOT files -> isolated-lepton selection -> 14 high-level features + the particle rows.

Spark distributes (file, entry range) tasks; each task reads its part with uproot by full branch names,
computes everything for the whole batch with numpy/awkward and writes its selected events as one
Parquet file, each event with its real particle rows only (the original's 801-row matrix is ~85 %
zeros); the tasks report their cutflow counts back to the driver.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter

import awkward as ak
import numpy as np
import pyarrow as pa

from . import LABELS
from .errors import InputError
from .arrays import arrow_lists, event_starts, numpy_of_lists, ragged_lists
from .files import atomic_path, executor_path, write_parquet
from .generate.delphes import TREE, read_delphes
from .selection import LEPTON_PT_MIN, IsolationMaps, select_lepton
from .sources import is_remote, open_root

log = logging.getLogger(__name__)

HLF_NAMES = (
    "HT", "MET", "phiMET", "MT", "nJets", "nBjets", "LepPt", "LepEta", "LepPhi",
    "LepIsoCh", "LepIsoGamma", "LepIsoNeu", "LepCharge", "LepIsEle",
)  # fmt: skip
LLF_NAMES = (
    "Energy", "Px", "Py", "Pz", "Pt", "Eta", "Phi", "vtxX", "vtxY", "vtxZ", "ChPFIso", "GammaPFIso",
    "NeuPFIso", "isChHad", "isNeuHad", "isGamma", "isEle", "isMu", "Charge",
)  # fmt: skip
MAX_TRACKS, MAX_PHOTONS, MAX_NEUTRALS = 450, 150, 200
N_ROWS = 1 + MAX_TRACKS + MAX_PHOTONS + MAX_NEUTRALS  # 801
JET_PT_MIN, JET_ETA_MAX = 30.0, 2.6

BRANCHES = {
    "Event": ("Number", "Weight"),
    "EFlowTrack": ("PT", "Eta", "Phi", "PID", "Charge", "X", "Y", "Z"),
    "EFlowPhoton": ("ET", "Eta", "Phi"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
    "Electron": ("PT", "Eta", "Phi", "Charge"),
    "MuonTight": ("PT", "Eta", "Phi", "Charge"),
    "MissingET": ("MET", "Phi"),
    "Jet": ("PT", "Eta", "BTag"),
}
BRANCH_NAMES = [f"{name}.{field}" for name, fields in BRANCHES.items() for field in fields]
# Cuts of the cutflow, in order; "isolation maps" applies only with the original quirks.
CUTS = ("read", "finite", "isolation maps", "lepton pT > 23 GeV", "isolated lepton")


def features(events: dict, quirks: bool = False) -> dict:
    """Selection and features of a batch of events (jagged records per collection, as read).

    Returns ``cutflow`` (events surviving each cut), ``entry`` (index in the batch of each selected
    event), ``hlf`` (n, 14), ``llf`` (the real particle rows of all events, grouped by event: (total, 19)
    float32) and ``n_particles`` (n,), the rows of each event.
    """
    n_read = len(events["Event"])
    finite = np.ones(n_read, dtype=bool)
    for name, record in events.items():
        for field in record.fields:
            values = record[field]
            if np.issubdtype(ak.to_numpy(ak.flatten(values)).dtype, np.floating):
                finite &= ak.to_numpy(ak.all(np.isfinite(values), axis=1))
    entry = np.flatnonzero(finite)
    events = {name: record[finite] for name, record in events.items()}
    n = entry.size

    maps = IsolationMaps.of(events)
    indices = maps.indices()
    lepton = select_lepton(events, maps, indices, quirks)
    maps_ok = maps.non_empty(n) if quirks else np.ones(n, dtype=bool)
    has_hard_lepton = np.zeros(n, dtype=bool)
    for collection in ("Electron", "MuonTight"):
        has_hard_lepton |= ak.to_numpy(ak.any(events[collection].PT > LEPTON_PT_MIN, axis=1))
    selected = lepton["found"] & maps_ok
    cutflow = {
        "read": n_read,
        "finite": n,
        "isolation maps": int(maps_ok.sum()),
        "lepton pT > 23 GeV": int((maps_ok & has_hard_lepton).sum()),
        "isolated lepton": int(selected.sum()),
    }
    keep = np.flatnonzero(selected)
    lep = {name: values[keep] for name, values in lepton.items()}
    events = {name: record[keep] for name, record in events.items()}
    hlf = _high_level(events, lep, quirks)
    llf, n_particles = _particles(events, lep, quirks)
    return {"cutflow": cutflow, "entry": entry[keep], "hlf": hlf, "llf": llf, "n_particles": n_particles}


def _high_level(events: dict, lep: dict, quirks: bool) -> np.ndarray:
    jets = events["Jet"]
    jets = jets[(jets.PT > JET_PT_MIN) & (np.abs(jets.Eta) < JET_ETA_MAX)]
    met = ak.to_numpy(ak.firsts(events["MissingET"].MET)).astype(np.float64)
    phi_met = ak.to_numpy(ak.firsts(events["MissingET"].Phi)).astype(np.float64)
    mt2 = 2 * met * lep["PT"] * (1 - np.cos(lep["Phi"] - phi_met))
    columns = [
        ak.to_numpy(ak.sum(jets.PT, axis=1)),
        met,
        phi_met,
        mt2 if quirks else np.sqrt(np.maximum(mt2, 0.0)),  # the original stored m_T squared
        ak.to_numpy(ak.num(jets)),
        ak.to_numpy(ak.sum(jets.BTag > 0, axis=1)),
        lep["PT"],
        lep["Eta"],
        lep["Phi"],
        lep["iso_charged"],
        lep["iso_photon"],
        lep["iso_neutral"],
        lep["Charge"],
        lep["is_electron"],
    ]
    return np.stack(columns, axis=1).astype(np.float32).reshape(-1, len(HLF_NAMES))


def _rank(event: np.ndarray) -> np.ndarray:
    """Position of each object within its event (objects grouped by event, in collection order)."""
    return np.arange(event.size) - np.searchsorted(event, event, side="left")


def _particles(events: dict, lep: dict, quirks: bool):
    """The real rows of the original's 801x19 particle matrix, in its order (lepton, tracks, photons,
    neutral hadrons; the zero rows after them are not stored), and the number of rows of each event."""
    n = lep["PT"].size
    maps = IsolationMaps.of(events)
    indices = maps.indices()

    # Tracks: all above 0.5 GeV except the lepton's own (dR <= 1e-4), first 450 in collection order.
    tracks = maps.tracks
    dphi = (tracks["Phi"] - lep["Phi"][tracks.event] + np.pi) % (2 * np.pi) - np.pi
    not_lepton = (tracks["Eta"] - lep["Eta"][tracks.event]) ** 2 + dphi**2 > 1e-8
    kept = np.flatnonzero(not_lepton)
    kept = kept[_rank(tracks.event[kept]) < MAX_TRACKS]
    photons = np.flatnonzero(_rank(maps.photons.event) < MAX_PHOTONS)
    neutrals = np.flatnonzero(_rank(maps.neutrals.event) < MAX_NEUTRALS)

    groups = {
        # name: (flat objects, pt, own index per map, one-hot column, charge, vertex)
        "tracks": (tracks.take(kept), tracks["PT"][kept], {"charged": kept}, 13,
                   np.sign(tracks["PID"][kept]) if quirks else tracks["Charge"][kept],
                   [tracks[c][kept] for c in ("X", "Y", "Z")]),
        "photons": (maps.photons.take(photons), maps.photons["ET"][photons], {"photon": photons}, 15, 0.0, None),
        "neutrals": (maps.neutrals.take(neutrals), maps.neutrals["ET"][neutrals], {"neutral": neutrals}, 14, 0.0, None),
    }  # fmt: skip
    counts = {name: np.bincount(group[0].event, minlength=n) for name, group in groups.items()}
    start = {"tracks": np.ones(n, dtype=np.int64)}
    start["photons"] = start["tracks"] + counts["tracks"]
    start["neutrals"] = start["photons"] + counts["photons"]
    n_particles = (start["neutrals"] + counts["neutrals"]).astype(np.int32)

    first_row = event_starts(n_particles)
    out = np.empty((int(n_particles.sum()), len(LLF_NAMES)), dtype=np.float32)
    iso = {"charged": lep["iso_charged"], "photon": lep["iso_photon"], "neutral": lep["iso_neutral"]}
    _fill(out, first_row, lep["PT"], lep["Eta"], lep["Phi"], None, iso, 16 + (1 - lep["is_electron"]).astype(np.int64), lep["Charge"])
    for name, (objects, pt, own, onehot, charge, vertex) in groups.items():
        q = (objects.event, objects["Eta"], objects["Phi"])
        iso = {}
        for kind, cone in indices.items():
            own_index = own.get(kind)
            sums = cone.sums(*q, own=None if quirks or own_index is None else own_index, wrap_phi=not quirks)
            iso[kind] = sums / pt - (1.0 if quirks and own_index is not None else 0.0)
        position = first_row[objects.event] + start[name][objects.event] + _rank(objects.event)
        _fill(out, position, pt, objects["Eta"], objects["Phi"], vertex, iso, onehot, charge)
    return out, n_particles


def _fill(out, row, pt, eta, phi, vertex, iso, onehot, charge):
    """Write the 19 features of objects into their rows of the particle rows."""
    values = np.zeros((pt.size, len(LLF_NAMES)))
    values[:, 0] = pt * np.cosh(eta)  # massless (E, px, py, pz) from (pT, eta, phi), as the original
    values[:, 1] = pt * np.cos(phi)
    values[:, 2] = pt * np.sin(phi)
    values[:, 3] = pt * np.sinh(eta)
    values[:, 4], values[:, 5], values[:, 6] = pt, eta, phi
    if vertex is not None:
        values[:, 7], values[:, 8], values[:, 9] = vertex
    values[:, 10], values[:, 11], values[:, 12] = iso["charged"], iso["photon"], iso["neutral"]
    values[np.arange(pt.size), onehot] = 1.0
    values[:, 18] = charge
    out[row] = values


# --------------------------------------------------------------------------------------------------
# Spark: plan tasks on the driver, compute features in the executors, write Parquet + cutflow
# --------------------------------------------------------------------------------------------------
def check_input(path: str, remote: dict | None = None) -> int:
    """Open a ROOT file's Delphes tree and check its branches; returns its number of events."""
    try:
        file = open_root(path, remote)
    except Exception as exc:  # uproot raises many types for damaged files
        if is_remote(path):
            raise InputError(f"{path}: {str(exc).splitlines()[0]}") from None
        raise InputError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    with file:
        size = None if is_remote(path) else os.path.getsize(path)  # remote truncation shows when read
        if size is not None and size < file.file.fEND:
            raise InputError(f"{path}: truncated ROOT file ({size} bytes, its header says {file.file.fEND})")
        if TREE not in file:
            found = ", ".join(sorted({key.split(";")[0] for key in file.keys()})) or "nothing"
            raise InputError(f"{path}: no TTree '{TREE}' (found: {found})")
        tree = file[TREE]
        present = set(tree.keys(recursive=True))
        missing = [name for name in BRANCH_NAMES if name not in present and not any(key.endswith("/" + name) for key in present)]
        if missing:
            raise InputError(f"{path}: missing branches {', '.join(missing)}")
        return tree.num_entries


def plan_tasks(samples: list[dict], events_per_task: int, remote: dict | None = None) -> list[dict]:
    """One task per entry range of at most ``events_per_task`` events of each file; every file is checked."""
    tasks = []
    for sample_index, sample in enumerate(samples):
        total = 0
        for path in sample["files"]:
            entries = check_input(path, remote)
            total += entries
            for start in range(0, entries, events_per_task):
                tasks.append(
                    {
                        "sample_index": sample_index,
                        "label": LABELS[sample["label"]],
                        "path": path,  # provenance: as given
                        "open_path": executor_path(path),  # executors run in their own working directory
                        "entry_start": start,
                        "entry_stop": min(start + events_per_task, entries),
                    }
                )
        if total == 0:
            raise InputError(f"sample '{sample['sample']}': its files hold no events ({', '.join(sample['files'])})")
    return tasks


def read_events(path: str, entry_start: int, entry_stop: int, remote: dict | None = None) -> dict:
    """The branches the ingestion needs, by full name, as jagged records per collection."""
    return read_delphes(path, BRANCHES, entry_start, entry_stop, remote)


def ingest_task(task: dict, quirks: bool, output_dir: str, remote: dict | None = None) -> dict:
    """Executor side of one task: select and compute features of its entry range and write them as one
    Parquet file (pyarrow: Spark's row-wise conversion of nested arrays would cost more than the numpy
    work). The file name is the task's, written atomically, so a retried task replaces its own output.
    Returns the cutflow counts."""
    from .faults import fail_once

    fail_once("ingest", f"{os.path.basename(task['path'])}-{task['entry_start']}")
    try:
        events = read_events(task["open_path"], task["entry_start"], task["entry_stop"], remote)
    except Exception as exc:
        raise InputError(
            f"{task['path']}: entries {task['entry_start']}-{task['entry_stop']} cannot be read "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None
    result = features(events, quirks)
    n = result["entry"].size
    if n:
        event = events["Event"]
        table = pa.table(
            {
                "hfeatures": arrow_lists(result["hlf"], len(HLF_NAMES)),
                "lfeatures": ragged_lists(result["llf"], result["n_particles"]),
                "n_particles": pa.array(result["n_particles"], pa.int32()),
                "label": pa.array(np.full(n, task["label"], np.int32)),
                "weight": pa.array(ak.to_numpy(ak.firsts(event.Weight))[result["entry"]].astype(np.float32)),
                "event_number": pa.array(ak.to_numpy(ak.firsts(event.Number))[result["entry"]].astype(np.int64)),
                "source_file": pa.array([task["path"]] * n, pa.string()),
                "entry": pa.array(task["entry_start"] + result["entry"], pa.int64()),
            }
        )
        target = os.path.join(output_dir, f"part-{task['task']:05d}.zstd.parquet")
        with atomic_path(target) as temporary:
            write_parquet(table, temporary)
    return result["cutflow"]


def run_ingest(samples: list[dict], output: str, cutflow_path: str, spark_config: dict, threads: int,
               quirks: bool, events_per_task: int, remote: dict | None = None, log_dir: str = "logs/spark") -> dict:  # fmt: skip
    """Ingest all samples (dicts with sample, label, files) into the Parquet directory ``output``.

    Writes the per-class cutflow TSV; raises InputError (one line) for bad inputs, leaving no output.
    Returns the cutflow, the number of events read and the time of the Spark job (session start excluded).
    """
    from .spark import executor_error, spark_session

    tasks = [dict(task, task=index) for index, task in enumerate(plan_tasks(samples, events_per_task, remote))]
    log.info("ingesting %d files of %d samples as %d Spark tasks", len({t["path"] for t in tasks}), len(samples), len(tasks))
    with spark_session("dltrigger-ingest", spark_config, threads, log_dir) as spark, atomic_path(output) as temporary:
        os.makedirs(temporary)
        output_dir = executor_path(temporary)

        def compute(batches):
            for batch in batches:
                for task in batch.to_pylist():  # one row per task: a few files, not events
                    cutflow = ingest_task(task, quirks, output_dir, remote)
                    counts = pa.array([[cutflow[cut] for cut in CUTS]], pa.list_(pa.int64()))
                    yield pa.RecordBatch.from_arrays([pa.array([task["task"]], pa.int32()), counts], names=["task", "counts"])

        plan = spark.sparkContext.parallelize(tasks, len(tasks))
        frame = spark.createDataFrame(plan, "task int, sample_index int, label int, path string, open_path string, entry_start long, entry_stop long")
        started = time.time()
        try:
            # Only successful task attempts report: retried tasks are counted once.
            reports = frame.mapInArrow(compute, "task int, counts array<long>").collect()
        except Exception as exc:  # Spark wraps executor errors; bring ours back as one line
            raise executor_error(exc) from None
        seconds = time.time() - started
        table = np.zeros((len(samples), len(CUTS)), dtype=np.int64)
        not_finite = Counter()
        for report in reports:
            task = tasks[report["task"]]
            table[task["sample_index"]] += report["counts"]
            not_finite[task["path"]] += report["counts"][CUTS.index("read")] - report["counts"][CUTS.index("finite")]
        for path, dropped in not_finite.items():
            if dropped:
                log.warning("%s: %d events with NaN or inf inputs dropped (cutflow row 'finite')", path, dropped)
        for sample, row in zip(samples, table):
            if row[-1] == 0:
                raise InputError(f"sample '{sample['sample']}': no event passes the isolated-lepton selection ({row[0]} read)")
        open(os.path.join(temporary, "_SUCCESS"), "w").close()
        cutflow = write_cutflow(cutflow_path, samples, table, quirks)
        events_read = int(table[:, 0].sum())
        log.info("%d events read, %d selected, in %.1f s of Spark job time", events_read, int(table[:, -1].sum()), seconds)
    return {"cutflow": cutflow, "events_read": events_read, "job_seconds": seconds}


def write_cutflow(path: str, samples: list[dict], table: np.ndarray, quirks: bool) -> dict:
    """Events of each class surviving each cut, as TSV (rows: cuts, columns: classes)."""
    cuts = [cut for cut in CUTS if quirks or cut != "isolation maps"]
    per_class = {label: Counter() for label in LABELS}
    for sample, row in zip(samples, table):
        per_class[sample["label"]].update(dict(zip(CUTS, row.tolist())))
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write("cut\t" + "\t".join(LABELS) + "\n")
        for cut in cuts:
            handle.write(cut + "\t" + "\t".join(str(per_class[label][cut]) for label in LABELS) + "\n")
    return {label: {cut: per_class[label][cut] for cut in cuts} for label in LABELS}
