"""The WSGI entrypoint gunicorn loads in each worker: `taxifare.predictor.wsgi:create()`."""

from flask import Flask

from taxifare.core.config import load_settings
from taxifare.core.logs import setup_logging
from taxifare.predictor.app import create_app
from taxifare.predictor.config import load_predictor_config


def create() -> Flask:
    settings = load_settings()
    setup_logging(settings.log_level)
    return create_app(settings, load_predictor_config(settings))
