"""The taxi-fare predictor: Flask under gunicorn, serving the live model (see README.md)."""
