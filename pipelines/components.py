"""The services' component specs, loaded with the image references of one build.

Each service folder holds its spec(s) (`services/<service>/component*.yaml`) with a default image
`taxifare/taxifare-<service>:<version>`; pipelines load them through `Images`, which swaps in the
registry and tag chosen at compile time, so the compiled YAML names exactly the images `make build`
pushed.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml
from kfp import components, kubernetes

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"

# On KFP, steps get their settings from Kubernetes: the database URL from a secret, the stores from a
# ConfigMap. Locally the runner ignores these and the same variables come from the environment.
DB_SECRET = "taxifare-db"
DB_SECRET_KEY_TO_ENV = {"database-url": "DATABASE_URL"}
# The bearer token the predictor asks of callers that report actual fares (the traffic steps).
ACTUALS_SECRET = "taxifare-predictor-actuals"
ACTUALS_SECRET_KEY_TO_ENV = {"token": "PREDICTOR_ACTUALS_TOKEN"}
# Where the data store and the model store are (gs:// on KFP) comes from the project's ConfigMap.
CONFIG_MAP = "taxifare-config"
CONFIG_MAP_KEY_TO_ENV = {"DATA_URI": "DATA_URI", "MODEL_STORE_URI": "MODEL_STORE_URI"}
DEFAULT_REGISTRY = "taxifare"


def use_database(task):
    """The task gets DATABASE_URL from the `taxifare-db` secret on KFP."""
    kubernetes.use_secret_as_env(task, secret_name=DB_SECRET, secret_key_to_env=DB_SECRET_KEY_TO_ENV)
    return task


def use_actuals_token(task):
    """The task gets PREDICTOR_ACTUALS_TOKEN from the `taxifare-predictor-actuals` secret on KFP."""
    kubernetes.use_secret_as_env(
        task, secret_name=ACTUALS_SECRET, secret_key_to_env=ACTUALS_SECRET_KEY_TO_ENV
    )
    return task


def use_stores(task):
    """The task gets DATA_URI and MODEL_STORE_URI from the `taxifare-config` ConfigMap on KFP."""
    kubernetes.use_config_map_as_env(
        task, config_map_name=CONFIG_MAP, config_map_key_to_env=CONFIG_MAP_KEY_TO_ENV
    )
    return task


@dataclass(frozen=True)
class Images:
    registry: str = DEFAULT_REGISTRY
    tag: str = "dev"

    def __post_init__(self):
        if not self.tag or self.tag == "latest":
            raise ValueError(f"image tag {self.tag!r}: use a version or commit, never 'latest'")

    def image(self, service: str) -> str:
        return f"{self.registry.rstrip('/')}/taxifare-{service}:{self.tag}"

    def load(self, service: str, spec_file: str = "component.yaml"):
        """The component of `services/<service>/<spec_file>`, its image set to this build's."""
        spec = yaml.safe_load((SERVICES_DIR / service / spec_file).read_text())
        spec["implementation"]["container"]["image"] = self.image(service)
        return components.load_component_from_text(yaml.safe_dump(spec, sort_keys=False))
