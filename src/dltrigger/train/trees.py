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

from ..core.errors import InputError
from ..core.files import write_json
from ..core.schema import CLASSES, ID_COLUMNS
from . import _write_history, check_data, staged_outputs
from .process import write_prediction_part

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
        # The validation events' log loss per round is the history, as for the networks.
        validation_indicator_col="is_validation",
        eval_metric=["mlogloss", "merror"],
    )


def hlf_frame(spark, directory: str, is_validation: bool):
    """A features table as Spark rows: the HLF as an ML vector, label, identity and whether it validates."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    frame = spark.read.parquet(os.path.abspath(directory))
    ids = [name for name in ID_COLUMNS if name in frame.columns]
    return frame.select(
        array_to_vector(F.col("HLF_input").cast("array<double>")).alias("features"),
        F.col("label").cast("int").alias("label"),
        *ids,
        F.lit(is_validation).alias("is_validation"),
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
    validation_dir: str,
    test_dir: str,
    output_dir: str,
    settings: dict,
    spark_config: dict,
    threads: int,
    seed: int,
    log_dir: str = "logs/spark",
) -> list[dict]:
    """Fit tree ``model`` on the training events and write into ``output_dir`` what the networks' training
    writes: the model (``model.spark``), predictions.parquet for the test events, history.csv/.json (the
    training and validation events' log loss and accuracy: per boosting round for XGBoost, once for the
    forest) and training_config.json. Returns the history."""
    from ..core.spark import spark_session

    datasets = check_data(model, {"train": train_dir, "validation": validation_dir, "test": test_dir})
    rows = {split: data.rows for split, data in datasets.items()}
    tree_settings = settings["trees"][model]
    workers = settings["workers"]
    outputs = (TREE_MODEL_FILE, "predictions.parquet", "history.csv", "history.json", "training_config.json")
    with staged_outputs(output_dir, outputs) as staging:
        with spark_session(f"dltrigger-train-{model}", spark_config, threads, log_dir) as spark:
            slots = spark.sparkContext.defaultParallelism
            if model == "xgboost" and workers > slots:
                raise InputError(
                    f"train.workers: {workers} XGBoost workers, but Spark offers {slots} task slots (master {spark.sparkContext.master})"
                )
            train, validation = hlf_frame(spark, train_dir, False), hlf_frame(spark, validation_dir, True)
            log.info("training %s on Spark: %d train / %d validation / %d test events, %s", model, *rows.values(), tree_settings)
            started = time.perf_counter()
            # XGBoost gets the validation events too, flagged, to record their loss per round.
            fitted = estimator(model, tree_settings, workers, seed).fit(train.unionByName(validation) if model == "xgboost" else train)
            seconds = time.perf_counter() - started
            fitted.write().overwrite().save(os.path.join(staging, TREE_MODEL_FILE))
            # XGBoost recorded both sets' loss per round; the forest scores them once.
            on_sets = None if model == "xgboost" else (scored(fitted, train)[:2], scored(fitted, validation)[:2])
            probabilities, labels, ids = scored(fitted, hlf_frame(spark, test_dir, False))  # the test set, once
        history = tree_history(fitted, on_sets, seconds, rows["train"])
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        log.info("%s: fit in %.1f s (%.0f events/s), test accuracy %.4f", model, seconds, rows["train"] / seconds, accuracy)
        ids = {name: column.combine_chunks() for name, column in ids.items()}
        write_prediction_part(os.path.join(staging, "predictions.parquet"), 0, probabilities, labels, ids)
        _write_history(history, os.path.join(staging, "history.csv"), os.path.join(staging, "history.json"))
        used = {"model": model, "workers": workers, "seed": seed, **tree_settings, **{f"{split}_events": count for split, count in rows.items()}}
        write_json(os.path.join(staging, "training_config.json"), used)
    return history


def tree_history(fitted, on_sets, seconds: float, train_events: int) -> list[dict]:
    """The fit as the networks' history: XGBoost's boosting rounds as epochs (its log loss and error on
    the training and validation events per round), a random forest's fit as one epoch from its
    (probabilities, labels) on each of them (``on_sets``); the fit's throughput on every row."""
    if on_sets is None:
        train, validation = fitted.training_summary.train_objective_history, fitted.training_summary.validation_objective_history
        losses, errors = train["mlogloss"], train["merror"]
        val_losses, val_errors = validation["mlogloss"], validation["merror"]
    else:
        (loss, accuracy), (val_loss, val_accuracy) = (set_metrics(*scores) for scores in on_sets)
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
