"""Traffic for the predictor: synthetic trips in normal or drifted modes (see README.md)."""
