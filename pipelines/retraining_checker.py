"""retraining-checker: retrain only when the live model has become obsolete.

training-run-in-flight (the trigger's answer, KFP asked first) -> is-retraining-needed -> if "true":
trigger-model-training (a taxi-fare-predictor run, recorded with the check's reason)
"""

from kfp import dsl

from pipelines.components import Images, use_database

NAME = "retraining-checker"


def make_pipeline(images: Images, kfp_host: str):
    in_flight_op = images.load("trigger", "component-in-flight.yaml")
    check_op = images.load("drift-checker")
    trigger_op = images.load("trigger")

    @dsl.pipeline(name=NAME, description=__doc__.split("\n")[0])
    def retraining_checker(  # noqa: PLR0917 (each parameter is a pipeline parameter)
        rule: str = "cost",
        retrain_cost: float = 5.0,
        error_cost: float = 0.05,
        horizon_hours: float = 168.0,
        min_new_data_hours: float = 192.0,
        training_window_days: float = 67.0,
        window_hours: float = 24.0,
        min_predictions: int = 200,
        min_actuals: int = 100,
        cooldown_hours: float = 6.0,
        stale_run_hours: float = 6.0,
        training_pipeline: str = "taxi-fare-predictor",
        backend: str = "kfp",
        training_parameters: str = "{}",
        now: str = "",
    ):
        # The trigger owns the run records: it answers whether a training run is in flight.
        in_flight = in_flight_op(
            pipeline=training_pipeline, backend=backend, stale_after_hours=stale_run_hours, now=now
        )
        in_flight.set_env_variable("KFP_HOST", kfp_host)
        check = check_op(
            rule=rule,
            retrain_cost=retrain_cost,
            error_cost=error_cost,
            horizon_hours=horizon_hours,
            min_new_data_hours=min_new_data_hours,
            training_window_days=training_window_days,
            window_hours=window_hours,
            min_predictions=min_predictions,
            min_actuals=min_actuals,
            cooldown_hours=cooldown_hours,
            training_runs=in_flight.outputs["state"],
            now=now,
        )
        with dsl.If(check.outputs["decision"] == "true", name="retraining-needed"):
            trigger = trigger_op(
                pipeline=training_pipeline,
                backend=backend,
                reason=check.outputs["reason"],
                triggered_by=NAME,
                parameters=training_parameters,
                now=now,
                stale_after_hours=stale_run_hours,
            )
            trigger.set_env_variable("KFP_HOST", kfp_host)

        for task in (in_flight, check, trigger):
            # Both read the database, whose state changes between runs: never cache.
            task.set_caching_options(False)
            use_database(task)

    return retraining_checker
