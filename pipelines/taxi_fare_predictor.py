"""taxi-fare-predictor: train on the newest data, compare with the live model, deploy if better.

train -> evaluate (the live model on the candidate's evaluation data) -> write-metrics
-> check-deploy -> if "true": deploy
"""

from kfp import dsl

from pipelines.components import Images, use_database, use_stores

NAME = "taxi-fare-predictor"


def make_pipeline(images: Images):
    train_op = images.load("trainer", "component-train.yaml")
    evaluate_op = images.load("trainer", "component-evaluate.yaml")
    write_metrics_op = images.load("metrics-writer")
    check_deploy_op = images.load("deployer", "component-check-deploy.yaml")
    deploy_op = images.load("deployer", "component-deploy.yaml")

    @dsl.pipeline(name=NAME, description=__doc__.split("\n")[0])
    def taxi_fare_predictor(  # noqa: PLR0917 (each parameter is a pipeline parameter)
        train_days: int = 60,
        eval_days: int = 7,
        min_rows: int = 500,
        epochs: int = 60,
        batch_size: int = 128,
        margin: float = 0.02,
        baseline_margin: float = 0.1,
        now: str = "",
    ):
        train = train_op(
            train_days=train_days,
            eval_days=eval_days,
            min_rows=min_rows,
            epochs=epochs,
            batch_size=batch_size,
            now=now,
        ).set_display_name("train")
        evaluate_live = evaluate_op(eval_data=train.outputs["eval_data"], model_uri="live")
        evaluate_live.set_display_name("evaluate live model")
        write_metrics = write_metrics_op(
            metrics=train.outputs["metrics"], pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, now=now
        ).after(evaluate_live)
        check = check_deploy_op(
            candidate_metrics=train.outputs["metrics"],
            live_metrics=evaluate_live.outputs["metrics"],
            margin=margin,
            baseline_margin=baseline_margin,
            now=now,
        ).after(write_metrics)
        with dsl.If(check.outputs["decision"] == "true", name="candidate-is-better"):
            deploy = deploy_op(version=write_metrics.outputs["version"], now=now)

        # Every step reads the newest data or the registry: a cache hit would silently skip real work.
        for task in (train, evaluate_live, write_metrics, check, deploy):
            task.set_caching_options(False)
        for task in (evaluate_live, write_metrics, check, deploy):
            use_database(task)
        for task in (train, evaluate_live, check, deploy):
            use_stores(task)

    return taxi_fare_predictor
