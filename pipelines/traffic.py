"""traffic-normal and traffic-drift: send prediction requests to the predictor.

Normal traffic looks like the training data; drifted traffic is purposely far from it, so that drift
can be seen, detected and cured end to end. Both land the completed trips in the data store.
"""

from kfp import dsl

from pipelines.components import Images, use_actuals_token, use_stores

NORMAL = "traffic-normal"
DRIFT = "traffic-drift"
PREDICTOR_URL = "http://taxifare-predictor:8080"


def make_pipelines(images: Images) -> dict:
    send_op = images.load("traffic-gen")

    def traffic_pipeline(name: str, mode: str, description: str):
        @dsl.pipeline(name=name, description=description)
        def traffic(predictor_url: str = PREDICTOR_URL, count: int = 1000, rate: float = 20.0, seed: int = 0):
            send = send_op(predictor_url=predictor_url, mode=mode, count=count, rate=rate, seed=seed)
            # Each run must really send its requests.
            send.set_caching_options(False)
            use_stores(send)
            use_actuals_token(send)  # the predictor takes actual fares only with it

        return traffic

    return {
        NORMAL: traffic_pipeline(NORMAL, "normal", "Send prediction requests like the training data."),
        DRIFT: traffic_pipeline(
            DRIFT, "drift", "Send prediction requests purposely far from the training data."
        ),
    }
