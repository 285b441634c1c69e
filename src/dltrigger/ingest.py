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

import numpy as np
import pyarrow as pa

from . import LABELS
from .arrays import arrow_lists, event_starts, ragged_lists
from .errors import InputError
from .files import atomic_path, executor_path, write_parquet
from .generate.delphes import TREE, read_delphes
from .selection import LEPTON_PT_MIN, Flat, IsolationMaps, select_lepton
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
    collections = {name: Flat.of(record) for name, record in events.items()}  # flat numpy from here on
    finite = np.ones(n_read, dtype=bool)
    for flat in collections.values():
        for values in flat.columns.values():
            if np.issubdtype(values.dtype, np.floating):
                finite[flat.event[~np.isfinite(values)]] = False
    entry = np.flatnonzero(finite)
    collections = {name: flat.events(finite) for name, flat in collections.items()}
    n = entry.size

    maps = IsolationMaps.of(collections)
    indices = maps.indices()
    lepton = select_lepton(collections, maps, indices, quirks)
    maps_ok = maps.non_empty(n) if quirks else np.ones(n, dtype=bool)
    has_hard_lepton = np.zeros(n, dtype=bool)
    for collection in ("Electron", "MuonTight"):
        leptons = collections[collection]
        has_hard_lepton[leptons.event[leptons["PT"] > LEPTON_PT_MIN]] = True
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
    hlf = _high_level({name: collections[name].events(selected) for name in ("Jet", "MissingET")}, lep, quirks)
    llf, n_particles = _particles(maps, indices, keep, lep, quirks)
    event = collections["Event"].events(selected)
    return {"cutflow": cutflow, "entry": entry[keep], "hlf": hlf, "llf": llf, "n_particles": n_particles,
            "weight": event.first("Weight").astype(np.float32), "event_number": event.first("Number").astype(np.int64)}  # fmt: skip


def _high_level(events: dict, lep: dict, quirks: bool) -> np.ndarray:
    jets, n = events["Jet"], lep["PT"].size
    jets = jets.take(np.flatnonzero((jets["PT"] > JET_PT_MIN) & (np.abs(jets["Eta"]) < JET_ETA_MAX)))
    met = events["MissingET"].first("MET")
    phi_met = events["MissingET"].first("Phi")
    mt2 = 2 * met * lep["PT"] * (1 - np.cos(lep["Phi"] - phi_met))
    columns = [
        _float32_sums(jets.event, jets["PT"], n),
        met,
        phi_met,
        mt2 if quirks else np.sqrt(np.maximum(mt2, 0.0)),  # the original stored m_T squared
        jets.counts(),
        np.bincount(jets.event[jets["BTag"] > 0], minlength=n),
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


def _float32_sums(event: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-event sums of float32 values accumulated in float32, in order, as Delphes-reading code does."""
    sums = np.zeros(n, dtype=np.float32)
    np.add.at(sums, event, values)
    return sums


def _rank(event: np.ndarray) -> np.ndarray:
    """Position of each object within its event (objects grouped by event, in collection order)."""
    return np.arange(event.size) - np.searchsorted(event, event, side="left")


def _particles(maps: IsolationMaps, indices: dict, selected: np.ndarray, lep: dict, quirks: bool):
    """The real rows of the original's 801x19 particle matrix of the ``selected`` events of the maps, in
    its order (lepton, tracks, photons, neutral hadrons; the zero rows after them are not stored), and
    the number of rows of each event. ``lep``: the isolated lepton of each selected event."""
    n = selected.size
    slot = np.full(maps.n_events, -1)
    slot[selected] = np.arange(n)  # each event's place among the selected ones

    # Tracks: all above 0.5 GeV except the lepton's own (dR <= 1e-4), first 450 in collection order.
    tracks = maps.tracks
    candidates = np.flatnonzero(slot[tracks.event] >= 0)
    mine = slot[tracks.event[candidates]]
    dphi = (tracks["Phi"][candidates] - lep["Phi"][mine] + np.pi) % (2 * np.pi) - np.pi
    kept = candidates[(tracks["Eta"][candidates] - lep["Eta"][mine]) ** 2 + dphi**2 > 1e-8]
    kept = kept[_rank(tracks.event[kept]) < MAX_TRACKS]
    photons = np.flatnonzero(slot[maps.photons.event] >= 0)
    photons = photons[_rank(maps.photons.event[photons]) < MAX_PHOTONS]
    neutrals = np.flatnonzero(slot[maps.neutrals.event] >= 0)
    neutrals = neutrals[_rank(maps.neutrals.event[neutrals]) < MAX_NEUTRALS]

    groups = {
        # name: (flat objects, pt, own index per map, one-hot column, charge, vertex)
        "tracks": (tracks.take(kept), tracks["PT"][kept], {"charged": kept}, 13,
                   np.sign(tracks["PID"][kept]) if quirks else tracks["Charge"][kept],
                   [tracks[c][kept] for c in ("X", "Y", "Z")]),
        "photons": (maps.photons.take(photons), maps.photons["ET"][photons], {"photon": photons}, 15, 0.0, None),
        "neutrals": (maps.neutrals.take(neutrals), maps.neutrals["ET"][neutrals], {"neutral": neutrals}, 14, 0.0, None),
    }  # fmt: skip
    counts = {name: np.bincount(slot[group[0].event], minlength=n) for name, group in groups.items()}
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
        mine = slot[objects.event]
        position = first_row[mine] + start[name][mine] + _rank(objects.event)
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


def group_tasks(tasks: list[dict], events_per_task: int) -> list[list[int]]:
    """Consecutive entry ranges packed into Spark tasks of at most ``events_per_task`` events: small
    files share a task, since each Spark task costs ~70 ms of scheduling and Python round trips."""
    groups, current, size = [], [], 0
    for index, task in enumerate(tasks):
        events = task["entry_stop"] - task["entry_start"]
        if current and size + events > events_per_task:
            groups.append(current)
            current, size = [], 0
        current.append(index)
        size += events
    return groups + [current] if current else groups


def ingest_ranges(ranges: list[dict], part: int, quirks: bool, output_dir: str, remote: dict | None = None) -> list[dict]:
    """Executor side of one Spark task: select and compute features of its entry ranges and write them as
    one Parquet file (pyarrow: Spark's row-wise conversion of nested arrays would cost more than the numpy
    work). The file name is the task's, written atomically, so a retried task replaces its own output.
    Returns the cutflow counts of each range."""
    tables, cutflows = [], []
    for task in ranges:
        table, cutflow = _ingest_range(task, quirks, remote)
        cutflows.append(cutflow)
        if table is not None:
            tables.append(table)
    if tables:
        with atomic_path(os.path.join(output_dir, f"part-{part:05d}.zstd.parquet")) as temporary:
            write_parquet(pa.concat_tables(tables), temporary)
    return cutflows


def _ingest_range(task: dict, quirks: bool, remote: dict | None):
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
    if not n:
        return None, result["cutflow"]
    table = pa.table(
        {
            "hfeatures": arrow_lists(result["hlf"], len(HLF_NAMES)),
            "lfeatures": ragged_lists(result["llf"], result["n_particles"]),
            "n_particles": pa.array(result["n_particles"], pa.int32()),
            "label": pa.array(np.full(n, task["label"], np.int32)),
            "weight": pa.array(result["weight"]),
            "event_number": pa.array(result["event_number"]),
            "source_file": pa.array([task["path"]] * n, pa.string()),
            "entry": pa.array(task["entry_start"] + result["entry"], pa.int64()),
        }
    )
    return table, result["cutflow"]


def run_ingest(samples: list[dict], output: str, cutflow_path: str, spark_config: dict, threads: int,
               quirks: bool, events_per_task: int, remote: dict | None = None, log_dir: str = "logs/spark") -> dict:  # fmt: skip
    """Ingest all samples (dicts with sample, label, files) into the Parquet directory ``output``.

    Writes the per-class cutflow TSV; raises InputError (one line) for bad inputs, leaving no output.
    Returns the cutflow, the number of events read and the time of the Spark job (session start excluded).
    """
    from .spark import executor_error, spark_session

    tasks = plan_tasks(samples, events_per_task, remote)
    groups = group_tasks(tasks, events_per_task)
    log.info("ingesting %d files of %d samples as %d Spark tasks", len({t["path"] for t in tasks}), len(samples), len(groups))
    with spark_session("dltrigger-ingest", spark_config, threads, log_dir) as spark, atomic_path(output) as temporary:
        os.makedirs(temporary)
        output_dir = executor_path(temporary)

        def compute(batches):
            for batch in batches:
                for group in batch.column("group").to_pylist():  # one row per Spark task
                    cutflows = ingest_ranges([tasks[i] for i in groups[group]], group, quirks, output_dir, remote)
                    counts = pa.array([[cutflow[cut] for cut in CUTS] for cutflow in cutflows], pa.list_(pa.int64()))
                    yield pa.RecordBatch.from_arrays([pa.array(groups[group], pa.int32()), counts], names=["task", "counts"])

        frame = spark.createDataFrame(spark.sparkContext.parallelize([(g,) for g in range(len(groups))], len(groups)), "group int")
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
