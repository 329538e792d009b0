"""taxifare-trainer: trains the fare model and scores stored models (see README.md)."""
