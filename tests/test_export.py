"""The export of the networks to ONNX: every model's graph gives torch's probabilities on batches of any
size and length, with the awkward cases of real events (particles in one calorimeter tower, an event
without particles, padding), and the trigger's operating threshold."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from dltrigger.core.registry import MODELS, REGISTRY
from dltrigger.core.schema import CLASSES, N_ROWS
from dltrigger.models.onnx_models import onnx_session
from dltrigger.models.torch_models import build
from dltrigger.trigger.export import model_inputs, operating_threshold

from helpers import SETTINGS, SPARK, write_features, write_preprocessing


def particle_rows(events: int, rows: int, seed: int) -> np.ndarray:
    """Zero-padded rows, real ones first; every event's second particle a copy of its first (equal pT,
    eta and phi: one tower), the last event without particles."""
    generator = np.random.default_rng(seed)
    particles = np.zeros((events, rows, 19), dtype=np.float32)
    for event, count in enumerate(generator.integers(2, rows + 1, size=events)):
        particles[event, :count] = generator.normal(size=(count, 19))
        particles[event, 1] = particles[event, 0]
    particles[-1] = 0
    return particles


@pytest.mark.parametrize("model", list(MODELS))
def test_the_exported_graph_gives_torchs_probabilities(model, tmp_path):
    # Each export in a process of its own, as the workflow's jobs do (a second export in one process may
    # fix the row axis: export_onnx refuses such a graph).
    path, weights = tmp_path / "model.onnx", tmp_path / "weights.pt"
    torch.manual_seed(3)
    network = build(model, SETTINGS["particle_cloud"]).eval()
    torch.save(network.state_dict(), weights)
    code = (
        "import sys, torch; from dltrigger.trigger.export import export_onnx; from dltrigger.models.torch_models import build\n"
        f"network = build({model!r}, {SETTINGS['particle_cloud']!r}).eval(); network.load_state_dict(torch.load({str(weights)!r}))\n"
        f"export_onnx(network, {model!r}, {str(path)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    session = onnx_session(str(path))
    lengths = [N_ROWS] if REGISTRY[model].reads_every_row else [3, 40, 300]
    for events, rows in zip((1, 7, 33), lengths * 3):
        inputs = {
            "GRU_input": particle_rows(events, rows, seed=rows),
            "HLF_input": np.random.default_rng(events).random((events, 14), dtype=np.float32),
        }
        feed = {name: inputs[name] for name in MODELS[model].inputs}
        with torch.no_grad():
            expected = torch.softmax(network(*(torch.from_numpy(array) for array in feed.values())), dim=1).numpy()
        np.testing.assert_allclose(session.run(None, feed)[0], expected, atol=1e-5)


def test_an_ensembles_graph_gives_its_members_averaged_probabilities(tmp_path):
    """An ensemble's model file (the torch engine's, with two members' weights) loads as one network and
    exports as one graph whose probabilities are the members' averaged, on events of any length."""
    model_path, path = tmp_path / "model.torch", tmp_path / "model.onnx"
    members = []
    for seed in (3, 4):
        torch.manual_seed(seed)
        members.append(build("inclusive").eval())
    torch.save({"model": "inclusive", "particle_cloud": {}, "particle_moments": None, "state_dicts": [m.state_dict() for m in members]}, model_path)
    code = (
        "from dltrigger.trigger.export import export_onnx; from dltrigger.models.torch_models import load\n"
        f"export_onnx(load({str(model_path)!r}), 'inclusive', {str(path)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    session = onnx_session(str(path))
    for events, rows in ((1, 3), (7, 40), (33, 300)):
        feed = {
            "GRU_input": particle_rows(events, rows, seed=rows),
            "HLF_input": np.random.default_rng(events).random((events, 14), dtype=np.float32),
        }
        with torch.no_grad():
            separate = [torch.softmax(member(*map(torch.from_numpy, feed.values())), dim=1).numpy() for member in members]
        averaged = np.mean(separate, axis=0)
        assert np.abs(separate[0] - separate[1]).max() > 1e-3  # two networks, not one twice
        np.testing.assert_allclose(session.run(None, feed)[0], averaged, atol=1e-5)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(name, marks=[pytest.mark.slow] if name not in ("hlf", "inclusive") else [])
        for name in MODELS
        if "keras" in REGISTRY[name].engines
    ],
)
def test_a_keras_engine_model_exports_with_tf2onnx(model, tmp_path):
    """A keras-engine model, saved as the engine saves it, exported (tf2onnx) in a process of its own that
    also writes tf-keras's probabilities: the graph reads all 801 rows and gives the same."""
    inputs = {"GRU_input": particle_rows(9, N_ROWS, seed=5), "HLF_input": np.random.default_rng(5).random((9, 14), dtype=np.float32)}
    feed = {name: inputs[name] for name in MODELS[model].inputs}
    np.savez(tmp_path / "inputs.npz", **feed)
    layer = SETTINGS["keras"]["environment"]
    code = (
        "import os, numpy as np; os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
        f"from dltrigger.tools.environments import activate_layer; activate_layer({layer!r})\n"
        "from dltrigger.models import keras_models; from dltrigger.trigger.export import trained_model\n"
        f"keras_models.build({model!r}).save({str(tmp_path / 'model.keras')!r})\n"
        f"predict, export, every_row = trained_model({model!r}, {str(tmp_path / 'model.keras')!r}, {layer!r})\n"
        f"assert every_row; export({str(tmp_path / 'model.onnx')!r})\n"
        f"feed = np.load({str(tmp_path / 'inputs.npz')!r}); np.save({str(tmp_path / 'expected.npy')!r}, predict([feed[name] for name in {list(feed)!r}]))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    session = onnx_session(str(tmp_path / "model.onnx"))
    assert [item.shape[1] for item in session.get_inputs() if item.name == "GRU_input"] in ([], [N_ROWS])
    np.testing.assert_allclose(session.run(None, feed)[0], np.load(tmp_path / "expected.npy"), atol=1e-5)


def test_the_operating_threshold_keeps_99_percent_of_the_signal_halfway_to_the_next_score():
    signal = np.r_[np.ones(100, dtype=bool), np.zeros(50, dtype=bool)]
    score = np.r_[np.linspace(1.0, 0.01, 100), np.linspace(0.5, 0.0, 50)]
    cut = operating_threshold(score, signal)
    assert (score[signal] >= cut).sum() == 99  # the loosest cut keeping >= 99 of the 100
    kept, next_lower = score[signal][98], score[score < score[signal][98]].max()
    assert cut == pytest.approx((kept + next_lower) / 2)


# The export check on a trained network: the particle transformer, whose BatchNorm statistics and pair
# features are trivial until it has trained.


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """inclusive_part trained 2 epochs (torch): (model file, test feature directory, folder with the
    features' preprocessing and the rates the menu reads)."""
    from dltrigger.core.files import write_json
    from dltrigger.train import run_training

    root = tmp_path_factory.mktemp("trained")
    directories = [root / f"{split}.parquet" for split in ("train", "validation", "test")]
    for directory, (events, seed) in zip(directories, ((256, 1), (48, 3), (90, 2))):
        write_features(directory, events, seed=seed)
    preprocessing = write_preprocessing(root / "preprocessing.json", padding="before")
    run_training("inclusive_part", *map(str, directories), str(root / "model"), SETTINGS, SPARK, threads=2, seed=11, preprocessing_path=preprocessing)
    write_json(root / "rates.json", {"rate_hz": dict.fromkeys(CLASSES)})
    return root / "model" / "model.torch", directories[2], root


def export_by_hand(trained, output, env=None) -> subprocess.CompletedProcess:
    """run_export in a process of its own, as the export job runs it."""
    model_path, test_dir, root = trained
    arguments = [str(model_path), str(test_dir), str(root / "preprocessing.json"), str(root / "rates.json"), ["ttbar", "wjets"]]
    arguments += [str(output / "model.onnx"), str(output / "menu.json")]
    code = f"from dltrigger.trigger.export import run_export; run_export('inclusive_part', *{arguments!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_a_trained_network_exports_with_the_training_s_decisions_on_every_test_event(trained, tmp_path):
    """The menu's thresholds applied to onnxruntime's probabilities accept exactly the test events that
    they accept applied to the training's own scores of them."""
    result = export_by_hand(trained, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    menu = json.loads((tmp_path / "menu.json").read_text())
    test = pq.read_table(trained[1]).sort_by("entry")
    predictions = pq.read_table(trained[0].parent / "predictions.parquet").to_pandas().sort_values("entry")
    feed = dict(zip(MODELS["inclusive_part"].inputs, model_inputs(test, "inclusive_part", every_row=False)))
    exported = onnx_session(str(tmp_path / "model.onnx")).run(None, feed)[0]
    for path, cut in menu["paths"].items():
        code = CLASSES.index(path)
        assert (exported[:, code] >= cut["threshold"]).tolist() == (predictions[f"prob_{path}"] >= cut["threshold"]).tolist()
    assert menu["validation"]["test_events"] == 90 and menu["validation"]["largest_probability_difference"] <= 1e-5


@pytest.mark.reliability("fault injected")
def test_a_perturbed_weight_stops_the_export_in_one_line_and_writes_nothing(trained, tmp_path):
    """One weight of the exported graph shifted (a fault point between the export and its check): one
    line naming the file, the model and the largest probability difference; no model.onnx, no menu."""
    markers = tmp_path / "markers"
    markers.mkdir()
    output = tmp_path / "export"
    output.mkdir()
    result = export_by_hand(trained, output, env={**os.environ, "DLTRIGGER_PERTURB_ONCE": f"export:{markers}"})
    assert result.returncode == 1 and list(markers.iterdir())
    line = result.stderr.strip().splitlines()[-1]
    difference = re.fullmatch(
        r"[\w.]*InputError: .*/model\.onnx: inclusive_part: onnxruntime's probabilities differ from the trained model's "
        r"by up to (\S+) \(limit 1e-05\) and (\d+) of 90 test events are decided differently; not exported",
        line,
    )
    assert difference and float(difference[1]) > 1e-2, line
    assert list(output.iterdir()) == []
