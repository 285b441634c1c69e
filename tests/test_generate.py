"""Generation stage: real Pythia events, real fast simulation, real ROOT files read back with uproot."""

from __future__ import annotations

import copy
import json

import awkward as ak
import numpy as np
import pytest
import pythia8mc
import uproot

from dltrigger.generate import detector
from dltrigger.generate.events import DecayLibrary, lepton_isolation, times_through_filter
from dltrigger.generate.processes import WEAK_B_HADRONS
from dltrigger.physics.delphes import SCHEMA, TREE, read_delphes, write_delphes
from dltrigger.physics.observables import BRANCHES
from dltrigger.physics.selection import isolated_lepton_mask

from conftest import SANITY_EVENTS, make_chunk

ALL_BRANCHES = {name: tuple(fields) for name, fields in SCHEMA.items()}


def read_all(path):
    return read_delphes(path, ALL_BRANCHES)


@pytest.mark.parametrize("process", ["ttbar", "qcd"])
def test_same_seed_gives_identical_events_and_other_chunks_differ(config, tmp_path, process):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, _ = make_chunk(config, process, 60, tmp_path / "a")
    again, _ = make_chunk(config, process, 60, tmp_path / "b")
    other, _ = make_chunk(config, process, 60, tmp_path / "a", chunk=1)
    a, b, c = read_all(first), read_all(again), read_all(other)
    for name in SCHEMA:  # compared by content: ROOT files carry a UUID and a timestamp
        assert ak.to_list(a[name]) == ak.to_list(b[name]), name
    assert ak.to_list(a["EFlowTrack"]) != ak.to_list(c["EFlowTrack"])


def test_tree_has_delphes_layout_and_dtypes(sanity_samples):
    root, meta = sanity_samples["ttbar"]
    with uproot.open(root) as file:
        tree = file[TREE]
        assert tree.num_entries == meta["events_kept"] > 0
        for name, fields in SCHEMA.items():
            assert f"{name}_size" in tree
            for field, dtype in fields.items():
                assert tree[f"{name}.{field}"].interpretation.content.to_dtype == np.dtype(dtype)
        assert set(tree["MissingET_size"].array(library="np")) == {1}
        assert set(tree["Event_size"].array(library="np")) == {1}


def test_failed_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "chunk_000.root"
    broken = {"Event": ak.Array([[{"Number": 0, "Weight": 1.0}]])}  # the other collections are missing
    with pytest.raises(KeyError):
        write_delphes(target, broken)
    assert list(tmp_path.iterdir()) == []


def test_lepton_filter_on_known_events():
    events = single_particle_events(
        [
            [(11, 30.0, 0.0, 0.0)],  # isolated electron: kept
            [(13, 30.0, 0.0, 0.0), (211, 40.0, 0.1, 0.1)],  # muon inside a 40 GeV pion's cone: dropped
            [(13, 15.0, 0.0, 0.0)],  # below the pT threshold: dropped
            [(11, 30.0, 3.0, 0.0)],  # outside the tracker: dropped
            [(211, 50.0, 0.0, 0.0)],  # no lepton: dropped
            [(13, 30.0, 0.0, 0.0), (211, 24.0, 0.1, 0.1)],  # isolation 0.8: in the prescaled band below
        ]
    )
    isolation = lepton_isolation(events, 20.0, 2.5)
    np.testing.assert_allclose(isolation, [0.0, 40 / 30, np.inf, np.inf, np.inf, 0.8])
    cut = {"relative_isolation_max": 1.0, "prescaled_above": None, "prescale": 10}
    assert times_through_filter(isolation, cut, np.random.default_rng(0)).tolist() == [1, 0, 0, 0, 0, 1]
    assert times_through_filter(isolation, dict(cut, relative_isolation_max=None), np.random.default_rng(0)).tolist() == [1, 1, 0, 0, 0, 1]
    # The band between 0.6 and 1.0: one in ten of its events kept, each written ten times.
    band = times_through_filter(np.full(10_000, 0.8), dict(cut, prescaled_above=0.6), np.random.default_rng(1))
    assert set(band.tolist()) == {0, 10} and band.mean() == pytest.approx(1.0, abs=0.1)


def test_metadata_records_bookkeeping(sanity_samples, default_config):
    for process, (root, meta) in sanity_samples.items():
        on_disk = json.loads(root.with_suffix(".json").read_text())
        assert on_disk == meta
        generated, copies = SANITY_EVENTS[process], default_config["generate"]["processes"][process]["redecay"]
        assert meta["events_generated"] == generated and meta["redecay_copies"] == copies
        with uproot.open(root) as file:  # the efficiency of the events the file holds, counted there
            assert meta["filter_efficiency"] == pytest.approx(file[TREE].num_entries / (generated * copies), rel=1e-12)
        assert meta["cross_section_error_pb"] < 0.1 * meta["cross_section_pb"]  # Pythia's estimate after a few hundred events
        assert meta["filtered_cross_section_pb"] == pytest.approx(meta["cross_section_pb"] * meta["filter_efficiency"])
        assert meta["generator"]["version"] == "8.317.2"
        assert len(set(meta["seeds"].values())) == 4  # Pythia, detector, decays, prescale: independent streams
    # Known independently: inclusive tt̄ at 13 TeV at leading order is ~0.5 nb (Pythia's default PDF), and
    # Pythia's estimate counts what the leptonic-W hook keeps: every event with a W -> e, mu or tau
    # (f = 1 - (1 - 0.3258)^2 = 0.5455 of them, the default's cuts being open), one in 10 of the others.
    config = default_config["generate"]["processes"]["ttbar"]["leptonic_w"]
    kept = 1 - (1 - 0.3258) ** 2
    assert (config["pt_min_gev"], config["prescale"]) == (0, 10)
    assert 420 < sanity_samples["ttbar"][1]["cross_section_pb"] / (kept + (1 - kept) / 10) < 600


def test_the_leptonic_w_prescale_keeps_the_known_fraction_of_ttbar():
    """tt̄ at the process level only (no shower: fast), through the hook with the default's open cuts: a W
    decays to e, mu or tau (3 x 10.86 %) in f = 1 - (1 - 0.3258)^2 = 0.5455 of the hard processes, which
    pass, and one in 10 of the others passes, so 0.5455 + 0.4545 / 10 = 0.5909 of them. Pythia's
    cross-section drops by that fraction, and the events written (the prescaled ones 10 times) count the
    hard processes again: 1 per hard process in expectation."""
    from dltrigger.generate.processes import COPIES_ENTRY, PROCESS_CARDS, LeptonicWPrescale, make_pythia

    def generate(hooks):
        pythia = make_pythia(PROCESS_CARDS["ttbar"], 11, 13000.0, ["PartonLevel:all = off", "HadronLevel:all = off"], hooks=hooks)
        written = 0.0
        for _ in range(3000):
            assert pythia.next()
            written += pythia.process[COPIES_ENTRY].pol()
        return pythia.infoPython(), written

    (plain, _), (hooked, written) = generate(None), generate(LeptonicWPrescale(0.0, 100.0, 10, seed=5))
    passing = 1 - (1 - 0.3258) ** 2 + (1 - 0.3258) ** 2 / 10
    assert plain.nSelected() == plain.nAccepted() == hooked.nAccepted() == 3000
    # Tolerances of 3 standard deviations: binomial over ~5,000 hard processes, 0.007; Pythia's errors on
    # the two cross-sections, ~1 % each; the written count per hard process, sqrt(9 x 0.4545 / 5,000) = 0.03.
    assert hooked.nAccepted() / hooked.nSelected() == pytest.approx(passing, abs=0.02)
    assert hooked.sigmaGen() / plain.sigmaGen() == pytest.approx(passing, abs=0.03)
    assert written / hooked.nSelected() == pytest.approx(1.0, abs=0.09)


def test_a_manifest_combines_its_chunks_bookkeeping_by_hand(tmp_path):
    """Chunk A: 100 events at 500 pb, 20 kept; chunk B: 300 at 540 pb, 30 kept, each with 2 redecay
    copies. Cross-section weighted by events: (100 x 500 + 300 x 540) / 400 = 530 pb; efficiency 50 of
    400 x 2 trials = 0.0625; filtered: 530 x 0.0625 = 33.125 pb."""
    from dltrigger.generate.manifest import write_manifest

    chunks = []
    for name, generated, sigma, kept in (("a", 100, 500.0, 20), ("b", 300, 540.0, 30)):
        meta = {"process": "ttbar", "events_generated": generated, "redecay_copies": 2, "events_kept": kept, "cross_section_pb": sigma}
        (tmp_path / f"{name}.json").write_text(json.dumps({**meta, "cpu_seconds": 1.5}))
        chunks.append(str(tmp_path / f"{name}.json"))
    manifest = write_manifest(
        tmp_path / "manifest.json", sample="s", label="ttbar", source="generate", files=["a.root", "b.root"], chunk_metadata=chunks
    )
    assert (manifest["events_generated"], manifest["events_kept"], manifest["cpu_seconds"]) == (400, 50, 3.0)
    assert manifest["cross_section_pb"] == pytest.approx(530.0, rel=1e-12)
    assert manifest["filter_efficiency"] == pytest.approx(0.0625, rel=1e-12)
    assert manifest["filtered_cross_section_pb"] == pytest.approx(33.125, rel=1e-12)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_physics_sanity_between_processes(sanity_samples):
    events = {p: read_all(root) for p, (root, _) in sanity_samples.items()}

    def jets30(e):
        return e["Jet"][(e["Jet"].PT > 30) & (np.abs(e["Jet"].Eta) < 2.6)]

    n_jets = {p: ak.mean(ak.num(jets30(e))) for p, e in events.items()}
    n_btag = {p: ak.mean(ak.sum(jets30(e).BTag > 0, axis=1)) for p, e in events.items()}
    met = {p: ak.mean(ak.flatten(e["MissingET"].MET)) for p, e in events.items()}
    assert n_jets["ttbar"] > n_jets["wjets"] + 1.0
    assert n_btag["ttbar"] > 2 * n_btag["wjets"]
    assert met["wjets"] > 25 and met["ttbar"] > 25
    assert met["wjets"] > met["qcd"]  # QCD's MET is only from neutrinos of heavy-flavour decays
    # The heavy-flavour enrichment: QCD events are b/c events, b-tags are common.
    assert n_btag["qcd"] > n_btag["wjets"]


# Fractions of generated events passing the isolated-lepton selection (config/config.yaml, "processes"):
# tt̄ and W+jets from the lepton decays of the W, per event the leptonic-W prescale kept (its replicas
# counted); QCD only via heavy-flavour decays (per redecayed copy).
SELECTED_FRACTION = {"ttbar": (0.38, 0.60), "wjets": (0.36, 0.60), "qcd": (3e-4, 5e-3)}


def test_isolated_lepton_fraction_within_documented_range(sanity_samples):
    for process, (root, meta) in sanity_samples.items():
        selected = isolated_lepton_mask(read_delphes(root, BRANCHES)).sum()
        fraction = selected / (meta["events_generated"] * meta["redecay_copies"])
        low, high = SELECTED_FRACTION[process]
        assert low <= fraction <= high, (process, fraction)


def test_hard_process_veto_keeps_only_heavy_flavour_events():
    from dltrigger.generate.events import heavy_flavour_truth
    from dltrigger.generate.processes import PROCESS_CARDS, HardProcessVeto, make_pythia

    hooks = HardProcessVeto([5], 2.5)
    pythia = make_pythia(PROCESS_CARDS["qcd"], 17, 13000.0, hooks=hooks)
    hadrons = heavy_flavour_truth(pythia.nextBatch(30))
    assert ak.all(ak.any(hadrons.flavour == 5, axis=1))
    info = pythia.infoPython()
    assert info.nTried() > 5 * info.nAccepted()  # most hard processes were vetoed before the shower


def test_redecay_library_conserves_four_momentum():
    library = DecayLibrary.build(seed=3, per_species=50)
    rng = np.random.default_rng(0)
    ids = np.array([511, -521, 531, 421, -4122, 5122])
    p = rng.normal(0, 40, size=(ids.size, 3))
    data = pythia8mc.Pythia("", False).particleData
    masses = np.array([data.m0(int(code)) for code in ids])
    hadrons = {"id": ids, "px": p[:, 0], "py": p[:, 1], "pz": p[:, 2], "e": np.sqrt((p**2).sum(1) + masses**2)}
    hadrons.update(vx=np.zeros(ids.size), vy=np.zeros(ids.size), vz=np.full(ids.size, 7.0))
    chosen = library.choose(ids, rng)
    owner, products = library.decay(hadrons, chosen, rng.normal(size=(ids.size, 4)))
    for component in ("px", "py", "pz", "e"):
        summed = np.bincount(owner, weights=products[component], minlength=ids.size)
        np.testing.assert_allclose(summed, hadrons[component], rtol=1e-6, atol=1e-6)
    # Products start at the hadron's vertex or downstream of it, never behind the beam-line position.
    assert np.all(products["vz"][np.abs(products["pz"]) > 0] != 0)
    assert set(np.abs(products["id"])).isdisjoint(WEAK_B_HADRONS)
    # The decays flagged as holding an e or mu are those with one among their products.
    leptonic = np.isin(np.abs(products["id"]), (11, 13))
    assert (np.bincount(owner, weights=leptonic, minlength=ids.size) > 0).tolist() == library.has_lepton[chosen].tolist()
    assert 0.05 < library.has_lepton.mean() < 0.5  # semileptonic decays, direct or in the cascade


def single_particle_events(rows):
    """Events of given particles (id, pt, eta, phi), at the origin."""
    events = []
    for event in rows:
        particles = []
        for pdg_id, pt, eta, phi in event:
            mass = 0.0 if abs(pdg_id) in (11, 13, 22, 12) else 0.1396
            pz = pt * np.sinh(eta)
            particles.append(
                dict(id=pdg_id, px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pz, e=np.sqrt(pt**2 + pz**2 + mass**2), vx=0.0, vy=0.0, vz=0.0)
            )
        events.append(particles)
    return ak.Array(events)


def test_detector_response_to_single_particles(default_config):
    cfg = default_config["detector"]
    events = single_particle_events(
        [
            [(11, 50.0, 0.5, 1.0)],  # electron: Electron + its track
            [(-13, 40.0, -1.2, -2.0)],  # muon: MuonTight + track, nothing in the calorimeters
            [(22, 30.0, 0.3, 0.0)],  # photon: EFlowPhoton only
            [(12, 60.0, 0.0, 0.5)],  # neutrino: invisible
            [(211, 30.0, 0.0, 0.0), (22, 30.0, 0.1, 3.0)],  # back-to-back: small MET
        ]
    )
    hadrons = ak.Array([[] for _ in range(len(events))])
    hadrons = ak.zip({"pt": hadrons, "eta": hadrons, "phi": hadrons, "flavour": hadrons})
    out = detector.simulate(events, hadrons, cfg, np.random.default_rng(1))
    electrons, muons, tracks = out["Electron"], out["MuonTight"], out["EFlowTrack"]
    assert ak.num(electrons).tolist() == [1, 0, 0, 0, 0]
    assert ak.num(muons).tolist() == [0, 1, 0, 0, 0]
    assert electrons.PT[0, 0] == pytest.approx(50.0, rel=0.1)
    assert (electrons.Eta[0, 0], electrons.Phi[0, 0]) == (tracks.Eta[0, 0], tracks.Phi[0, 0])
    assert (muons.Eta[1, 0], muons.Phi[1, 0], muons.Charge[1, 0]) == (tracks.Eta[1, 0], tracks.Phi[1, 0], 1)
    assert ak.num(out["EFlowPhoton"]).tolist()[1:4] == [0, 1, 0]
    assert out["EFlowPhoton"].ET[2, 0] == pytest.approx(30.0, rel=0.1)
    assert ak.num(out["EFlowNeutralHadron"]).tolist()[:4] == [0, 0, 0, 0]
    met = ak.flatten(out["MissingET"].MET)
    assert met[3] == 0.0  # a lone neutrino: nothing visible, nothing to balance
    assert met[1] == pytest.approx(40.0, rel=0.1)  # a lone muon's track is balanced by missing ET
    assert met[4] < 15.0  # back-to-back pion and photon: only resolution effects


def test_pileup_overlay_adds_pool_events_at_their_own_vertices(tmp_path):
    from dltrigger.generate.pileup import build_pool, load_pool, place_vertices

    build_pool(tmp_path / "pool.parquet", n_events=20, seed=5, sqrt_s_gev=13000.0)
    pool = load_pool(tmp_path / "pool.parquet")
    assert len(pool) == 20 and ak.all(ak.num(pool) > 0)
    events = single_particle_events([[(11, 30.0, 0.0, 0.0)]] * 200)
    rng = np.random.default_rng(2)
    alone = place_vertices(events, None, 0.0, 50.0, 0.01, rng)
    assert ak.all(ak.num(alone) == 1)
    assert np.std(ak.to_numpy(alone.vz[:, 0])) == pytest.approx(50.0, rel=0.2)  # the beam spot
    piled = place_vertices(events, pool, 5.0, 50.0, 0.01, rng)
    assert ak.all(piled.id[:, 0] == 11)  # the hard event first, then the pileup
    extra = ak.to_numpy(ak.num(piled)) - 1
    assert extra.mean() == pytest.approx(5.0 * ak.mean(ak.num(pool)), rel=0.25)
    # Pileup particles sit at other vertices than the hard event's.
    assert ak.mean(abs(piled.vz[:, 1:] - piled.vz[:, 0])) > 20.0


# The same process generated both ways (seeded, so the verdict is fixed): with the cheaper settings and
# without them; (process, pileup mu, Pythia events the plain way, the changes, Pythia events with them).
CHEAPER = {
    "ttbar": ("ttbar", 0, 700, {"leptonic_w": {"pt_min_gev": 0.0, "eta_max": 100.0, "prescale": 10}}, 500),
    "wjets": ("wjets", 0, 700, {"leptonic_w": {"pt_min_gev": 18.0, "eta_max": 2.7, "prescale": 10}}, 500),
    "qcd": ("qcd", 0, 800, {"redecay": 200}, 200),
    "qcd-pileup": ("qcd", 20, 900, {"redecay": 400, "prescaled_above": 0.6}, 250),
}


@pytest.mark.parametrize("case", [pytest.param(case, marks=[pytest.mark.slow] if CHEAPER[case][1] else []) for case in CHEAPER])
def test_cheaper_generation_keeps_the_physics(default_config, tmp_path, case):
    """The leptonic-W prescale (tt̄, W+jets), more redecays per event (QCD) and, with pileup, the lepton
    filter's prescaled isolation band give the plain generation's isolated-lepton cross-section (so its
    trigger rate) within the errors, counting each generated event once with its copies, and the same
    14 HLF distributions (Kolmogorov-Smirnov, p > 0.001 each; the p-values are printed)."""
    from dltrigger.generate.pileup import build_pool
    from dltrigger.generate.validation import SelectedSample, compare

    process, mu, plain_events, change, cheaper_events = copy.deepcopy(CHEAPER[case])
    plain = copy.deepcopy(default_config)
    plain["generate"]["processes"][process].update(leptonic_w=None, redecay=50 if process == "qcd" else 1)
    plain["pileup"] = {"mu": mu, "pool_events": 300}
    cheaper = copy.deepcopy(plain)
    cheaper["generate"]["lepton_filter"]["prescaled_above"] = change.pop("prescaled_above", None)
    cheaper["generate"]["processes"][process].update(change)
    pool = tmp_path / "pool.parquet"
    if mu:
        build_pool(pool, 300, seed=4, sqrt_s_gev=13000.0)
    samples = []
    for name, config, events in (("plain", plain, plain_events), ("cheaper", cheaper, cheaper_events)):
        (tmp_path / name).mkdir()
        chunk = make_chunk(config, process, events, tmp_path / name, sample=f"{process}_{name}", pileup_pool=pool if mu else None)
        samples.append(SelectedSample.of([chunk]))
    result = compare(*samples)
    print(case, {name: round(p, 4) for name, (_, p) in result["ks"].items()}, "pull", round(result["pull"], 2), result["effective_events"])
    assert abs(result["pull"]) < 3
    assert min(p for _, p in result["ks"].values()) > 1e-3
    assert min(result["effective_events"]) > 25  # enough independent events for the tests to mean something


def test_the_generation_comparison_s_pull_by_hand():
    """Plain: 4 generated events selected once each, 1 pb per event: 4 ± sqrt(4 x 1²) = 4 ± 2 pb. Cheaper:
    5 generated events, the first selected twice (two copies, 2 pb together), 1 pb per copy, and a
    generator error of 2 pb: 6 ± sqrt(2² + 4 x 1² + 2²) = 6 ± sqrt(12) pb. Pull: (6 - 4) / sqrt(4 + 12) =
    0.5; independent events 4² / 4 = 4 and 6² / 8 = 4.5. Each HLF: the same 4 values and 2 more above
    them, so the distributions differ most at the 4th value: 4/4 - 4/6 = 1/3."""
    from dltrigger.generate.validation import SelectedSample, compare

    hlf = lambda n: np.arange(n * 14, dtype=np.float64).reshape(n, 14)
    plain = SelectedSample(hlf(4), np.arange(4), np.ones(4), 0.0)
    cheaper = SelectedSample(hlf(6), np.array([0, 0, 1, 2, 3, 4]), np.ones(6), 2.0)
    result = compare(plain, cheaper)
    assert result["cross_section_pb"] == pytest.approx([4.0, 6.0]) and result["cross_section_error_pb"] == pytest.approx([2.0, np.sqrt(12)])
    assert result["pull"] == pytest.approx(0.5, rel=1e-12) and result["effective_events"] == pytest.approx([4.0, 4.5])
    assert [statistic for statistic, _ in result["ks"].values()] == pytest.approx([1 / 3] * 14)
