"""Model quality on the real NYC sample (bench/trainer_quality.py prints the same figures)."""

import numpy as np
import pytest

from taxifare.core.trips import load_classic_csv, model_inputs
from taxifare.trainer.model import predict
from taxifare.trainer.training import LABEL, TrainOptions, fit_model, rmse

REQUIRED_RMSE = 5.0


@pytest.mark.slow
def test_rmse_on_the_real_test_split(real_data_dir):
    folder = real_data_dir / "nyc-taxi-2009-2015"
    train, valid, test = (
        load_classic_csv(folder / f"taxi-{part}.csv").frame for part in ("train", "valid", "test")
    )
    model, _ = fit_model(train, valid, TrainOptions(), progress=0)
    labels = test[LABEL].to_numpy(np.float64)
    model_rmse = rmse(labels, predict(model, model_inputs(test)))
    mean_rmse = rmse(labels, np.full(len(labels), train[LABEL].mean()))
    assert len(test) == 1572, "every test trip is scored"
    assert model_rmse <= REQUIRED_RMSE, f"RMSE {model_rmse:.3f} (mean predictor {mean_rmse:.3f})"
