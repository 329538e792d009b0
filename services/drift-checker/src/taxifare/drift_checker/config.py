"""Policy and thresholds from command-line flags, environment variables and defaults, in that order."""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from taxifare.core.config import ConfigError
from taxifare.drift_checker.detectors import Thresholds
from taxifare.drift_checker.policy import RULES, Policy


@dataclass(frozen=True)
class Option:
    field: str  # of Policy or Thresholds
    flag: str
    env: str
    help: str


OPTIONS = (
    Option("rule", "--rule", "DRIFT_RULE",
           "cost (retrain when the excess error pays for a training run), signals (any signal fires) "
           "or seed (the mean gap alone)"),
    Option("retrain_cost", "--retrain-cost", "DRIFT_RETRAIN_COST",
           "cost rule: dollars one training run costs"),
    Option("error_cost", "--error-cost", "DRIFT_ERROR_COST",
           "cost rule: dollars a dollar of absolute error costs, per prediction served"),
    Option("horizon_hours", "--horizon-hours", "DRIFT_HORIZON_HOURS",
           "cost rule: hours the live model's excess is carried forward"),
    Option("backoff_growth", "--backoff-growth", "DRIFT_BACKOFF_GROWTH",
           "cost rule: after a rejected candidate, wait unless the excess has grown this many times"),
    Option("min_new_data_hours", "--min-new-data-hours", "DRIFT_MIN_NEW_DATA_HOURS",
           "cost rule: hours of the new world to serve before a candidate is trained on it"),
    Option("training_window_days", "--training-window-days", "DRIFT_TRAINING_WINDOW_DAYS",
           "cost rule: the training pipeline's train_days + eval_days (a whole window of data; the "
           "back-off after a rejected candidate, doubled after each further one)"),
    Option("window_hours", "--window-hours", "DRIFT_WINDOW_HOURS",
           "check the predictions of the last H hours"),
    Option("min_predictions", "--min-predictions", "DRIFT_MIN_PREDICTIONS",
           "fewer predictions in the window: no mean-gap or distribution verdict"),
    Option("min_actuals", "--min-actuals", "DRIFT_MIN_ACTUALS", "fewer known fares: no performance verdict"),
    Option("cooldown_hours", "--cooldown-hours", "DRIFT_COOLDOWN_HOURS",
           "no retraining this soon after a deploy"),
    Option("claim_minutes", "--claim-minutes", "DRIFT_CLAIM_MINUTES",
           "a 'true' check blocks other checkers until its run is recorded, at most this long"),
    Option("mean_gap", "--mean-gap", "DRIFT_MEAN_GAP",
           "fire when |prediction mean - label mean| exceeds this many label standard deviations"),
    Option("alpha", "--alpha", "DRIFT_ALPHA",
           "bound on the distribution signal's false alarms on stationary traffic (each of k columns at alpha/k)"),
    Option("min_distance", "--min-distance", "DRIFT_MIN_DISTANCE",
           "a column drifts only if its largest CDF gap (categories: total variation) is at least this"),
    Option("drift_share", "--drift-share", "DRIFT_SHARE",
           "fire only when at least this share of the columns drifted (0: any one column)"),
    Option("mae_ratio", "--mae-ratio", "DRIFT_MAE_RATIO",
           "fire when realised MAE / evaluation MAE reaches this"),
    Option("mae_z", "--mae-z", "DRIFT_MAE_Z", "... and the MAE excess is this many standard errors"),
)  # fmt: skip

_POLICY_FIELDS = {f.name: f for f in fields(Policy)}
# A cost, or a span of time, of 0 would make every excess pay or none.
_POSITIVE = {"retrain_cost", "error_cost", "horizon_hours", "training_window_days"}
_THRESHOLD_FIELDS = {f.name: f for f in fields(Thresholds)}


def default_of(option: Option):
    source = Policy() if option.field in _POLICY_FIELDS else Thresholds()
    return getattr(source, option.field)


def build(flags: Mapping[str, object], env: Mapping[str, str] | None = None) -> tuple[Policy, Thresholds]:
    """Policy and Thresholds: a flag given (not None) wins over the environment, which wins over defaults."""
    env = os.environ if env is None else env
    policy, thresholds = {}, {}
    for option in OPTIONS:
        value = flags.get(option.field)
        if value is None and env.get(option.env):
            value = _parse(option, env[option.env])
        if value is None:
            continue
        _validate(option, value)
        (policy if option.field in _POLICY_FIELDS else thresholds)[option.field] = value
    return Policy(**policy), Thresholds(**thresholds)


def _parse(option: Option, text: str):
    kind = type(default_of(option))
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{option.env}={text!r} is not a valid {kind.__name__}") from None


def _validate(option: Option, value) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{option.flag} / {option.env} must not be empty")
        if option.field == "rule" and value not in RULES:
            raise ConfigError(f"{option.flag} / {option.env}: {value!r} is not one of {', '.join(RULES)}")
        return
    if not math.isfinite(value):
        raise ConfigError(f"{option.flag} / {option.env} must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{option.flag} / {option.env} must not be negative, got {value!r}")
    if option.field in {"window_hours", "alpha", *_POSITIVE} and value == 0:
        raise ConfigError(f"{option.flag} / {option.env} must be positive, got {value!r}")
    if option.field == "backoff_growth" and value < 1:
        raise ConfigError(f"{option.flag} / {option.env} must be at least 1, got {value!r}")
    if option.field in {"alpha", "min_distance", "drift_share"} and value > 1:
        raise ConfigError(f"{option.flag} / {option.env} must be between 0 and 1, got {value!r}")
