"""The API-pull transform script on the path (the Spark session is the root conftest's)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "ingestion" / "api-pull" / "glue"))
