"""The Spark stages for real (local[2,2]): ingestion output, a task failing once, bad inputs, and the
feature preparation (balance, split, scaling, ordering, determinism)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot

from dltrigger.core.arrays import dense_sequences, numpy_of_ragged, sequences_of
from dltrigger.core.errors import InputError
from dltrigger.core.files import write_parquet
from dltrigger.core.schema import LABELS, N_ROWS
from dltrigger.features import run_features
from dltrigger.ingest import plan_tasks
from dltrigger.physics import observables
from dltrigger.physics.delphes import empty_collections, write_delphes
from dltrigger.physics.observables import CUTS
from dltrigger.physics.preprocess import Preprocessing, particle_sequences, scale_hlf
from dltrigger.physics.quirks import CORRECTED, ORIGINAL, Quirks
from dltrigger.train.data import Dataset

from helpers import HAND_BUILT, STAGE_SPARK, delphes_file, ingest, write_tree


@pytest.fixture(scope="module")
def samples(sanity_samples):
    return [{"sample": p, "label": p, "files": [str(root)]} for p, (root, _) in sanity_samples.items()]


@pytest.fixture(scope="module")
def ingested(samples, tmp_path_factory):
    return ingest(samples, tmp_path_factory.mktemp("ingest"))


def table(path):
    frame = pq.read_table(path).to_pandas()
    return frame.sort_values(["source_file", "entry"]).reset_index(drop=True)


def test_ingest_writes_the_selected_events_with_their_features(samples, ingested):
    events, cutflow = ingested
    assert (events / "_SUCCESS").exists()
    schema = pq.read_schema(next(events.glob("part-*.parquet")))
    assert str(schema.field("hfeatures").type) == "list<element: float not null>"
    assert str(schema.field("lfeatures").type) == "list<element: float not null>"  # each event's real rows, 19 values each
    assert pq.ParquetFile(next(events.glob("part-*.parquet"))).metadata.row_group(0).column(0).compression == "ZSTD"
    assert not schema.field("hfeatures").nullable and not schema.field("lfeatures").nullable  # required: fewer levels to write

    frame = table(events)
    expected_rows = 0
    lines = [line.split("\t") for line in cutflow.read_text().splitlines()]
    assert lines[0] == ["cut", *LABELS] and [line[0] for line in lines[1:]] == [c for c in CUTS if c != "isolation maps"]
    for sample in samples:
        path = sample["files"][0]
        with uproot.open(path) as file:
            n = file["Delphes"].num_entries
        direct = observables.compute(observables.read(path, 0, n))  # the same computation without Spark
        column = 1 + list(LABELS).index(sample["label"])
        assert [int(line[column]) for line in lines[1:]] == [direct["cutflow"][c] for c in CUTS if c != "isolation maps"]
        mine = frame[frame.source_file == path]
        assert mine.entry.tolist() == direct["entry"].tolist()
        assert (mine.label == LABELS[sample["label"]]).all()
        np.testing.assert_array_equal(np.stack(mine.hfeatures.to_numpy()), direct["hlf"])
        first = mine.lfeatures.iloc[0].reshape(-1, 19)
        np.testing.assert_array_equal(first, direct["llf"][: direct["n_particles"][0]])
        assert first.shape == (mine.n_particles.iloc[0], 19)
        expected_rows += len(direct["entry"])
    assert len(frame) == expected_rows


def test_parquet_list_columns_are_required_unless_they_hold_nulls(tmp_path):
    """Required list columns write fewer levels; flat columns keep their nullability (parts with and
    without nulls concatenate), and the table's metadata is kept."""
    rows = pa.list_(pa.float32())
    table = pa.table({"weight": [1.0, 2.0], "rows": pa.array([[1.0, 2.0], []], rows), "gaps": pa.array([[1.0], None], rows), "none": pa.nulls(2)})
    write_parquet(table.replace_schema_metadata({"origin": "test"}), str(tmp_path / "part.parquet"))
    written = pq.read_table(tmp_path / "part.parquet")
    assert [field.nullable for field in written.schema] == [True, False, True, True]
    assert written.schema.metadata[b"origin"] == b"test"
    assert written.to_pylist() == table.to_pylist()
    with_null = pa.table(
        {"weight": pa.array([None], pa.float64()), "rows": pa.array([[3.0]], rows), "gaps": pa.array([None], rows), "none": pa.nulls(1)}
    )
    write_parquet(with_null, str(tmp_path / "other.parquet"))
    assert pa.concat_tables([written, pq.read_table(tmp_path / "other.parquet")]).num_rows == 3


@pytest.mark.reliability("fault injected")
def test_a_task_failing_once_is_retried_with_identical_output(samples, ingested, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    faulty = dict(STAGE_SPARK, conf={"spark.executorEnv.DLTRIGGER_FAIL_ONCE": f"ingest:{markers}"})
    events, cutflow = ingest(samples, tmp_path / "out", spark=faulty)
    assert len(os.listdir(markers)) > 3  # every task failed on its first attempt
    assert_same_ingestion((events, cutflow), ingested)


def assert_same_ingestion(run, reference):
    """The same cutflow and the same events with the same features, whatever the order of the parts."""
    assert run[1].read_text() == reference[1].read_text()
    mine, theirs = table(run[0]), table(reference[0])
    assert mine.drop(columns=["hfeatures", "lfeatures"]).equals(theirs.drop(columns=["hfeatures", "lfeatures"]))
    for column in ("hfeatures", "lfeatures"):
        for a, b in zip(mine[column], theirs[column]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.reliability("bad input")
def test_a_sample_without_selected_events_fails_and_leaves_no_output(tmp_path):
    good = delphes_file(tmp_path / "good.root", HAND_BUILT)
    only_soft = delphes_file(tmp_path / "soft.root", [HAND_BUILT[2]] * 3)
    samples = [{"sample": "good", "label": "ttbar", "files": [good]}, {"sample": "soft", "label": "qcd", "files": [only_soft]}]
    with pytest.raises(InputError, match=r"^sample 'soft': no event passes the isolated-lepton selection \(3 read\)$"):
        ingest(samples, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == []


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "random.root").write_bytes(os.urandom(4000)) and str(d / "random.root"),
            r"random.root: not a readable ROOT file \(ValueError: not a ROOT file",
        ),
        (lambda d: write_tree(d / "other.root", {"x": np.arange(3.0)}, name="Events"), r"other.root: no TTree 'Delphes' \(found: Events\)"),
        (
            lambda d: write_tree(d / "flat.root", {"Electron.PT": np.arange(3.0)}),
            r"flat.root: missing branches Event.Number, Event.Weight, EFlowTrack.PT",
        ),
    ],
)
def test_bad_files_are_named_before_spark_starts(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        plan_tasks([{"sample": "s", "label": "qcd", "files": [path]}], 100)


@pytest.mark.reliability("bad input")
def test_truncated_and_empty_files_are_named(tmp_path, sanity_samples):
    root, _ = sanity_samples["wjets"]
    data = root.read_bytes()
    (tmp_path / "cut.root").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=rf"cut.root: truncated ROOT file \({len(data) // 2} bytes, its header says {len(data)}\)"):
        plan_tasks([{"sample": "s", "label": "qcd", "files": [str(tmp_path / "cut.root")]}], 100)
    write_delphes(tmp_path / "empty.root", empty_collections())
    with pytest.raises(InputError, match=r"sample 'nothing': its files hold no events"):
        plan_tasks([{"sample": "nothing", "label": "qcd", "files": [str(tmp_path / "empty.root")]}], 100)


def sequences(llf: np.ndarray, n_particles: np.ndarray, quirks: bool, scaling: str, mean=None, std=None, padding="after"):
    """The 801-row GRU input of padded particle matrices, through the ragged rows the workflow stores."""
    rows = llf[np.arange(N_ROWS)[None, :] < n_particles[:, None]]
    ordered, padding_row, padding_at = particle_sequences(rows, n_particles, Quirks.of(quirks), scaling, padding, mean, std)
    return dense_sequences(ordered, n_particles, padding_row, padding_at, N_ROWS)


def test_particle_rows_sorted_by_decreasing_distance_to_the_lepton():
    llf = np.zeros((1, N_ROWS, 19), dtype=np.float32)
    # lepton at (eta, phi) = (1, 1); particles at distance 0.5, 2.0, 1.0; padding at (0, 0): distance 1.41
    for row, (eta, phi) in enumerate([(1.0, 1.0), (1.5, 1.0), (1.0, 3.0), (0.0, 1.0)]):
        llf[0, row, 5], llf[0, row, 6], llf[0, row, 4] = eta, phi, row + 1
    unscaled = {"scaling": "global", "mean": np.zeros(19), "std": np.ones(19)}
    corrected = sequences(llf, np.array([4]), quirks=False, **unscaled)[0, :, 4]
    assert corrected[:4].tolist() == [3, 4, 2, 1] and not corrected[4:].any()  # lepton last, padding after
    original = sequences(llf, np.array([4]), quirks=True, **unscaled)[0, :, 4]
    assert original[0] == 3 and not original[1:798].any() and original[798:].tolist() == [4, 2, 1]
    assert (sequences(llf, np.array([4]), quirks=False, padding="by_distance", **unscaled)[0, :, 4] == original).all()
    before = sequences(llf, np.array([4]), quirks=False, padding="before", **unscaled)[0, :, 4]
    assert not before[:797].any() and before[797:].tolist() == [3, 4, 2, 1]  # the lepton still last


def test_min_max_scaling_by_hand_per_column():
    """Spark ML's MinMaxScaler per column: 1, 3, 5 -> 0, 0.5, 1; -2, 0, 8 -> 0, 0.2, 1; a constant column -> 0.5."""
    hlf = np.array([[1.0, -2.0, 7.0], [3.0, 0.0, 7.0], [5.0, 8.0, 7.0]])
    scaled = scale_hlf(hlf, "min_max", hlf.min(axis=0), hlf.max(axis=0))
    np.testing.assert_array_equal(scaled, np.array([[0.0, 0.0, 0.5], [0.5, 0.2, 0.5], [1.0, 1.0, 0.5]], dtype=np.float32))
    assert scaled.dtype == np.float32


@pytest.mark.parametrize("quirks", [False, True])
def test_standardisations(quirks):
    rng = np.random.default_rng(0)
    llf = np.zeros((2, N_ROWS, 19), dtype=np.float32)
    llf[:, :10] = rng.normal(3.0, 2.0, size=(2, 10, 19))
    llf[:, :10, 17] = 1.0  # a column constant over the real rows is not constant over all 801
    llf[1, :, 16] = 0.0  # a constant column is scaled by 1
    n_particles = np.array([10, 10])
    per_event = sequences(llf, n_particles, quirks, "per_event")
    # sklearn's StandardScaler on each event's whole matrix, rows in any order
    mean, std = llf.mean(axis=1, dtype=np.float64), llf.std(axis=1, dtype=np.float64)
    expected = np.sort((llf - mean[:, None]) / np.where(std > 0, std, 1.0)[:, None], axis=1)
    np.testing.assert_allclose(np.sort(per_event, axis=1), expected, rtol=1e-6, atol=1e-6)
    assert per_event[0, 500, 0] != 0  # padding no longer zero: a Masking layer would mask nothing
    scaled = sequences(llf, n_particles, quirks, "global", mean=np.full(19, 3.0), std=np.full(19, 2.0))
    real = np.abs(scaled).sum(axis=2) > 0
    assert real.sum(axis=1).tolist() == [10, 10]  # padding stays zero, wherever the sort put it
    np.testing.assert_allclose(np.sort(scaled[real].reshape(2, 10, 19), axis=1), np.sort((llf[:, :10] - 3.0) / 2.0, axis=1), rtol=1e-6)


@pytest.mark.parametrize("quirks", [False, True])
@pytest.mark.parametrize("scaling", ["per_event", "global"])
def test_sequences_from_ragged_rows_equal_the_padded_matrices_bit_for_bit(sanity_samples, quirks, scaling):
    """The 801-row GRU input built from the stored ragged rows is, bit for bit, what the workflow built
    when it stored the zero-padded 801x19 matrices (kept in tests/reference_features.py)."""
    from reference_features import padded_gru_input

    compared = 0
    for root, meta in sanity_samples.values():
        result = observables.compute(observables.read(str(root), 0, meta["events_kept"]), Quirks.of(quirks))
        rows, n_particles = result["llf"], result["n_particles"]
        padded = np.zeros((n_particles.size, N_ROWS, 19), dtype=np.float32)
        padded[np.arange(N_ROWS)[None, :] < n_particles[:, None]] = rows
        mean, std = rows.mean(axis=0, dtype=np.float64), rows.std(axis=0, dtype=np.float64)
        expected = padded_gru_input(padded, n_particles, quirks, scaling, mean, std)
        ordered, padding_row, padding_at = particle_sequences(rows, n_particles, Quirks.of(quirks), scaling, "after", mean, std)
        built = dense_sequences(ordered, n_particles, padding_row, padding_at, N_ROWS)
        assert built.dtype == expected.dtype and np.array_equal(built.view(np.uint32), expected.view(np.uint32))
        compared += n_particles.size
    assert compared > 100


def prepare(events, directory, scaling="per_event", seed=7, quirks=CORRECTED):
    """(train, validation, test, counts.json) paths and the counts of a feature preparation (its
    preprocessing.json beside them)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [str(directory / name) for name in ("train.parquet", "validation.parquet", "test.parquet", "counts.json")]
    outputs = dict(zip(("train", "validation", "test", "counts"), paths), preprocessing=str(directory / "preprocessing.json"))
    counts = run_features(str(events), outputs, STAGE_SPARK, 2, seed, Preprocessing(quirks, scaling, "after"), 0.2, 0.25)
    return paths, counts


@pytest.fixture(scope="module")
def prepared(ingested, tmp_path_factory):
    return prepare(ingested[0], tmp_path_factory.mktemp("features"))


def test_features_are_balanced_split_and_scaled(ingested, prepared):
    (train_path, validation_path, test_path, _), counts = prepared
    train, validation, test = table(train_path), table(validation_path), table(test_path)
    smallest = min(counts["selected"].values())
    copies = pq.read_table(ingested[0]).to_pandas().groupby(["source_file", "event_number"]).size().max()
    for name in LABELS:
        total = counts["train"][name] + counts["validation"][name] + counts["test"][name]
        assert abs(total - smallest) <= 4 * np.sqrt(smallest) + 1  # undersampled to the smallest class
        # Stratified: a quarter of each class's training events validate (to the copies of one QCD event).
        candidates = counts["train"][name] + counts["validation"][name]
        assert abs(counts["validation"][name] - 0.25 * candidates) <= max(copies, 0.5)
    assert counts["selected"]["ttbar"] > smallest  # (the fixture's classes differ in size)
    assert counts["validation_set"] == "validation"
    keys = lambda frame: set(zip(frame.source_file, frame.entry))
    assert not keys(train) & keys(test) and not keys(train) & keys(validation) and not keys(validation) & keys(test)
    # Redecayed copies of one QCD event share its event number: they never straddle a split.
    underlying = lambda frame: set(zip(frame.source_file, frame.event_number))
    assert not underlying(train) & underlying(test) and not underlying(train) & underlying(validation)
    assert not underlying(validation) & underlying(test)
    qcd = pq.read_table(ingested[0]).to_pandas().query("label == 0")
    assert qcd.duplicated(["source_file", "event_number"]).any()  # (the check above is not vacuous)
    assert 0.1 < len(test) / (len(train) + len(validation) + len(test)) < 0.3
    hlf = np.stack(train.HLF_input.to_numpy())
    # Min-max fitted on the training split, per feature: its smallest raw value there at 0 and its largest
    # at 1, exactly (a feature constant there at 0.5, Spark ML's rule).
    raw = np.stack(table(ingested[0]).set_index(["source_file", "entry"]).loc[list(zip(train.source_file, train.entry)), "hfeatures"].to_numpy())
    varies = raw.min(axis=0) < raw.max(axis=0)
    columns = np.arange(hlf.shape[1])
    assert (hlf[raw.argmin(axis=0), columns][varies] == 0.0).all() and (hlf[raw.argmax(axis=0), columns][varies] == 1.0).all()
    assert (hlf.min(axis=0)[varies] == 0.0).all() and (hlf.max(axis=0)[varies] == 1.0).all() and (hlf[:, ~varies] == 0.5).all()
    gru = sequences_of(pq.read_table(train_path).slice(0, 20), N_ROWS, 19)
    assert gru.shape == (20, N_ROWS, 19)
    np.testing.assert_allclose(gru.mean(axis=1), 0.0, atol=1e-4)  # per-event standardisation
    onehot = np.stack(train.encoded_label.to_numpy())
    assert (onehot.argmax(axis=1) == train.label.to_numpy()).all() and (onehot.sum(axis=1) == 1).all()
    # The training set is shuffled: its rows do not follow the ingestion order.
    written = pq.read_table(train_path, columns=["source_file", "entry"]).to_pandas()
    assert not written.equals(written.sort_values(["source_file", "entry"]).reset_index(drop=True))


def written_rows(directory: str) -> pa.Table:
    """A Spark output's rows as written: its part files in part order."""
    return pa.concat_tables(pq.read_table(path) for path in sorted(glob.glob(os.path.join(directory, "part-*.parquet"))))


def test_feature_preparation_run_twice_writes_the_same_tables_in_the_same_order(ingested, prepared, tmp_path):
    paths, counts = prepared
    again_paths, again = prepare(ingested[0], tmp_path / "again")
    assert {k: v for k, v in again.items() if k != "job_seconds"} == {k: v for k, v in counts.items() if k != "job_seconds"}
    for first, second in zip(paths[:3], again_paths[:3]):
        assert written_rows(first).num_rows > 0 and written_rows(first).equals(written_rows(second)), first


def test_global_scaling_keeps_padding_and_its_moments_are_written_once(ingested, prepared, tmp_path):
    (train_path, validation_path, _, _), counts = prepared
    (again_train, again_validation, _, _), again = prepare(ingested[0], tmp_path / "global", scaling="global")
    assert all(again[split] == counts[split] for split in ("train", "validation", "test"))  # the split does not depend on it
    for first, second in ((train_path, again_train), (validation_path, again_validation)):
        assert table(first)[["source_file", "entry"]].equals(table(second)[["source_file", "entry"]])
    written = pq.read_table(again_train).slice(0, 1)
    gru, n = sequences_of(written, N_ROWS, 19)[0], written.column("n_particles")[0].as_py()
    assert gru[:n].any() and not gru[n:].any()  # global scaling: padding stays zero, maskable
    # The mean and std, fitted on the training rows, in preprocessing.json: the training rows they
    # scaled have mean 0 and std 1 per feature (constant features: std 0, left as they are).
    preprocessing = Preprocessing.read(tmp_path / "global" / "preprocessing.json")
    assert preprocessing.particle_scaling == "global" and len(preprocessing.particle_moments["mean"]) == 19
    rows, _ = numpy_of_ragged(pq.read_table(again_train, columns=["GRU_input"]).column("GRU_input"), 19)
    varying = np.asarray(preprocessing.particle_std) > 0
    np.testing.assert_allclose(rows[:, varying].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(rows[:, varying].std(axis=0), 1.0, rtol=1e-4)
    assert not glob.glob(f"{tmp_path}/global/*.parquet/*.json")  # nowhere else
    assert Preprocessing.read(os.path.join(os.path.dirname(train_path), "preprocessing.json")).particle_moments is None  # per-event: nothing to undo


def test_the_preprocessing_round_trips_through_json_and_names_a_bad_file(prepared, tmp_path):
    """What the features stage writes is read back field for field; a file without a field, or with
    features named otherwise, fails in one line naming it."""
    path = os.path.join(os.path.dirname(prepared[0][0]), "preprocessing.json")
    preprocessing = Preprocessing.read(path)
    assert preprocessing == Preprocessing.from_json(json.loads(json.dumps(preprocessing.to_json())), "copy")
    assert preprocessing.quirks == CORRECTED and preprocessing.hlf_scaling == "min_max" and len(preprocessing.hlf_min) == 14
    broken = tmp_path / "preprocessing.json"
    broken.write_text(json.dumps({k: v for k, v in preprocessing.to_json().items() if k != "hlf_max"}))
    with pytest.raises(InputError, match=f"^{broken}: preprocessing lacks 'hlf_max'$"):
        Preprocessing.read(broken)
    broken.write_text(json.dumps(dict(preprocessing.to_json(), particle_names=["PT"])))
    with pytest.raises(InputError, match=f"^{broken}: preprocessing's particle_names differ"):
        Preprocessing.read(broken)


@pytest.mark.reliability("bad input")
def test_feature_preparation_needs_every_class(ingested, tmp_path):
    frame = pq.read_table(ingested[0])
    only_two = tmp_path / "two.parquet"
    pq.write_table(frame.filter(frame.column("label").to_numpy() != 0), only_two)
    with pytest.raises(InputError, match=r"no selected events of class 'qcd', cannot balance the classes"):
        prepare(only_two, tmp_path / "out")
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_the_original_quirk_validates_on_the_test_set(ingested, tmp_path):
    """With the original's quirks no events are held out to validate: every training candidate trains."""
    (train_path, validation_path, _, _), counts = prepare(ingested[0], tmp_path / "original", quirks=ORIGINAL)
    assert counts["validation_set"] == "test" and sum(counts["validation"].values()) == 0
    assert Dataset.open(validation_path).rows == 0 and Dataset.open(train_path).rows == sum(counts["train"].values()) > 0


def test_ingestion_only_reads_the_raw_files(samples, tmp_path):
    """Raw inputs are never written: the same bytes and modification times after an ingestion, and
    nothing added beside them."""
    import hashlib

    files = [path for sample in samples for path in sample["files"]]
    folders = {os.path.dirname(path) for path in files}

    def state():
        with_bytes = {path: (hashlib.sha256(open(path, "rb").read()).hexdigest(), os.stat(path).st_mtime_ns) for path in files}
        return with_bytes, {folder: sorted(os.listdir(folder)) for folder in folders}

    before = state()
    ingest(samples, tmp_path / "ingest")
    assert state() == before


@pytest.mark.reliability("kill point")
def test_a_worker_killed_during_ingestion_on_a_standalone_cluster_changes_nothing(samples, ingested, tmp_path):
    """A real 2-worker standalone cluster; as soon as the first task has written its part, one worker's
    JVM is SIGKILLed with its executor and Python workers. The job completes on the other worker with
    exactly the output of a clean run."""
    import json
    import signal
    import threading
    import time
    import urllib.request

    from dltrigger.tools.cluster import standalone_cluster

    out = tmp_path / "out"
    killed = {}

    def kill_a_worker_mid_job(state):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if list(out.glob("events.parquet.partial-*/part-*.parquet")):
                worker = next(entry for entry in state["pids"] if entry["name"] == "worker-0")
                killed["finished_before"] = (out / "events.parquet").exists()
                os.killpg(worker["pid"], signal.SIGKILL)  # the worker daemon, its executor and Python workers
                killed["pid"] = worker["pid"]
            time.sleep(0.05)

    with standalone_cluster(workers=2, cores=1, memory="1g", log_dir=tmp_path / "cluster") as state:
        watcher = threading.Thread(target=kill_a_worker_mid_job, args=(state,), daemon=True)
        watcher.start()
        spark = dict(STAGE_SPARK, master=state["master"], executor_memory="768m")
        events, cutflow = ingest(samples, out, spark=spark)
        watcher.join()
        with urllib.request.urlopen(f"{state['webui']}/json/", timeout=5) as reply:
            alive = json.load(reply)["aliveworkers"]
    assert killed.get("pid") and killed["finished_before"] is False and alive == 1
    assert_same_ingestion((events, cutflow), ingested)


def isolated_lepton_events(path: str) -> int:
    """The events of a flat Delphes file that pass the isolated-lepton selection, counted one lepton at a
    time by its definition (dltrigger.physics.selection's docstring): an electron or tight muon with pT > 23 GeV
    and |eta| < 2.5 whose cone of dR < 0.3 (tracks above 0.5 GeV but its own, photons and neutral hadrons
    above 1 GeV) sums to less than 0.45 of its pT."""
    collections = {"Electron": "PT", "MuonTight": "PT", "EFlowTrack": "PT", "EFlowPhoton": "ET", "EFlowNeutralHadron": "ET"}
    with uproot.open(path) as file:
        tree = file["Delphes"]
        columns = tree.arrays([f"{name}.{field}" for name, pt in collections.items() for field in (pt, "Eta", "Phi")], library="np")
        n_events = tree.num_entries
    event = lambda name, i: [columns[f"{name}.{field}"][i].astype(np.float64) for field in (collections[name], "Eta", "Phi")]
    passed = 0
    for i in range(n_events):
        # (each map, its threshold, and the squared distance within which a track is the lepton's own: dR < 1e-4)
        maps = (("EFlowTrack", 0.5, 1e-8), ("EFlowPhoton", 1.0, -1.0), ("EFlowNeutralHadron", 1.0, -1.0))
        cones = [(*event(name, i), threshold, own) for name, threshold, own in maps]
        isolated = False
        for pt, eta, phi in (lepton for name in ("Electron", "MuonTight") for lepton in zip(*event(name, i))):
            if pt <= 23.0 or abs(eta) >= 2.5:
                continue
            around = 0.0
            for values, etas, phis, threshold, own in cones:
                distance2 = (etas - eta) ** 2 + ((phis - phi + np.pi) % (2 * np.pi) - np.pi) ** 2
                around += values[(values > threshold) & (distance2 < 0.3**2) & (distance2 >= own)].sum()
            isolated |= around / pt < 0.45
        passed += isolated
    return passed


def test_real_delphes_layout_ingests_as_the_flat_layout(tmp_path):
    """The same events written by ROOT itself in Delphes' own layout (split TClonesArray branches:
    Electron/Electron.PT beside fUniqueID, fBits and members not read, plus Electron_size; see
    tests/fixtures/README.md) and in the flat layout of our generator ingest to identical features."""
    fixtures = os.path.join(os.path.dirname(__file__), "fixtures")
    native, flat = (os.path.join(fixtures, f"delphes_{name}.root") for name in ("native", "flat"))
    with uproot.open(native) as file:
        keys = set(file["Delphes"].keys(recursive=True))
    assert {"Electron/Electron.PT", "Electron/Electron.fUniqueID", "Electron_size"} <= keys
    samples = [{"sample": "native", "label": "ttbar", "files": [native]}, {"sample": "flat", "label": "ttbar", "files": [flat]}]
    events, cutflow = ingest(samples, tmp_path)
    frame = table(events)
    native_rows, flat_rows = (frame[frame.source_file == path].drop(columns="source_file").reset_index(drop=True) for path in (native, flat))
    selected = isolated_lepton_events(flat)
    assert len(native_rows) == len(flat_rows) == selected > 0
    assert native_rows.drop(columns=["hfeatures", "lfeatures"]).equals(flat_rows.drop(columns=["hfeatures", "lfeatures"]))
    for column in ("hfeatures", "lfeatures"):
        for a, b in zip(native_rows[column], flat_rows[column]):
            np.testing.assert_array_equal(a, b)
    assert cutflow.read_text().splitlines()[-1] == f"isolated lepton\t0\t{2 * selected}\t0"  # both files, as tt̄


@pytest.mark.reliability("bad input")
def test_ragged_particle_rows_that_are_not_whole_rows_are_named(ingested, tmp_path):
    """An ingested table whose particle list is not n_particles rows of 19 values stops the feature
    preparation with one line naming the file and the column, and writes nothing."""
    import pyarrow as pa

    part = sorted(ingested[0].glob("part-*.parquet"))[0]
    original = pq.read_table(part)
    values = original.column("lfeatures").combine_chunks()
    broken = pa.ListArray.from_arrays(
        pa.concat_arrays([pa.array([0], pa.int32()), pa.compute.add(values.offsets[1:], pa.scalar(1, pa.int32()))]),
        pa.concat_arrays([pa.array([0.0], pa.float32()), values.flatten()]),
    )
    events = tmp_path / "events.parquet"
    events.mkdir()
    for other in sorted(ingested[0].glob("part-*.parquet"))[1:]:
        os.symlink(other, events / other.name)
    pq.write_table(original.set_column(original.schema.get_field_index("lfeatures"), "lfeatures", broken), events / part.name)
    with pytest.raises(InputError, match=rf"{part.name}: column lfeatures: row 0 holds \d+ values, not a multiple of 19$"):
        prepare(events, tmp_path / "out")
    assert not (tmp_path / "out" / "train.parquet").exists() and not (tmp_path / "out" / "test.parquet").exists()


def test_features_written_in_the_original_schema_train_on_the_same_sequences(prepared, tmp_path):
    """The export to the original's published schema holds, per event, the 14 HLF, the 801 x 19 sequence
    flattened to 15,219 doubles (the workflow's ragged rows with their padding, bit for bit as floats),
    the one-hot label and the label; the training reader gives the same batches from either layout."""
    from dltrigger.features import run_export
    from dltrigger.train.data import Dataset

    (train_path, _, test_path, _), counts = prepared
    outputs = {split: str(tmp_path / f"{split}Undersampled_InclusiveClassifier.parquet") for split in ("train", "test")}
    written = run_export({"train": train_path, "test": test_path}, outputs, STAGE_SPARK, 2)
    assert written == {split: sum(counts[split].values()) for split in ("train", "test")}
    schema = pq.read_schema(next(iter(sorted((tmp_path / "testUndersampled_InclusiveClassifier.parquet").glob("part-*.parquet")))))
    assert schema.names == ["HLF_input", "GRU_input", "encoded_label", "label"]
    assert str(schema.field("GRU_input").type) == "list<element: double not null>"
    ours, theirs = Dataset.open(test_path), Dataset.open(outputs["test"])
    assert ours.ragged and not theirs.ragged and ours.rows == theirs.rows
    columns = ("HLF_input", "GRU_input", "label")
    for mine, exported in zip(ours.batches(0, ours.rows, 64, columns), theirs.batches(0, theirs.rows, 64, columns)):
        for name in columns:
            np.testing.assert_array_equal(mine[name], exported[name])
    assert mine["GRU_input"].shape[1:] == (N_ROWS, 19)
