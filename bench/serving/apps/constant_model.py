"""(b0) The predictor with its model call replaced by a constant fare: everything (b) does but the model.

Validation, the live-model check, prediction logging into Postgres and metrics all run as in (b);
only `SharedModelCalls.predict` is swapped, after the app is built. Same environment as (b).
"""

import numpy as np

from taxifare.predictor.wsgi import create


class ConstantFares:
    def predict(self, model, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return np.full(len(inputs["pickup_longitude"]), 10.0)


app = create()
app.extensions["taxifare"].model_calls = ConstantFares()
