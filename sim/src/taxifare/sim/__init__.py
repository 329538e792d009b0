"""taxifare-sim: retraining policies replayed on a simulated clock through the real pipelines."""
