"""The original's tree baselines on the 14 HLF, trained distributed on Spark: Spark ML's random forest
(``rf``) and XGBoost's own Spark estimator (``xgboost``). They write the networks' outputs (predictions,
history, training config), so evaluation, tables and figures take them unchanged.

They read the features stage's ``HLF_input``. Its scaling is monotonic per feature, and both learners
split each feature at quantile bin edges, so they make the same splits on it as on the unscaled HLF the
original gave them (up to float32 rounding of near-equal values).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from ..errors import InputError
from ..files import atomic_path, remove, write_json, write_parquet
from ..models import TREE_MODELS
from ..schema import CLASSES, ID_COLUMNS, PROBABILITY_COLUMNS
from . import _write_history, check_data

log = logging.getLogger(__name__)

# The file (a Spark ML model directory) each tree model saves.
TREE_MODEL_FILE = "model.spark"


def estimator(model: str, settings: dict, workers: int, seed: int):
    """The configured Spark estimator of ``model`` reading a ``features`` vector and a ``label`` column."""
    if model == "rf":
        from pyspark.ml.classification import RandomForestClassifier

        return RandomForestClassifier(numTrees=settings["trees"], maxDepth=settings["max_depth"], seed=seed, labelCol="label")
    from xgboost.spark import SparkXGBClassifier

    return SparkXGBClassifier(
        label_col="label",
        num_workers=workers,
        n_estimators=settings["rounds"],
        max_depth=settings["max_depth"],
        learning_rate=settings["learning_rate"],
        random_state=seed,
        # The test set is the validation set, as for the networks: its log loss per round is the history.
        validation_indicator_col="is_test",
        eval_metric=["mlogloss", "merror"],
    )


def hlf_frame(spark, directory: str, is_test: bool):
    """A features table as Spark rows: the HLF as an ML vector, label, identity and which set it is."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    frame = spark.read.parquet(os.path.abspath(directory))
    ids = [name for name in ID_COLUMNS if name in frame.columns]
    return frame.select(
        array_to_vector(F.col("HLF_input").cast("array<double>")).alias("features"),
        F.col("label").cast("int").alias("label"),
        *ids,
        F.lit(is_test).alias("is_test"),
    )


def scored(fitted, frame) -> tuple[np.ndarray, np.ndarray, dict]:
    """Class probabilities (n, 3), labels and identity columns of ``frame`` under the fitted model."""
    from pyspark.ml.functions import vector_to_array

    ids = [name for name in ID_COLUMNS if name in frame.columns]
    table = fitted.transform(frame).select(vector_to_array("probability").alias("probability"), "label", *ids).toArrow()
    probabilities = np.asarray(table.column("probability").combine_chunks().flatten(), np.float64).reshape(-1, len(CLASSES))
    return probabilities, table.column("label").to_numpy(), {name: table.column(name) for name in ids}


def set_metrics(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of one set, as the networks' history reports them."""
    from sklearn.metrics import accuracy_score, log_loss

    return float(log_loss(labels, probabilities, labels=range(len(CLASSES)))), float(accuracy_score(labels, probabilities.argmax(axis=1)))


def run_tree_training(
    model: str,
    train_dir: str,
    test_dir: str,
    output_dir: str,
    settings: dict,
    spark_config: dict,
    threads: int,
    seed: int,
    log_dir: str = "logs/spark",
) -> list[dict]:
    """Fit tree ``model`` on the training events and write into ``output_dir`` what the networks' training
    writes: the model (``model.spark``), predictions.parquet for the test events, history.csv/.json (both
    sets' log loss and accuracy: per boosting round for XGBoost, once for the forest) and
    training_config.json. Returns the history."""
    from ..spark import spark_session

    if model not in TREE_MODELS:
        raise InputError(f"train.models: unknown tree model '{model}' (known: {', '.join(TREE_MODELS)})")
    datasets = check_data(model, train_dir, test_dir)
    tree_settings = settings["trees"][model]
    workers = settings["workers"]
    staging = os.path.join(output_dir, f".staging-{os.getpid()}")
    remove(staging)
    os.makedirs(staging)
    try:
        with spark_session(f"dltrigger-train-{model}", spark_config, threads, log_dir) as spark:
            slots = spark.sparkContext.defaultParallelism
            if model == "xgboost" and workers > slots:
                raise InputError(
                    f"train.workers: {workers} XGBoost workers, but Spark offers {slots} task slots (master {spark.sparkContext.master})"
                )
            train, test = hlf_frame(spark, train_dir, False), hlf_frame(spark, test_dir, True)
            log.info("training %s on Spark: %d train / %d test events, %s", model, datasets[0].rows, datasets[1].rows, tree_settings)
            started = time.perf_counter()
            # XGBoost gets the test events too, flagged, to record its validation loss per round.
            fitted = estimator(model, tree_settings, workers, seed).fit(train.unionByName(test) if model == "xgboost" else train)
            seconds = time.perf_counter() - started
            fitted.write().overwrite().save(os.path.join(staging, TREE_MODEL_FILE))
            probabilities, labels, ids = scored(fitted, test)
            # XGBoost recorded both sets' loss per round; the forest's training set is scored once.
            on_train = None if model == "xgboost" else scored(fitted, train)[:2]
        history = tree_history(fitted, on_train, (probabilities, labels), seconds, datasets[0].rows)
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        log.info("%s: fit in %.1f s (%.0f events/s), test accuracy %.4f", model, seconds, datasets[0].rows / seconds, accuracy)
        write_tree_predictions(probabilities, labels, ids, os.path.join(staging, "predictions.parquet"))
        _write_history(history, os.path.join(staging, "history.csv"), os.path.join(staging, "history.json"))
        used = {"model": model, "workers": workers, "seed": seed, **tree_settings, "train_events": datasets[0].rows, "test_events": datasets[1].rows}
        write_json(os.path.join(staging, "training_config.json"), used)
        for name in (TREE_MODEL_FILE, "predictions.parquet", "history.csv", "history.json", "training_config.json"):
            with atomic_path(os.path.join(output_dir, name)) as temporary:
                os.replace(os.path.join(staging, name), temporary)
    finally:
        remove(staging)
    return history


def tree_history(fitted, on_train, on_test, seconds: float, train_events: int) -> list[dict]:
    """The fit as the networks' history: XGBoost's boosting rounds as epochs (its log loss and error on
    both sets per round), a random forest's fit as one epoch from its (probabilities, labels) on each
    set; the fit's throughput on every row."""
    if on_train is None:
        train, validation = fitted.training_summary.train_objective_history, fitted.training_summary.validation_objective_history
        losses, errors = train["mlogloss"], train["merror"]
        val_losses, val_errors = validation["mlogloss"], validation["merror"]
    else:
        (loss, accuracy), (val_loss, val_accuracy) = set_metrics(*on_train), set_metrics(*on_test)
        losses, errors, val_losses, val_errors = [loss], [1 - accuracy], [val_loss], [1 - val_accuracy]
    return [
        {
            "epoch": round_ + 1,
            "loss": float(losses[round_]),
            "accuracy": 1 - float(errors[round_]),
            "val_loss": float(val_losses[round_]),
            "val_accuracy": 1 - float(val_errors[round_]),
            "train_events": train_events,
            "wall_seconds": seconds / len(losses),
            "samples_per_second": train_events / seconds,
        }
        for round_ in range(len(losses))
    ]


def write_tree_predictions(probabilities: np.ndarray, labels: np.ndarray, ids: dict, directory: str) -> None:
    import pyarrow as pa

    os.makedirs(directory)
    columns = {name: pa.array(probabilities[:, code].astype(np.float32)) for code, name in enumerate(PROBABILITY_COLUMNS)}
    columns["label"] = pa.array(labels.astype(np.int32))
    columns.update({name: column.combine_chunks() for name, column in ids.items()})
    write_parquet(pa.table(columns), os.path.join(directory, "part-00000.parquet"))
