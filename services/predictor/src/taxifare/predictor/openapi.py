"""The OpenAPI 3 description served at /openapi.json."""

from taxifare.predictor.validation import (
    LATITUDE_RANGE,
    LONGITUDE_RANGE,
    PASSENGER_RANGE,
)


def _coordinate(low: float, high: float, what: str) -> dict:
    return {"type": "number", "minimum": low, "maximum": high, "description": what}


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_spec(max_instances: int, max_body_bytes: int) -> dict:
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
                "example": "2015-06-30T18:05:00",
                "description": "local NYC time as the meter records it, ISO 8601 without offset",
            },
            "pickup_longitude": _coordinate(*LONGITUDE_RANGE, "degrees"),
            "pickup_latitude": _coordinate(*LATITUDE_RANGE, "degrees"),
            "dropoff_longitude": _coordinate(*LONGITUDE_RANGE, "degrees"),
            "dropoff_latitude": _coordinate(*LATITUDE_RANGE, "degrees"),
            "passenger_count": {
                "type": "integer",
                "minimum": PASSENGER_RANGE[0],
                "maximum": PASSENGER_RANGE[1],
            },
            "request_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9._:-]{1,64}$",
                "description": "your id for this trip, to report its actual fare; generated when absent",
            },
        },
    }
    errors = {
        "400": _error_response("invalid JSON or invalid instances; `details` names each bad field"),
        "413": _error_response(f"body larger than {max_body_bytes} bytes"),
        "415": _error_response("Content-Type is not application/json"),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "taxifare predictor", "version": "1"},
        "paths": {
            "/v1/predict": {
                "post": {
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
                        },
                        **errors,
                        "503": _error_response("no live model loaded yet; the message says how to get one"),
                    },
                }
            },
            "/v1/actuals": {
                "post": {
                    "summary": "Record the real fares of served trips, by request id",
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
                                                "required": ["request_id", "fare_amount"],
                                                "properties": {
                                                    "request_id": {"type": "string"},
                                                    "fare_amount": {"type": "number", "minimum": 0},
                                                },
                                            },
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {"description": "accepted; written to the database in the background"},
                        **errors,
                    },
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
            }
        },
    }
