"""The OpenAPI 3 description served at /openapi.json: exactly what validation.py accepts.

The coordinate ranges are those of the live model's training data (the outer box before a model is
loaded), so the document a worker serves follows its model.
"""

from taxifare.predictor.validation import (
    DATETIME_PATTERN,
    FARE_RANGE,
    OUTER_BOUNDS,
    PASSENGER_RANGE,
    REQUEST_ID_PATTERN,
    YEAR_RANGE,
    InputBounds,
)


def _coordinate(low: float, high: float, source: str) -> dict:
    return {"type": "number", "minimum": low, "maximum": high, "description": f"degrees, within {source}"}


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_spec(
    max_instances: int, max_body_bytes: int, bounds: InputBounds = OUTER_BOUNDS, token_required: bool = False
) -> dict:
    coordinates = {
        name: _coordinate(low, high, bounds.source) for name, (low, high) in bounds.coordinates.items()
    }
    trip = {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "pickup_datetime",
            "pickup_longitude",
            "pickup_latitude",
            "dropoff_longitude",
            "dropoff_latitude",
            "passenger_count",
        ],
        "properties": {
            "pickup_datetime": {
                "type": "string",
                "pattern": f"^{DATETIME_PATTERN}$",
                "example": "2015-06-30T18:05:00",
                "description": "local NYC time as the meter records it, ISO 8601 without offset, "
                f"a real calendar date in the years {YEAR_RANGE[0]}-{YEAR_RANGE[1]}",
            },
            **coordinates,
            "passenger_count": {
                "type": "integer",
                "minimum": PASSENGER_RANGE[0],
                "maximum": PASSENGER_RANGE[1],
            },
            "request_id": {
                "type": "string",
                "pattern": f"^{REQUEST_ID_PATTERN}$",
                "description": "your id for this trip, to report its actual fare; generated when absent",
            },
        },
    }
    errors = {
        "400": _error_response("invalid JSON or invalid instances; `details` names each bad field"),
        "413": _error_response(f"body larger than {max_body_bytes} bytes"),
        "408": _error_response("the request did not arrive whole within PREDICTOR_READ_TIMEOUT_SECONDS"),
        "415": _error_response("Content-Type is not application/json"),
    }
    actuals_responses = {
        "202": {"description": "accepted; stored in the background once its prediction is logged"},
        **errors,
        "503": _error_response("the actuals buffer is full (database down or slow); retry later"),
    }
    security = {}
    if token_required:
        actuals_responses["401"] = _error_response("no or wrong bearer token")
        security = {"security": [{"actualsToken": []}]}
    return {
        "openapi": "3.0.3",
        "info": {"title": "taxifare predictor", "version": "1"},
        "paths": {
            "/v1/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict the fares of a batch of trips (Vertex AI / TF Serving request shape)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["instances"],
                                    "properties": {
                                        "instances": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": max_instances,
                                            "items": {"$ref": "#/components/schemas/Trip"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "one fare and one request id per instance, in order",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Predictions"}}
                            },
                            # The ids a prediction answers with are what its actual fares are posted by.
                            "links": {
                                "ReportActualFare": {
                                    "operationId": "postActuals",
                                    "requestBody": {
                                        "actuals": [
                                            {
                                                "request_id": "$response.body#/request_ids/0",
                                                "fare_amount": 12.5,
                                            }
                                        ]
                                    },
                                }
                            },
                        },
                        **errors,
                        "503": _error_response("no live model loaded yet; the message says how to get one"),
                    },
                }
            },
            "/v1/actuals": {
                "post": {
                    "operationId": "postActuals",
                    "summary": "Record the real fares of served trips, by request id",
                    **security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["actuals"],
                                    "properties": {
                                        "actuals": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": max_instances,
                                            "items": {
                                                "type": "object",
                                                "additionalProperties": False,
                                                "required": ["request_id", "fare_amount"],
                                                "properties": {
                                                    "request_id": {
                                                        "type": "string",
                                                        "pattern": f"^{REQUEST_ID_PATTERN}$",
                                                    },
                                                    "fare_amount": {
                                                        "type": "number",
                                                        "minimum": FARE_RANGE[0],
                                                        "maximum": FARE_RANGE[1],
                                                    },
                                                },
                                            },
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": actuals_responses,
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "The model this worker serves, its metrics, any load error",
                    "responses": {"200": {"description": "model information"}},
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness: a model is loaded",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "no model loaded yet"},
                    },
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}
            },
        },
        "components": {
            "securitySchemes": {"actualsToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Trip": trip,
                "Predictions": {
                    "type": "object",
                    "properties": {
                        "predictions": {"type": "array", "items": {"type": "number"}},
                        "request_ids": {"type": "array", "items": {"type": "string"}},
                        "model_version": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    }
