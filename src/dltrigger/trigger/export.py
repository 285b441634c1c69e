"""Export stage: a trained classifier (torch or keras engine) as ONNX, checked with onnxruntime against
the trained model on the whole test set, and its trigger menu: the JSON that, with the .onnx file alone,
defines a trigger (how events are prepared, each path's threshold at 99 % signal efficiency, the
efficiencies and output rates to expect)."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from ..core.arrays import numpy_of_lists, sequences_of
from ..core.errors import InputError
from ..core.faults import perturb_once
from ..core.files import atomic_path, read_json, write_json
from ..core.rates import binomial_error, output_rate
from ..core.registry import MODEL_FILES, MODELS
from ..core.schema import CLASSES, LLF_NAMES, N_ROWS, SHAPES, TPR_TARGET
from ..models.onnx_models import onnx_session
from ..physics.preprocess import Preprocessing
from ..tools.environments import activate_layer

log = logging.getLogger(__name__)

OPSET = 18
# The largest |probability difference| onnxruntime may show against torch on any test event.
TOLERANCE = 1e-5
BATCH = 1024


def model_inputs(table, model: str, every_row: bool) -> list[np.ndarray]:
    """A feature table's inputs of ``model``, in its order, as the exported graph reads them: the particle
    sequences with each event's real rows first and only as long as the longest (with zero padding; all
    801 rows in place otherwise, or for a graph that reads ``every_row``)."""
    inputs = []
    for name in MODELS[model].inputs:
        if name == "GRU_input":
            zero_padding = "padding_row" in table.column_names and not numpy_of_lists(table.column("padding_row")).any()
            inputs.append(sequences_of(table, N_ROWS, len(LLF_NAMES), compact=zero_padding and not every_row))
        else:
            inputs.append(numpy_of_lists(table.column(name)).astype(np.float32, copy=False))
    return inputs


def export_onnx(network, model: str, path: str) -> None:
    """Write ``network`` (returning logits) as an ONNX graph returning the class probabilities, with a
    dynamic batch axis (and a dynamic row axis where the rows need not all be there). The graph is traced
    on a few zero rows: its cost grows with the traced sequence's length (the GRU is unrolled while
    tracing), not its result."""
    import torch

    from ..models.torch_models import probabilities

    class Probabilities(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, *inputs):
            return probabilities(self.network(*inputs))

    events, rows = torch.export.Dim("events"), torch.export.Dim("rows", min=2, max=N_ROWS)
    names = MODELS[model].inputs
    shapes = tuple({0: events, **({1: rows} if name == "GRU_input" and not MODELS[model].reads_every_row else {})} for name in names)
    steps = N_ROWS if MODELS[model].reads_every_row else 4
    example = tuple(torch.zeros(2, *((steps,) if name == "GRU_input" else ()), SHAPES[name][-1]) for name in names)
    torch.onnx.export(
        Probabilities().eval(),
        example,
        path,
        input_names=list(names),
        output_names=["probabilities"],
        opset_version=OPSET,
        dynamo=True,
        dynamic_shapes=(shapes,),  # forward(*inputs): one entry, the tuple of inputs
        external_data=False,
        verbose=False,
    )
    # A second export in one process may fix the row axis to the traced length (torch 2.13): checked here,
    # and the workflow exports each model in its own job.
    fixed = [
        item.name
        for item in onnx_session(path).get_inputs()
        if any(isinstance(size, int) for size in item.shape[: 2 if item.name == "GRU_input" and not MODELS[model].reads_every_row else 1])
    ]
    if fixed:
        raise RuntimeError(f"{path}: exported with fixed axes for {', '.join(fixed)}; export one model per process")


def export_keras(network, model: str, path: str) -> None:
    """Write a keras-engine model (tf-keras, ending in its softmax) as an ONNX graph with tf2onnx: a
    dynamic batch axis, all 801 particle rows (its Keras input shape)."""
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, *SHAPES[name]), tf.float32, name=name) for name in MODELS[model].inputs]
    tf2onnx.convert.from_keras(network, input_signature=signature, opset=OPSET, output_path=path)


def shift_one_weight(onnx_path: str) -> None:
    """The fault a faulty exporter makes: the last weight the graph reads (the output layer's bias) shifted
    by 1, so that every event's probabilities move."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(onnx_path)
    weights = {tensor.name: tensor for tensor in graph.graph.initializer}
    name = next(name for node in reversed(graph.graph.node) for name in reversed(node.input) if name in weights)
    shifted = numpy_helper.to_array(weights[name]).copy()
    shifted.flat[0] += 1.0
    weights[name].CopyFrom(numpy_helper.from_array(shifted, name))
    onnx.save(graph, onnx_path)


def trained_model(model: str, model_path: str, keras_environment: str = ".venvs/keras"):
    """The trained model of either engine that has one to export: its probabilities on a list of input
    arrays, the function that exports it, and whether its graph reads all 801 rows. A keras-engine model
    loads with the engine's package layer (``keras_environment``)."""
    if model_path.endswith(MODEL_FILES["keras"]):
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        activate_layer(keras_environment)
        import tf_keras

        network = tf_keras.models.load_model(model_path)
        return lambda inputs: network(inputs, training=False).numpy(), lambda path: export_keras(network, model, path), True
    import torch

    from ..models.torch_models import load

    network = load(model_path)

    def probabilities(inputs):
        with torch.no_grad():
            return torch.softmax(network(*(torch.from_numpy(np.require(array, requirements="W")) for array in inputs)), dim=1).numpy()

    return probabilities, lambda path: export_onnx(network, model, path), MODELS[model].reads_every_row


def probabilities_of(predict, model: str, every_row: bool, onnx_path: str, table) -> tuple[np.ndarray, np.ndarray]:
    """The class probabilities of every event of ``table``, by the exported graph and by the trained model."""
    session = onnx_session(onnx_path)
    got, expected = [], []
    for start in range(0, table.num_rows, BATCH):
        inputs = model_inputs(table.slice(start, BATCH), model, every_row)
        got.append(session.run(None, dict(zip(MODELS[model].inputs, inputs)))[0])
        expected.append(predict(inputs))
    return np.concatenate(got), np.concatenate(expected)


def operating_threshold(score: np.ndarray, signal: np.ndarray) -> float:
    """The selector's cut that keeps ``TPR_TARGET`` of the signal events (the loosest such, as the
    evaluation's operating point), placed halfway to the next lower score: the same events pass, and a
    rounding difference smaller than half that gap decides no event otherwise."""
    ranked = np.sort(score[signal])[::-1]
    lowest_kept = ranked[int(np.ceil(TPR_TARGET * ranked.size)) - 1]
    below = score[score < lowest_kept]
    return float((lowest_kept + below.max()) / 2 if below.size else lowest_kept / 2)


def _test_events(model: str, test_dir: str):
    """The test events' inputs of ``model``, their padding and labels (an Arrow table)."""
    import pyarrow.parquet as pq

    test = pq.ParquetDataset(test_dir)
    table = test.read(columns=[name for name in (*MODELS[model].inputs, "padding_row", "padding_at", "label") if name in test.schema.names])
    if not table.num_rows:
        raise InputError(f"{test_dir}: no test events to check the exported model on")
    return table


def acceptance(passed: np.ndarray, labels: np.ndarray, rate_hz: dict) -> list[dict]:
    """Per column of ``passed`` (events x paths: which event each accepts), the fraction of each class it
    accepts with its binomial error, and its output rate with its error (none where a class's rate into
    the trigger is unknown)."""
    tested = np.bincount(labels, minlength=len(CLASSES))[:, None]
    accepted = np.array([passed[labels == code].sum(axis=0) for code in range(len(CLASSES))])
    efficiency, error = accepted / np.maximum(tested, 1), binomial_error(accepted, tested)
    known = all(rate_hz[name] is not None for name in CLASSES)
    columns = []
    for column in range(passed.shape[1]):
        rate, rate_error = output_rate([rate_hz[name] for name in CLASSES], accepted[:, column], tested[:, 0]) if known else (None, None)
        columns.append(
            {
                "efficiency": {name: float(efficiency[code, column]) for code, name in enumerate(CLASSES)},
                "efficiency_error": {name: float(error[code, column]) for code, name in enumerate(CLASSES)},
                "rate_hz": rate,
                "rate_hz_error": rate_error,
            }
        )
    return columns


def run_export(
    model: str,
    model_path: str,
    test_dir: str,
    preprocessing_path: str,
    rates_path: str,
    paths: list[str],
    onnx_path: str,
    menu_path: str,
    keras_environment: str = ".venvs/keras",
) -> dict:
    """Export the trained ``model`` (file ``model_path``) to ``onnx_path``, check it on every test event,
    and write its menu, with the trigger ``paths`` (the selectors that each accept an event at their
    99 %-efficiency threshold), to ``menu_path``. A graph whose probabilities differ from the trained
    model's (torch or tf-keras, by its file; the latter with the keras engine's package layer
    ``keras_environment``) by more than ``TOLERANCE``, or that decides any test event otherwise, fails:
    nothing is written."""
    started = time.time()
    unknown = [path for path in paths if path not in CLASSES]
    if unknown:
        raise InputError(f"trigger.paths: unknown selector '{unknown[0]}' (known: {', '.join(CLASSES)})")
    predict, export, every_row = trained_model(model, model_path, keras_environment)
    preprocessing, rate_hz = Preprocessing.read(preprocessing_path), read_json(rates_path)["rate_hz"]
    table = _test_events(model, test_dir)
    labels = table.column("label").to_numpy()
    selectors = [CLASSES.index(path) for path in paths]
    with atomic_path(onnx_path) as temporary:
        export(temporary)
        if perturb_once("export"):
            shift_one_weight(temporary)
        got, expected = probabilities_of(predict, model, every_row, temporary, table)
        thresholds = np.array([operating_threshold(expected[:, code], labels == code) for code in selectors])
        fired = got[:, selectors] >= thresholds
        largest, differing = float(np.abs(got - expected).max()), int((fired != (expected[:, selectors] >= thresholds)).any(axis=1).sum())
        if largest > TOLERANCE or differing:
            raise InputError(
                f"{onnx_path}: {model}: onnxruntime's probabilities differ from the trained model's by up to {largest:.1e} (limit {TOLERANCE:g}) "
                f"and {differing} of {table.num_rows} test events are decided differently; not exported"
            )
    *per_path, menu_as_a_whole = acceptance(np.c_[fired, fired.any(axis=1)], labels, rate_hz)
    known = all(rate_hz[name] is not None for name in CLASSES)
    menu = {
        "model": model,
        "onnx": os.path.basename(onnx_path),
        "opset": OPSET,
        "inputs": {name: SHAPES[name][-1] for name in MODELS[model].inputs},
        "every_row": every_row,
        "preprocessing": preprocessing.to_json(),
        "paths": {path: {"threshold": float(thresholds[k]), **per_path[k]} for k, path in enumerate(paths)},
        **menu_as_a_whole,
        # Each class's rate into the trigger (its isolated-lepton events), for the rates of a stream.
        "class_rate_hz": rate_hz if known else None,
        "signal_efficiency_target": TPR_TARGET,
        "validation": {"test_events": table.num_rows, "largest_probability_difference": largest, "tolerance": TOLERANCE},
    }
    write_json(menu_path, menu)
    log.info(
        "%s exported (opset %d, %.1f s): on %d test events onnxruntime and the trained model at most %.1e apart, same decisions",
        model,
        OPSET,
        time.time() - started,
        table.num_rows,
        largest,
    )
    return menu
