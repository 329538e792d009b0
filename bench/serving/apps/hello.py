"""(a) The floor: a bare Flask app that answers every request with a constant."""

from flask import Flask

app = Flask(__name__)


@app.route("/v1/predict", methods=["POST"])
def predict():
    return {"hello": "world"}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
