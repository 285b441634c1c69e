"""Evaluation metrics on scores with known answers, trigger rates, the tables, and the figures."""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import auc

from dltrigger.core.arrays import arrow_lists
from dltrigger.core.errors import InputError
from dltrigger.core.schema import CLASSES, HLF_NAMES
from dltrigger.evaluate import plots
from dltrigger.evaluate.metrics import evaluate_model, fpr_at_tpr, read_predictions, roc_curve, run_evaluation, tpr_at_fpr
from dltrigger.evaluate.rates import write_rates
from dltrigger.evaluate.tables import auc_table, trigger_rows, write_tables
from dltrigger.evaluate.uncertainty import run_uncertainties


def phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def binary(labels, score):
    """ROC of class 1 against class 0 through the three-class interface (no class-2 events)."""
    return roc_curve(np.asarray(labels), np.asarray(score, dtype=float), signal=1)


def test_a_perfect_classifier():
    fpr, tpr, _ = binary([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert auc(fpr, tpr) == 1.0
    assert all(tpr_at_fpr(fpr, tpr, p) == 1.0 for p in (0.0, 1e-3, 0.5))
    assert fpr_at_tpr(fpr, tpr, 0.99) == 0.0


def test_an_inverted_classifier():
    fpr, tpr, _ = binary([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert auc(fpr, tpr) == 0.0
    assert fpr_at_tpr(fpr, tpr, 0.99) == 1.0


def test_a_random_classifier_has_auc_one_half():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400_000)
    fpr, tpr, _ = binary(labels, rng.random(len(labels)))
    assert auc(fpr, tpr) == pytest.approx(0.5, abs=3e-3)
    assert tpr_at_fpr(fpr, tpr, 0.1) == pytest.approx(0.1, abs=3e-3)


def test_two_gaussians_give_the_analytic_roc():
    """Signal N(1, 1) against background N(0, 1): AUC = Phi(1/sqrt 2); at FPR 10 % the threshold is
    z = Phi^-1(0.9) = 1.2816 and the TPR 1 - Phi(z - 1)."""
    rng = np.random.default_rng(2)
    n = 300_000
    labels = np.r_[np.zeros(n, int), np.ones(n, int)]
    fpr, tpr, thresholds = binary(labels, np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)])
    assert auc(fpr, tpr) == pytest.approx(phi(1 / math.sqrt(2)), abs=2e-3)  # 0.7602
    assert tpr_at_fpr(fpr, tpr, 0.1) == pytest.approx(1 - phi(1.2816 - 1), abs=4e-3)  # 0.3891
    assert fpr_at_tpr(fpr, tpr, 0.5) == pytest.approx(1 - phi(1), abs=4e-3)  # threshold at 1
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds[1:]) < 0)


def test_ties_count_one_half_like_the_mann_whitney_statistic():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    score = rng.integers(0, 6, 300).astype(float)  # heavy ties
    fpr, tpr, _ = binary(labels, score)
    signal, background = score[labels == 1], score[labels == 0]
    pairs = (signal[:, None] > background[None, :]) + 0.5 * (signal[:, None] == background[None, :])
    assert auc(fpr, tpr) == pytest.approx(pairs.mean(), abs=1e-12)
    # Tied events pass together: one operating point per distinct score (+ the empty selection).
    assert len(fpr) == len(np.unique(score)) + 1


def test_operating_points_interpolate_between_roc_points():
    # Points: (0, 0), (0, 0.5), (0.5, 0.5), (0.5, 1), (1, 1).
    fpr, tpr, _ = binary([1, 0, 1, 0], [4.0, 3.0, 2.0, 1.0])
    assert list(zip(fpr, tpr)) == [(0, 0), (0, 0.5), (0.5, 0.5), (0.5, 1), (1, 1)]
    assert tpr_at_fpr(fpr, tpr, 0.25) == 0.5
    assert tpr_at_fpr(fpr, tpr, 0.5) == 1.0  # the best point at exactly that FPR
    assert fpr_at_tpr(fpr, tpr, 0.75) == 0.5
    assert fpr_at_tpr(fpr, tpr, 0.5) == 0.0
    fpr, tpr, _ = binary([1, 0], [2.0, 1.0])  # (0, 0), (0, 1), (1, 1)
    assert fpr_at_tpr(fpr, tpr, 0.99) == 0.0


def three_class_scores(n_per_class: int, separation: float, seed: int = 4):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    logits = rng.normal(0, 1, (len(labels), 3)) + separation * np.eye(3)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, scores


def test_evaluate_model_metrics_confusion_and_operating_point():
    labels, scores = three_class_scores(20_000, 2.5)
    metrics, curves = evaluate_model(labels, scores)
    assert metrics["test_events"] == {"qcd": 20_000, "ttbar": 20_000, "wjets": 20_000}
    confusion = np.array(metrics["confusion"])
    assert confusion.sum() == 60_000 and np.array_equal(confusion.sum(axis=1), [20_000] * 3)
    assert np.allclose(np.array(metrics["confusion_normalized"]).sum(axis=1), 1)
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / 60_000)
    for signal, name in enumerate(CLASSES):
        selector = metrics["selectors"][name]
        fpr, tpr, _ = roc_curve(labels, scores[:, signal], signal)
        assert selector["auc"] == pytest.approx(auc(fpr, tpr), abs=1e-12) and 0.9 < selector["auc"] < 1
        point = selector["operating_point"]
        passed = scores[:, signal] >= point["threshold"]
        # The loosest threshold with >= 99 % signal efficiency: one step tighter drops below 99 %.
        assert point["tpr"] == pytest.approx(passed[labels == signal].mean()) and point["tpr"] >= 0.99
        tighter = scores[:, signal] > point["threshold"]
        assert tighter[labels == signal].mean() < 0.99
        for k, other in enumerate(CLASSES):
            assert point["efficiency"][other] == pytest.approx(passed[labels == k].mean())
        # The thinned curve for the plots keeps the area.
        thinned = curves[curves["selector"] == name]
        assert len(thinned) < 3_300 < len(fpr)
        assert auc(thinned["fpr"].to_numpy(), thinned["tpr"].to_numpy()) == pytest.approx(selector["auc"], abs=1e-4)
    # 40,000 background events resolve FPR 1e-3 (40 events); a small test set does not.
    assert metrics["selectors"]["qcd"]["tpr_at_fpr"]["0.001"] is not None
    small, _ = evaluate_model(*three_class_scores(100, 2.5))
    points = small["selectors"]["qcd"]["tpr_at_fpr"]  # 200 background events
    assert points["0.001"] is None and points["0.01"] is not None and points["0.1"] is not None


def test_trigger_rates_weight_backgrounds_by_cross_section():
    metrics = {
        "model": "hlf",
        "test_events": {"qcd": 100, "ttbar": 100, "wjets": 100},
        "selectors": {
            name: {
                "auc": 0.9,
                "tpr_at_fpr": {"0.001": None, "0.01": 0.5, "0.1": 0.9},
                "operating_point": {"threshold": 0.3, "tpr": 0.99, "fpr": 0.2, "efficiency": efficiency},
            }
            for name, efficiency in (
                ("qcd", {"qcd": 0.99, "ttbar": 0.5, "wjets": 0.1}),
                ("ttbar", {"qcd": 0.0, "ttbar": 0.99, "wjets": 0.0}),
                ("wjets", {"qcd": 0.2, "ttbar": 0.3, "wjets": 0.99}),
            )
        },
    }
    sigma = {"qcd": 1000.0, "ttbar": 10.0, "wjets": 3000.0}
    hz = 1e-36 * 1e34  # Hz per pb at 1e34 cm^-2 s^-1
    rows = {row["selector"]: row for row in trigger_rows(metrics, {c: s * hz for c, s in sigma.items()})}
    assert rows["qcd"]["rate_before_hz"] == pytest.approx(3010 * hz)
    assert rows["qcd"]["rate_after_hz"] == pytest.approx((10 * 0.5 + 3000 * 0.1) * hz)
    assert rows["qcd"]["reduction"] == pytest.approx(3010 / 305) and not rows["qcd"]["reduction_is_lower_bound"]
    # No background event passes: the rate is bounded by one event of each background class.
    assert rows["ttbar"]["reduction_is_lower_bound"]
    assert rows["ttbar"]["rate_after_hz"] == pytest.approx((1000 + 3000) / 100 * hz)
    assert rows["wjets"]["reduction"] == pytest.approx(1010 / (1000 * 0.2 + 10 * 0.3))
    # Unknown cross-section of a background: no rates, the efficiencies still reported.
    unknown = trigger_rows(metrics, {c: None if c == "wjets" else s * hz for c, s in sigma.items()})
    assert "rate_before_hz" not in unknown[0] and unknown[1]["tpr_99"] == 0.99 and "rate_before_hz" in unknown[2]


def test_trigger_cross_sections_from_manifests_and_selected_events(tmp_path):
    manifests = []
    for sample, label, files, extra in (
        ("ttbar", "ttbar", ["a.root"], {"filtered_cross_section_pb": 200.0, "events_kept": 10}),
        ("wjets_1", "wjets", ["b.root", "c.root"], {"filtered_cross_section_pb": 1000.0, "events_kept": 40}),
        ("wjets_2", "wjets", ["d.root"], {"filtered_cross_section_pb": 500.0, "events_kept": 10}),
        ("qcd_delphes", "qcd", ["e.root"], {}),
    ):
        path = tmp_path / f"{sample}.json"
        path.write_text(json.dumps({"sample": sample, "label": label, "files": files, **extra}))
        manifests.append(str(path))
    events = tmp_path / "events.parquet"
    events.mkdir()
    source = ["a.root"] * 5 + ["b.root"] * 6 + ["c.root"] * 4 + ["d.root"] * 10 + ["e.root"] * 3
    pq.write_table(pa.table({"source_file": source}), events / "part-0.parquet")
    rates = write_rates(manifests, str(events), 2e34, str(tmp_path / "rates.json"))
    assert rates["cross_section_pb"] == {"ttbar": pytest.approx(100.0), "wjets": pytest.approx(250.0 + 500.0), "qcd": None}
    assert rates["rate_hz"]["ttbar"] == pytest.approx(100 * 1e-36 * 2e34) and rates["rate_hz"]["qcd"] is None
    assert json.loads((tmp_path / "rates.json").read_text()) == rates


def write_predictions(directory, labels, scores):
    directory.mkdir(parents=True)
    table = pa.table(
        {
            **{f"prob_{c}": scores[:, k].astype(np.float32) for k, c in enumerate(CLASSES)},
            "label": labels.astype(np.int32),
            "source_file": ["test.root"] * len(labels),
            "entry": np.arange(len(labels)),
            "event_number": np.arange(len(labels)),
        }
    )
    pq.write_table(table, directory / "part-00000.parquet")


def test_predictions_without_a_class_are_refused_in_one_line(tmp_path):
    labels, scores = three_class_scores(10, 1.0)
    write_predictions(tmp_path / "p", labels[labels != 2], scores[labels != 2])
    with pytest.raises(InputError, match=r"p: no test events of class wjets: a ROC curve needs every class$"):
        read_predictions(str(tmp_path / "p"))


def test_tables_figures_and_reproducible_bytes(tmp_path):
    models = ["hlf", "inclusive"]
    for seed, model in enumerate(models):
        labels, scores = three_class_scores(500, 1.5 + seed, seed=seed)
        write_predictions(tmp_path / model / "predictions", labels, scores)
        run_evaluation(
            str(tmp_path / model / "predictions"),
            str(tmp_path / model / "metrics.json"),
            str(tmp_path / model / "roc.tsv"),
            model=model,
            engine="torch",
        )
        history = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e, "accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e} for e in (1, 2, 3)]
        (tmp_path / model / "history.json").write_text(json.dumps(history))
    rates = {"luminosity_cm2s": 2e34, "cross_section_pb": {"qcd": 2000.0, "ttbar": 100.0, "wjets": 3000.0}}
    rates["rate_hz"] = {c: s * 1e-36 * 2e34 for c, s in rates["cross_section_pb"].items()}
    (tmp_path / "rates.json").write_text(json.dumps(rates))
    metrics = [str(tmp_path / m / "metrics.json") for m in models]
    uncertainties = str(tmp_path / "uncertainties.json")
    run_uncertainties({m: str(tmp_path / m / "predictions") for m in models}, str(tmp_path / "rates.json"), uncertainties, 200, seed=3)
    tables = {f"{name}_{kind}": str(tmp_path / f"{name}.{kind}") for name in ("auc", "trigger", "ordering") for kind in ("tsv", "md")}
    write_tables(metrics, str(tmp_path / "rates.json"), uncertainties, tables)
    aucs = pd.read_csv(tables["auc_tsv"], sep="\t")
    assert list(aucs["model"]) == ["hlf"] * 3 + ["inclusive"] * 3
    assert aucs.loc[0, "paper_auc"] == 0.9874 and aucs["auc"].between(0.5, 1).all() and (aucs["auc_error"] > 0).all()
    for model in models:  # the bootstrap's nominal values are the evaluation's
        expected = json.loads((tmp_path / model / "metrics.json").read_text())["selectors"]
        assert aucs[aucs.model == model]["auc"].tolist() == pytest.approx([expected[c]["auc"] for c in CLASSES], rel=1e-6)
    trigger = pd.read_csv(tables["trigger_tsv"], sep="\t")
    assert (trigger["tpr_99"] >= 0.99).all() and (trigger["reduction"] >= 1).all() and (trigger["reduction_error"] > 0).all()
    assert (tmp_path / "auc.md").read_text().startswith("| model | selector | auc |")
    assert re.search(r"\| hlf \| qcd \| 0\.\d+ ± 0\.\d+ \| 0\.9874 \|", (tmp_path / "auc.md").read_text())
    ordering = pd.read_csv(tables["ordering_tsv"], sep="\t")
    assert ordering[["pair", "selector", "metric"]].values.tolist()[:2] == [
        ["inclusive - hlf", "qcd", "auc"],
        ["inclusive - hlf", "qcd", "fpr_at_tpr_0.99"],
    ]
    assert ordering[ordering.metric == "auc"].beyond_2_sigma.all()  # the better-separated "inclusive" scores win everywhere

    events = tmp_path / "events.parquet"
    events.mkdir()
    labels = np.repeat([0, 1, 2], 50)
    hlf = np.random.default_rng(5).normal(size=(150, len(HLF_NAMES))).astype(np.float32)
    hlf[:, HLF_NAMES.index("nJets")] = labels + 1
    pq.write_table(
        pa.table({"hfeatures": arrow_lists(hlf, len(HLF_NAMES)), "n_particles": labels * 10 + 5, "label": labels.astype(np.int32)}),
        events / "part-0.parquet",
    )
    (tmp_path / "cutflow.tsv").write_text("cut\tqcd\tttbar\twjets\nread\t100\t80\t90\nisolated lepton\t60\t70\t75\n")
    (tmp_path / "counts.json").write_text(json.dumps({"train": {"qcd": 48, "ttbar": 48, "wjets": 48}, "test": {"qcd": 12, "ttbar": 12, "wjets": 12}}))

    settings = {"label": "dltrigger", "dpi": 40, "sqrt_s_tev": 13.0, "max_events_per_class": 30}
    curves = {m: str(tmp_path / m / "roc.tsv") for m in models}
    per_model = dict(zip(models, metrics))
    selectors = [f"{c}_{axis}_{kind}" for c in CLASSES for axis in ("linear", "log") for kind in ("png", "pdf")]
    jobs = [
        ("roc", lambda outputs: plots.draw_roc(curves, per_model, uncertainties, outputs, settings), selectors),
        ("trigger", lambda outputs: plots.draw_trigger(curves, per_model, str(tmp_path / "rates.json"), outputs, settings), ("png", "pdf")),
        (
            "model",
            lambda outputs: plots.draw_models({m: str(tmp_path / m / "history.json") for m in models}, per_model, outputs, settings),
            [f"{m}_{figure}_{kind}" for m in models for figure in ("training", "confusion") for kind in ("png", "pdf")],
        ),
        (
            "cutflow",
            lambda outputs: plots.draw_cutflow(
                str(tmp_path / "cutflow.tsv"), str(tmp_path / "counts.json"), str(tmp_path / "rates.json"), outputs, settings
            ),
            ("png", "pdf"),
        ),
        ("features", lambda outputs: plots.draw_features(str(events), outputs, settings), ("png", "pdf")),
    ]
    for figure, draw, names in jobs:
        digests = []
        for attempt in ("a", "b"):
            outputs = {name: str(tmp_path / f"{figure}_{name}_{attempt}.{name[-3:]}") for name in names}
            draw(outputs)
            digests.append([hashlib.sha256(open(path, "rb").read()).hexdigest() for path in outputs.values()])
            assert all(open(path, "rb").read(4) in (b"\x89PNG", b"%PDF") for path in outputs.values())
        assert digests[0] == digests[1], f"{figure}: a second drawing differs"
    assert plots.cutflow_steps(str(tmp_path / "cutflow.tsv"), str(tmp_path / "counts.json")).loc["balanced"].tolist() == [60, 60, 60]
    sample = plots.feature_sample(str(events), 30)
    assert {k: len(v) for k, v in sample.items()} == {"qcd": 30, "ttbar": 30, "wjets": 30}
    assert np.array_equal(sample["wjets"][:, -1], np.full(30, 25)) and np.array_equal(sample["ttbar"][:, HLF_NAMES.index("nJets")], np.full(30, 2))


def gaussian_pair(n: int, seed: int):
    """Three classes whose scores for class 1 are N(1, 1) for its events and N(0, 1) for the others'."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n)
    scores = rng.normal(0, 1, (3 * n, 3))
    scores[:, 1] += labels == 1
    return labels, scores


def test_bootstrap_intervals_cover_the_analytic_auc_and_shrink_like_one_over_root_n():
    """Two unit Gaussians one sigma apart: AUC = Phi(1/sqrt 2). Over 200 independent test sets, the 68 %
    interval covers it 68 % of the time (within 3 sigma of a binomial), its half-width is the spread of
    the AUC between test sets, and it falls like 1/sqrt(n)."""
    from dltrigger.evaluate.uncertainty import resampling_weights, selector_metrics, summary

    exact = phi(1 / math.sqrt(2))

    def auc_with_error(n, trial):
        labels, scores = gaussian_pair(n, seed=100 * n + trial)
        metric = lambda weights: selector_metrics(labels, scores[:, 1], 1, weights, (0.1,), 0.99)["auc"]
        return summary(metric(np.ones((1, labels.size), np.int32))[0], metric(resampling_weights(np.arange(labels.size), 200, seed=trial)))

    small = [auc_with_error(300, trial) for trial in range(200)]
    covered = np.mean([result["low"] <= exact <= result["high"] for result in small])
    assert 0.58 <= covered <= 0.78
    spread = np.std([result["value"] for result in small])
    assert np.mean([result["error"] for result in small]) == pytest.approx(spread, rel=0.2)
    large = [auc_with_error(1200, trial) for trial in range(20)]
    assert np.mean([r["error"] for r in small]) / np.mean([r["error"] for r in large]) == pytest.approx(2.0, rel=0.15)  # 4x the events


def test_paired_bootstrap_orders_a_better_classifier_and_not_an_identical_one():
    from dltrigger.evaluate.uncertainty import bootstrap

    labels, scores = gaussian_pair(400, seed=8)
    perfect = np.eye(3)[labels] + 0.01 * scores  # ranks every event of its class first
    result = bootstrap(labels, {"gaussian": scores, "same": scores.copy(), "perfect": perfect}, list(CLASSES), 300, 5, (0.1,), 0.99)
    identical = result["pairs"]["same - gaussian"]["ttbar"]["auc"]
    assert identical["value"] == 0 and identical["error"] == 0 and not identical["beyond_1_sigma"]
    better = result["pairs"]["perfect - gaussian"]["ttbar"]["auc"]
    assert better["value"] > 0 and better["beyond_2_sigma"] and better["sigmas"] > 2
    assert result["models"]["perfect"]["ttbar"]["auc"]["value"] == 1.0


def test_bootstrap_resamples_are_seeded_and_shared_by_all_classifiers():
    from dltrigger.evaluate.uncertainty import resampling_weights

    events = np.arange(50)
    weights = resampling_weights(events, 20, seed=3)
    assert weights.shape == (20, 50) and (weights.sum(axis=1) == 50).all()
    assert np.array_equal(weights, resampling_weights(events, 20, seed=3)) and not np.array_equal(weights, resampling_weights(events, 20, seed=4))


def test_copies_of_one_generated_event_are_drawn_together():
    """Events of a group (the redecayed copies of one QCD event) are drawn as one: each resample weights
    them alike; a test set of copies has the error of its independent events, not of its rows."""
    from dltrigger.evaluate.uncertainty import bootstrap, resampling_weights

    groups = np.repeat(np.arange(25), 4)  # 100 events, 25 generated events of 4 copies each
    weights = resampling_weights(groups, 50, seed=1)
    assert (weights.reshape(50, 25, 4) == weights.reshape(50, 25, 4)[:, :, :1]).all() and (weights.sum(axis=1) == 100).all()
    labels, scores = gaussian_pair(50, seed=2)
    one_in_six = slice(0, None, 6)  # 25 events of all three classes
    labels, scores = np.repeat(labels[one_in_six], 4), np.repeat(scores[one_in_six], 4, axis=0)  # every event copied 4 times
    as_groups = bootstrap(labels, {"m": scores}, list(CLASSES), 400, 3, (0.1,), 0.99, groups=groups)
    as_rows = bootstrap(labels, {"m": scores}, list(CLASSES), 400, 3, (0.1,), 0.99)
    error = lambda result: result["models"]["m"]["ttbar"]["auc"]["error"]
    assert as_groups["independent_events"] == 25 and error(as_groups) == pytest.approx(2 * error(as_rows), rel=0.3)


def test_binomial_errors_and_a_menu_s_output_rate_by_hand():
    from dltrigger.core.rates import binomial_error, output_rate

    # sqrt(p (1 - p) / n): 25 of 100 -> sqrt(0.25 * 0.75 / 100) = 0.0433013; nothing counted, or all: 0.
    assert binomial_error(25, 100) == pytest.approx(0.0433013, rel=1e-6)
    assert binomial_error([0, 10], [0, 10]).tolist() == [0.0, 0.0]
    # A menu: QCD 1000 Hz in, 10 of 1000 accepted; tt̄ 10 Hz, 90 of 100; W+jets 200 Hz, 50 of 100.
    # Rate: 1000 x 0.01 + 10 x 0.9 + 200 x 0.5 = 119 Hz. Error: the classes' in quadrature,
    # (1000 sqrt(0.01 x 0.99 / 1000))² + (10 sqrt(0.9 x 0.1 / 100))² + (200 sqrt(0.5 x 0.5 / 100))²
    # = 9.9 + 0.09 + 100 = 109.99 Hz², so 10.48761 Hz.
    rate, error = output_rate([1000.0, 10.0, 200.0], [10, 90, 50], [1000, 100, 100])
    assert rate == pytest.approx(119.0, rel=1e-12) and error == pytest.approx(10.48761, rel=1e-6)


def test_the_pull_is_the_distance_to_the_paper_in_our_uncertainty():
    """HLF against the original's 0.9874 / 0.9856 / 0.9814: 0.9774 ± 0.005 is -2.0 σ, 0.9886 ± 0.003 is
    +1.0 σ, and an AUC without an uncertainty has no pull."""
    uncertainties = {
        "models": {
            "hlf": {
                name: {"auc": auc}
                for name, auc in zip(CLASSES, ({"value": 0.9774, "error": 0.005}, {"value": 0.9886, "error": 0.003}, {"value": 0.99, "error": 0.0}))
            }
        }
    }
    metrics = {"model": "hlf", "accuracy": 0.9, "test_events": {"qcd": 1, "ttbar": 1, "wjets": 1}}
    table = auc_table([metrics], uncertainties)
    assert table.pull[:2].tolist() == pytest.approx([-2.0, 1.0], rel=1e-9) and pd.isna(table.pull[2])
