"""The streaming merge script as a module (the Spark session is the root conftest's)."""
import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "src" / "ingestion" / "streaming" / "glue" / "streaming_merge.py"


@pytest.fixture(scope="session")
def merge_module():
    spec = importlib.util.spec_from_file_location("streaming_merge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
