"""Engine ``keras``: the original's API. The models in legacy Keras (tf-keras) trained with
``model.fit`` under ``tf.distribute.MultiWorkerMirroredStrategy``, one worker per task of a Spark
barrier stage. Each task starts a fresh Python process for its worker (TF configures its collectives
once per process, so a reused Spark worker would fail), with TF_CONFIG built from the barrier's task
infos and the ports the tasks exchange. Keras 3 is not used: its ``fit`` fails under this strategy
(keras-team/keras#20585)."""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import replace

import numpy as np

from ..core.checkpoints import check_npz_checkpoint, load_npz_checkpoint, save_npz_checkpoint
from ..core.errors import InputError
from ..core.files import atomic_path
from ..core.registry import MODEL_FILES, REGISTRY
from ..core.schema import ID_COLUMNS, SHAPES
from ..tools.cluster import free_port
from ..tools.environments import activate_layer
from .data import Dataset
from .process import (
    VALIDATION_BATCH,
    EpochHooks,
    TrainingSpec,
    latest_checkpoint,
    reporting_errors,
    reuse_freed_memory,
    run_epochs,
    weights_digest,
    write_predictions,
)

MODEL_FILE = MODEL_FILES["keras"]
CHECKPOINT_SUFFIX = "npz"
check_checkpoint = check_npz_checkpoint


def launch(spark, spec: TrainingSpec) -> dict:
    """Run the workers as one barrier stage; returns rank 0's history and every worker's final weights digest."""
    workers = spec.workers
    stage = spark.sparkContext.parallelize(range(workers), workers).barrier()
    results = sorted(stage.mapPartitions(lambda _: _barrier_task(spec)).collect(), key=lambda result: result["rank"])
    return {"history": results[0]["history"], "weights": [result["weights"] for result in results]}


def _barrier_task(spec: TrainingSpec):
    """One Spark barrier task: agree on the TF cluster with the other tasks, then run its worker."""
    from pyspark import BarrierTaskContext

    context = BarrierTaskContext.get()
    rank = context.partitionId()
    hosts = [info.address.rsplit(":", 1)[0] for info in context.getTaskInfos()]
    ports = context.allGather(str(free_port(hosts[rank])))
    tf_config = {"cluster": {"worker": [f"{host}:{port}" for host, port in zip(hosts, ports)]}, "task": {"type": "worker", "index": rank}}
    env = {
        **os.environ,
        "TF_CONFIG": json.dumps(tf_config),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **({"CUDA_VISIBLE_DEVICES": ""} if spec.device == "cpu" else {}),
    }
    result_path = os.path.join(spec.staging_dir, f"result-{rank}.json")
    command = [sys.executable, "-m", __name__, replace(spec, rank=rank).to_json(), result_path]
    status = subprocess.run(command, env=env, preexec_fn=_die_with_parent).returncode
    if status != 0:
        raise RuntimeError(f"keras worker {rank} exited with status {status}")
    with open(result_path) as handle:
        yield {"rank": rank, **json.load(handle)}


def _die_with_parent() -> None:
    """The worker dies with its Spark task (a cancelled or failed barrier stage kills the task)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@reporting_errors
def train_process(spec: TrainingSpec) -> dict:
    """One MultiWorkerMirroredStrategy worker (rank ``spec.rank`` of ``spec.workers``)."""
    process = KerasProcess(spec)
    hooks = EpochHooks(process.begin_epoch, process.train_epoch, process.validate, process.predict_test, process.save_checkpoint, process.restore)
    history, probabilities, ids = run_epochs(spec, spec.rank, hooks, process.start, process.history, CHECKPOINT_SUFFIX)
    write_predictions(spec, spec.rank, probabilities, ids)
    return process.finish(history)


class KerasProcess:
    """A worker's strategy, model, optimizer and shares of the data, with the steps of the shared epoch
    loop (``EpochHooks``) as methods."""

    def __init__(self, spec: TrainingSpec):
        activate_layer(spec.keras_environment)
        import tensorflow as tf
        import tf_keras as keras

        from ..models.keras_models import build

        reuse_freed_memory()
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
        tf.config.threading.set_inter_op_parallelism_threads(spec.threads)
        self.spec, self.tf = spec, tf
        self.strategy = self._strategy(spec.device == "cuda")
        keras.utils.set_random_seed(spec.seed)
        self.inputs = REGISTRY[spec.model].inputs
        self.train, self.validation, self.test = (Dataset.open(directory) for directory in (spec.train_dir, spec.validation_dir, spec.test_dir))
        self.train_rows = self.train.shard(spec.rank, spec.workers, equal=True)
        self.signature = (tuple(tf.TensorSpec((None, *SHAPES[name]), tf.float32) for name in self.inputs), tf.TensorSpec((None,), tf.int32))
        with self.strategy.scope():
            self.model = build(spec.model)
            self.optimizer = keras.optimizers.Adam(learning_rate=spec.learning_rate)  # Keras defaults, as the original
            self.model.compile(optimizer=self.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            self.optimizer.build(self.model.trainable_variables)
        model = self.model
        self.predict = tf.function(lambda x: model(list(x) if len(x) > 1 else x[0], training=False), input_signature=[self.signature[0]])
        self.feeder = keras.utils.experimental.DatasetCreator(self._feed)
        self.history, self.start = [], 0
        resume = latest_checkpoint(spec)
        if resume:
            self.history, self.start = _resume(self.model, self.optimizer, resume[1]), resume[0]
            if spec.rank == 0:
                print(f"[keras/{spec.model}] resuming after epoch {self.start} from {resume[1]}", flush=True)
        strategy = self.strategy

        @tf.function(input_signature=[tf.TensorSpec((3,), tf.float64)])  # traced: eager collectives are slow
        def all_workers_sum(values):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(values,)), axis=None)

        self.all_workers_sum = all_workers_sum

    def _strategy(self, cuda: bool):
        tf = self.tf
        if cuda and not tf.config.list_physical_devices("GPU"):
            raise InputError(
                "train.device: cuda, but TensorFlow sees no GPU (the environment has tensorflow-cpu; the keras engine on GPUs needs tensorflow[and-cuda]==2.21.0)"
            )
        implementations = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementations.NCCL if cuda else implementations.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)

    def _feed(self, _input_context):
        """This worker's shard, in batches of the per-worker batch size."""

        def batches():
            for batch in self.train.batches(*self.train_rows, self.spec.batch_size, (*self.inputs, "label")):
                yield tuple(batch[name] for name in self.inputs), batch["label"].astype(np.int32)

        return self.tf.data.Dataset.from_generator(batches, output_signature=self.signature).prefetch(2)

    def scored(self, data: Dataset, columns):
        """(probabilities, labels, batch) of this worker's share of ``data``."""
        for batch in data.batches(*data.shard(self.spec.rank, self.spec.workers, equal=False), VALIDATION_BATCH, columns):
            yield self.predict(tuple(self.tf.constant(batch[name]) for name in self.inputs)).numpy(), batch["label"].astype(np.int64), batch

    def validate(self) -> np.ndarray:
        sums = np.zeros(3)
        for p, label, _ in self.scored(self.validation, (*self.inputs, "label")):
            chosen = np.clip(p[np.arange(label.size), label], 1e-7, 1.0)  # Keras's clipping in the cross-entropy
            sums += [-np.log(chosen).sum(), (p.argmax(1) == label).sum(), label.size]
        return self.all_workers_sum(self.tf.constant(sums)).numpy()

    def predict_test(self):
        probs, ids = [], []
        for p, _, batch in self.scored(self.test, (*self.inputs, "label", *ID_COLUMNS)):
            probs.append(p)
            ids.append({name: batch[name] for name in ("label", *ID_COLUMNS)})
        return probs, ids

    def begin_epoch(self, epoch: int, lr: float) -> None:
        self.optimizer.learning_rate.assign(lr)

    def train_epoch(self, epoch: int) -> np.ndarray:
        steps = math.ceil((self.train_rows[1] - self.train_rows[0]) / self.spec.batch_size)
        fitted = self.model.fit(self.feeder, epochs=epoch + 1, initial_epoch=epoch, steps_per_epoch=steps, verbose=0).history
        events = self.spec.workers * (self.train_rows[1] - self.train_rows[0])
        return np.array([fitted["loss"][-1] * events, fitted["accuracy"][-1] * events, events])

    def save_checkpoint(self, history: list[dict], path: str) -> None:
        save_npz_checkpoint(path, self.model.get_weights(), history, [v.numpy() for v in self.optimizer.variables])

    def restore(self, path: str) -> None:
        self.model.set_weights(load_npz_checkpoint(path)[0])

    def finish(self, history: list[dict]) -> dict:
        """Rank 0 writes the model file, from a plain copy: the distributed model's variables belong to the
        strategy."""
        from ..models.keras_models import build

        if self.spec.rank == 0:
            plain = build(self.spec.model)
            plain.set_weights(self.model.get_weights())
            plain.save(os.path.join(self.spec.staging_dir, MODEL_FILE))
        return {"history": history, "weights": weights_digest(self.model.get_weights())}


def _resume(model, optimizer, path: str) -> list[dict]:
    weights, optimizer_state, history = load_npz_checkpoint(path)
    model.set_weights(weights)
    for variable, value in zip(optimizer.variables, optimizer_state, strict=True):
        variable.assign(value)
    return history


def load_model(path: str, environment: str = ".venvs/keras"):
    """A trained model from its file (for predictions outside the workflow); needs TF_USE_LEGACY_KERAS=1
    and the engine's package layer (``environment``: train.keras.environment)."""
    activate_layer(environment)
    import tf_keras as keras

    return keras.models.load_model(path)


if __name__ == "__main__":  # a worker process started by _barrier_task
    worker_spec, result_file = TrainingSpec.from_json(sys.argv[1]), sys.argv[2]
    result = train_process(worker_spec)
    with atomic_path(result_file) as temporary, open(temporary, "w") as out:
        json.dump(result, out)
