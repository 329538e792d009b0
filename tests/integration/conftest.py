import sys
from pathlib import Path

# The pipelines compile from the repository root (the `pipelines` package); the KFP fake lives with
# the trigger's tests.
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "trigger" / "tests")]
