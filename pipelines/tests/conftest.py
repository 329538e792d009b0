import sys
from pathlib import Path

# The pipeline modules import each other as the `pipelines` package, from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
