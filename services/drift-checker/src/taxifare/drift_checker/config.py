"""Policy and thresholds from command-line flags, environment variables and defaults, in that order."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from taxifare.core.config import ConfigError
from taxifare.drift_checker.detectors import Thresholds
from taxifare.drift_checker.policy import Policy


@dataclass(frozen=True)
class Option:
    field: str  # of Policy or Thresholds
    flag: str
    env: str
    help: str


OPTIONS = (
    Option("window_hours", "--window-hours", "DRIFT_WINDOW_HOURS",
           "check the predictions of the last H hours"),
    Option("min_predictions", "--min-predictions", "DRIFT_MIN_PREDICTIONS",
           "fewer predictions in the window: no mean-gap or distribution verdict"),
    Option("min_actuals", "--min-actuals", "DRIFT_MIN_ACTUALS", "fewer known fares: no performance verdict"),
    Option("cooldown_hours", "--cooldown-hours", "DRIFT_COOLDOWN_HOURS",
           "no retraining this soon after a deploy"),
    Option("stale_run_hours", "--stale-run-hours", "DRIFT_STALE_RUN_HOURS",
           "a training run in flight for longer no longer blocks"),
    Option("claim_minutes", "--claim-minutes", "DRIFT_CLAIM_MINUTES",
           "a 'true' check blocks other checkers until its run is recorded, at most this long"),
    Option("training_pipeline", "--training-pipeline", "DRIFT_TRAINING_PIPELINE",
           "the pipeline whose runs in flight block retraining"),
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
        return
    if value < 0:
        raise ConfigError(f"{option.flag} / {option.env} must not be negative, got {value!r}")
    if option.field in {"window_hours", "alpha"} and value == 0:
        raise ConfigError(f"{option.flag} / {option.env} must be positive")
    if option.field in {"alpha", "min_distance", "drift_share"} and value > 1:
        raise ConfigError(f"{option.flag} / {option.env} must be between 0 and 1, got {value!r}")
