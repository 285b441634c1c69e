"""Ingestion: selection and features on hand-built Delphes events with known answers, an independent
per-event reference implementation on generated events, and the Spark stage with a failing task."""

from __future__ import annotations

import copy
import math

import awkward as ak
import numpy as np
import pytest

from dltrigger.core.arrays import event_starts
from dltrigger.core.schema import HLF_NAMES, LLF_NAMES
from dltrigger.physics import observables
from dltrigger.physics.quirks import CORRECTED, ORIGINAL, Quirks

from helpers import HAND_BUILT, STAGE_SPARK, assert_compiled_once_per_machine, delphes_file


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    path = delphes_file(tmp_path_factory.mktemp("hand") / "hand.root", HAND_BUILT)
    return observables.read(path, 0, len(HAND_BUILT))


def hlf(result, row):
    return dict(zip(HLF_NAMES, result["hlf"][row].tolist()))


def particle_rows(result: dict, event: int) -> np.ndarray:
    """The particle rows of one selected event of a ``features`` result."""
    start = event_starts(result["n_particles"])[event]
    return result["llf"][start : start + result["n_particles"][event]]


def test_hand_built_events_corrected_physics(hand_built):
    result = observables.compute(hand_built, quirks=CORRECTED)
    assert result["cutflow"] == {"read": 5, "finite": 4, "isolation maps": 4, "lepton pT > 23 GeV": 3, "isolated lepton": 2}
    assert result["entry"].tolist() == [0, 4]
    a = hlf(result, 0)
    assert a["HT"] == 140.0 and a["nJets"] == 2 and a["nBjets"] == 1  # jets above 30 GeV within |eta| < 2.6
    assert (a["MET"], a["phiMET"]) == (40.0, pytest.approx(-2.0))
    assert a["MT"] == pytest.approx(math.sqrt(2 * 40 * 50 * (1 - math.cos(3.0))), rel=1e-6)
    assert (a["LepPt"], a["LepEta"], a["LepPhi"], a["LepCharge"], a["LepIsEle"]) == (50.0, 0.5, 1.0, -1.0, 1.0)
    assert a["LepIsoCh"] == pytest.approx(5.0 / 50)  # its own track left out
    assert a["LepIsoGamma"] == pytest.approx(2.0 / 50)
    assert a["LepIsoNeu"] == pytest.approx(4.0 / 50)

    llf = particle_rows(result, 0)
    assert result["n_particles"][0] == 1 + 4 + 2 + 2  # lepton, 4 tracks (own one skipped), 2 photons, 2 neutrals
    column = {name: llf[:, i] for i, name in enumerate(LLF_NAMES)}
    np.testing.assert_allclose(column["Pt"][:9], [50, 30, 5, 20, 2, 2, 3, 4, 6])
    assert column["isEle"][0] == 1 and column["isChHad"][1:5].tolist() == [1] * 4
    assert column["isGamma"][5:7].tolist() == [1, 1] and column["isNeuHad"][7:9].tolist() == [1, 1]
    assert column["Charge"][1:5].tolist() == [1, 1, -1, 1]  # the Charge branch
    assert column["vtxZ"][1:5].tolist() == [5.0, 5.5, 4.0, 4.0] and column["vtxZ"][0] == 0
    assert column["Energy"][0] == pytest.approx(50 * math.cosh(0.5))
    assert column["Pz"][0] == pytest.approx(50 * math.sinh(0.5))
    # The far track sees the kaon across phi = +-pi (dphi = 0.18) and the photon at phi 3.1.
    assert column["ChPFIso"][3] == pytest.approx(2.0 / 20)
    assert column["GammaPFIso"][3] == pytest.approx(3.0 / 20)
    assert column["ChPFIso"][5] == pytest.approx((48 + 5) / 2.0)  # a photon next to the electron's track
    assert llf.shape == (9, 19)  # the real rows only: the padding of the 801-row matrix is not stored
    assert result["llf"].shape == (result["n_particles"].sum(), 19)


def test_hand_built_events_original_quirks(hand_built):
    result = observables.compute(hand_built, quirks=ORIGINAL)
    assert result["cutflow"] == {"read": 5, "finite": 4, "isolation maps": 3, "lepton pT > 23 GeV": 2, "isolated lepton": 1}
    a = hlf(result, 0)
    # Electron and muon both isolated: the original took the larger eta, the muon.
    assert (a["LepPt"], a["LepIsEle"], a["LepCharge"]) == (30.0, 0.0, 1.0)
    assert a["MT"] == pytest.approx(2 * 40 * 30 * (1 - math.cos(1.0)), rel=1e-6)  # no square root
    assert a["LepIsoCh"] == pytest.approx(30.0 / 30 - 1)  # "minus one" for its own track
    column = {name: particle_rows(result, 0)[:, i] for i, name in enumerate(LLF_NAMES)}
    assert column["Charge"][1] == 1.0  # the electron's track: sign(PID 11) = +1, not its charge
    # No phi wrapping: the far track misses the kaon and the photon across phi = +-pi.
    assert column["Pt"][3] == 20.0
    assert column["ChPFIso"][3] == pytest.approx(20.0 / 20 - 1)  # itself minus one; the kaon is missed
    assert column["GammaPFIso"][3] == pytest.approx(3.0 / 20)  # the photon at dphi = 0.1 needs no wrap


def assert_compiled_equals_reference(events: dict, quirks: Quirks) -> None:
    """The compiled cone sums give the numpy reference's results bit for bit: cutflow, selection, every
    feature."""
    compiled, reference = observables.compute(events, quirks), observables.compute(events, quirks, compiled=False)
    assert compiled["cutflow"] == reference["cutflow"]
    for name in ("entry", "hlf", "llf", "n_particles", "weight", "event_number"):
        assert compiled[name].dtype == reference[name].dtype, name
        np.testing.assert_array_equal(compiled[name], reference[name], err_msg=name)


@pytest.mark.parametrize("quirks", [CORRECTED, ORIGINAL])
def test_compiled_observables_equal_the_numpy_reference_on_hand_built_events(hand_built, quirks):
    assert_compiled_equals_reference(hand_built, quirks)


@pytest.fixture(scope="module")
def pileup_chunk(default_config, tmp_path_factory):
    """A W+jets chunk with pileup mu = 20 from a small min-bias pool: hundreds of particles per event."""
    from dltrigger.generate.pileup import build_pool

    from conftest import make_chunk

    directory = tmp_path_factory.mktemp("pileup")
    config = copy.deepcopy(default_config)
    config["pileup"] = {**config["pileup"], "mu": 20, "pool_events": 60}
    build_pool(directory / "pool.parquet", 60, seed=3, sqrt_s_gev=13000.0)
    return make_chunk(config, "wjets", 150, directory, pileup_pool=directory / "pool.parquet")


@pytest.mark.parametrize("quirks", [CORRECTED, ORIGINAL])
def test_compiled_observables_equal_the_numpy_reference_on_generated_chunks(sanity_samples, pileup_chunk, quirks):
    chunks = {**sanity_samples, "wjets with pileup": pileup_chunk}
    for root, meta in chunks.values():
        events = observables.read(str(root), 0, meta["events_kept"])
        assert_compiled_equals_reference(events, quirks)
    piled = observables.compute(observables.read(str(pileup_chunk[0]), None, None), quirks)
    assert (
        piled["n_particles"].mean()
        > 3 * observables.compute(observables.read(str(sanity_samples["wjets"][0]), None, None), quirks)["n_particles"].mean()
    )


def test_ranges_end_on_the_files_clusters_where_they_can(tmp_path):
    """A batch or task that splits a basket makes two reads decompress it: ranges end on the last
    cluster boundary in their second half; clusters larger than that are split where the range ends, and
    the tasks planned for a file carry its clusters."""
    from dltrigger.ingest import aligned_ranges, batches, plan_tasks

    clusters = list(range(2000, 24809, 2000))
    assert aligned_ranges(0, 24809, 6291, clusters) == [(0, 6000), (6000, 12000), (12000, 18000), (18000, 24000), (24000, 24809)]
    assert aligned_ranges(0, 24000, 6000, [6291, 12582, 18873]) == [(0, 6000), (6000, 12000), (12000, 18000), (18000, 24000)]
    assert aligned_ranges(0, 5000, 1500, [2000, 4000]) == [(0, 1500), (1500, 3000), (3000, 4000), (4000, 5000)]
    assert aligned_ranges(100, 100, 10, []) == []
    with pytest.raises(ValueError, match="ranges of 0 entries"):
        aligned_ranges(0, 10, 0, [])
    # A file of 4,100 events is written in baskets of 2,000 (delphes.BASKET_EVENTS).
    path = delphes_file(tmp_path / "clusters.root", [{"MissingET": [(1.0, 0.0)]}] * 4100)
    tasks = plan_tasks([{"sample": "s", "label": "qcd", "files": [path]}], 3000)
    assert [(task["entry_start"], task["entry_stop"], task["clusters"]) for task in tasks] == [(0, 2000, []), (2000, 4100, [4000])]
    assert batches({**tasks[1], "batch_events": 1000}) == [(2000, 3000), (3000, 4000), (4000, 4100)]


def test_a_range_read_in_small_batches_gives_what_one_batch_gives(sanity_samples, pileup_chunk, tmp_path):
    """The ingestion reads an entry range in batches (``batch_events``, from the file's bytes per event):
    the batches' Parquet rows and cutflow are those of the range read at once, and a pileup file's
    batches are smaller than a file without pileup's."""
    import pyarrow.parquet as pq

    from dltrigger.ingest import ingest_ranges, plan_tasks

    root, meta = pileup_chunk
    (task,) = plan_tasks([{"sample": "w", "label": "wjets", "files": [str(root)]}], 100_000)
    (without_pileup,) = plan_tasks([{"sample": "w", "label": "wjets", "files": [str(sanity_samples["wjets"][0])]}], 100_000)
    assert meta["events_kept"] <= task["batch_events"] < without_pileup["batch_events"] / 2  # a small file: one batch
    outputs = {}
    for batch_events in (task["batch_events"], 37):
        directory = tmp_path / str(batch_events)
        directory.mkdir()
        (cutflow,) = ingest_ranges([{**task, "batch_events": batch_events}], 0, CORRECTED, str(directory))
        outputs[batch_events] = (cutflow, pq.read_table(next(directory.glob("part-*.parquet"))))
    (whole_cutflow, whole), (batched_cutflow, batched) = outputs.values()
    assert batched_cutflow == whole_cutflow and whole_cutflow["read"] == meta["events_kept"]
    assert batched.equals(whole) and whole.num_rows == whole_cutflow["isolated lepton"] > 0


def test_the_compiled_kernels_are_compiled_once_per_machine(tmp_path):
    """The first process compiles the kernels into the cache; a second one loads them, compiling nothing."""
    assert_compiled_once_per_machine("from dltrigger.physics import kernels; kernels.warm_up()", "kernels.KERNELS", tmp_path)


def test_every_python_worker_keeps_the_kernels_loaded_and_out_of_the_garbage_collector():
    """What ``on_every_slot`` loads stays in every task slot's worker for the session's later tasks, frozen
    out of Python's garbage collector (whose full passes over numba's objects cost ~0.1 s a task)."""
    import gc

    import pyarrow as pa

    from dltrigger.core.spark import on_every_slot, spark_session
    from dltrigger.physics import kernels

    def report(batches):
        import sys

        for batch in batches:
            loaded = "dltrigger.physics.kernels" in sys.modules
            yield pa.RecordBatch.from_arrays(
                [pa.array([loaded] * batch.num_rows), pa.array([gc.get_freeze_count()] * batch.num_rows)], ["loaded", "frozen"]
            )

    with spark_session("test-slots", STAGE_SPARK, 2) as spark:
        on_every_slot(spark, kernels.warm_up)
        rows = spark.range(8, numPartitions=8).mapInArrow(report, "loaded boolean, frozen long").collect()
    assert len(rows) == 8 and all(row["loaded"] and row["frozen"] > 10_000 for row in rows)


@pytest.mark.parametrize("quirks", [False, True])
def test_vectorized_features_agree_with_a_per_event_reference(sanity_samples, quirks):
    from reference_features import reference

    compared = 0
    for process, (root, meta) in sanity_samples.items():
        events = observables.read(str(root), 0, meta["events_kept"])
        result = observables.compute(events, quirks=Quirks.of(quirks))
        as_lists = {name: ak.to_list(record) for name, record in events.items()}
        expected_entries = []
        for entry in range(meta["events_kept"]):
            event = {name: records[entry] for name, records in as_lists.items()}
            expected = reference(event, quirks)
            if expected is None:
                continue
            expected_entries.append(entry)
            row = len(expected_entries) - 1
            if row >= len(result["entry"]):
                break
            hlf_expected, rows = expected
            np.testing.assert_allclose(result["hlf"][row], np.float32(hlf_expected), rtol=2e-6, atol=1e-6)
            assert result["n_particles"][row] == len(rows)
            np.testing.assert_allclose(particle_rows(result, row), np.float32(rows), rtol=2e-6, atol=1e-5)
            compared += 1
        assert result["entry"].tolist() == expected_entries, process
    assert compared > 200
