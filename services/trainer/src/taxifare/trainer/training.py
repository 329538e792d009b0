"""Training on a window of trips: time-ordered split, fit with early stopping, metrics, refusals."""

import logging
import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from taxifare.core import stats
from taxifare.core.trips import drift_features, model_inputs
from taxifare.core.trips.schema import lacks_coordinates
from taxifare.trainer.model import as_dataset, build_model, predict

log = logging.getLogger(__name__)

LABEL = "fare_amount"


class TrainingRefused(Exception):
    """Training cannot produce a trustworthy model; the message says why and what to change."""


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    min_rows: int = 500
    # Share of the training part, newest first, that early stopping watches.
    validation_share: float = 0.15
    patience: int = 8
    seed: int = 42


@dataclass
class TrainResult:
    model: keras.Model
    eval_frame: pd.DataFrame
    eval_predictions: np.ndarray  # the model's fares for eval_frame, which the export must reproduce
    metrics: dict


def split_by_day(frame: pd.DataFrame, eval_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, evaluation part): the newest `eval_days` pickup days are the evaluation part."""
    days = frame["pickup_datetime"].dt.normalize()
    distinct = np.sort(days.unique())
    if len(distinct) <= eval_days:
        raise TrainingRefused(
            f"the data window holds {len(distinct)} day(s) of trips; need more than --eval-days={eval_days} "
            "so that older days remain for training"
        )
    first_eval_day = distinct[-eval_days]
    is_eval = (days >= first_eval_day).to_numpy()
    return frame[~is_eval].reset_index(drop=True), frame[is_eval].reset_index(drop=True)


def split_validation(frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit part, validation part): validation is the newest `share` of the rows, in pickup order."""
    ordered = frame.sort_values("pickup_datetime", kind="stable").reset_index(drop=True)
    n_val = max(1, round(len(ordered) * share))
    return ordered.iloc[:-n_val], ordered.iloc[-n_val:]


def train_window(
    frame: pd.DataFrame, eval_days: int, options: TrainOptions, progress: int = 2
) -> TrainResult:
    """Train on all but the newest `eval_days` days of `frame` and score on those; refuse when unsound.

    `progress` is Keras' verbosity: 1 a progress bar, 2 one line an epoch, 0 silent.
    """
    without_points = int(lacks_coordinates(frame).sum())
    if without_points:
        raise TrainingRefused(
            f"{without_points} of the {len(frame)} trips in the data window have no coordinates (TLC files "
            "give zones) and the model needs them: land such files with "
            "`taxifare-data replay FILE --zone-centroids ZONES.csv`"
        )
    if len(frame) < options.min_rows:
        raise TrainingRefused(
            f"the data window holds {len(frame)} trips, fewer than --min-rows={options.min_rows}; "
            "widen the window (--train-days) or land more data first"
        )
    train, evaluation = split_by_day(frame, eval_days)
    fit_part, val_part = split_validation(train, options.validation_share)
    log.info(
        "training",
        extra={"fit_rows": len(fit_part), "validation_rows": len(val_part), "eval_rows": len(evaluation)},
    )
    model, epochs = fit_model(fit_part, val_part, options, progress)
    predictions = predict(model, model_inputs(evaluation))
    metrics = evaluation_metrics(evaluation[LABEL].to_numpy(np.float64), predictions)
    del metrics["n"]  # eval_rows says it
    labels = train[LABEL].to_numpy(np.float64)
    metrics.update(
        train_rows=len(train),
        eval_rows=len(evaluation),
        label_mean=float(labels.mean()),
        label_std=float(labels.std()),
        prediction_mean=float(predictions.mean()),
        prediction_std=float(predictions.std()),
        baseline_rmse=rmse(evaluation[LABEL].to_numpy(np.float64), np.full(len(evaluation), labels.mean())),
        epochs_trained=epochs,
        data_start=frame["pickup_datetime"].min().date().isoformat(),
        data_end=frame["pickup_datetime"].max().date().isoformat(),
        input_bounds=input_bounds(frame),
    )
    check_finite(metrics)
    # After the check: statistics of non-finite predictions would fail with a less helpful message.
    metrics["reference_stats"] = reference_stats(evaluation, predictions)
    return TrainResult(model=model, eval_frame=evaluation, eval_predictions=predictions, metrics=metrics)


def fit_model(
    fit_part: pd.DataFrame, val_part: pd.DataFrame, options: TrainOptions, progress: int = 2
) -> tuple[keras.Model, int]:
    """(model, epochs run): fit on `fit_part`, stop early when `val_part`'s loss stops improving."""
    model = build_model(
        model_inputs(fit_part),
        fit_part[LABEL].to_numpy(),
        learning_rate=options.learning_rate,
        seed=options.seed,
    )
    history = model.fit(
        as_dataset(model_inputs(fit_part), fit_part[LABEL], options.batch_size, shuffle_seed=options.seed),
        validation_data=as_dataset(model_inputs(val_part), val_part[LABEL]),
        epochs=options.epochs,
        shuffle=False,  # the dataset shuffles itself, reproducibly
        callbacks=[
            keras.callbacks.EarlyStopping(patience=options.patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(
                factor=0.3, patience=max(1, options.patience // 2), min_lr=1e-5
            ),
        ],
        verbose=progress,
    )
    return model, len(history.history["loss"])


def rmse(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - labels) ** 2)))


def evaluation_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """rmse, mae and n of `predictions` against `labels`."""
    return {
        "rmse": rmse(labels, predictions),
        "mae": float(np.mean(np.abs(predictions - labels))),
        "n": len(labels),
    }


def reference_stats(evaluation: pd.DataFrame, predictions: np.ndarray) -> dict:
    """Statistics of the drift features and of the predictions, for later drift checks, and the
    model's expected error by predicted fare (`expected_error`), against which checks measure excess."""
    features = drift_features(evaluation)
    columns = {name: features[name].to_numpy(np.float64) for name in features.columns}
    columns["prediction"] = predictions
    abs_errors = np.abs(predictions - evaluation[LABEL].to_numpy(np.float64))
    return {
        **stats.reference_stats(columns),
        "expected_error": stats.expected_error_table(predictions, abs_errors),
    }


# The fields whose training ranges bound what the predictor accepts (coordinates) and serves (fares).
BOUNDED_FIELDS = ("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude", LABEL)


def input_bounds(frame: pd.DataFrame) -> dict[str, list[float]]:
    """{field: [min, max]} over the whole window, rounded outward to 4 decimals (about 10 m)."""
    bounds = {}
    for name in BOUNDED_FIELDS:
        values = frame[name].to_numpy(np.float64)
        bounds[name] = [math.floor(values.min() * 1e4) / 1e4, math.ceil(values.max() * 1e4) / 1e4]
    return bounds


def check_finite(metrics: dict) -> None:
    """Refuse metrics with NaN or infinity: such a model must never be published."""
    bad = [name for name, value in metrics.items() if isinstance(value, float) and not math.isfinite(value)]
    if bad:
        raise TrainingRefused(
            f"training produced non-finite metrics ({', '.join(f'{n}={metrics[n]}' for n in bad)}); "
            "the model is not published. Check the data for extreme values or lower the learning rate"
        )
