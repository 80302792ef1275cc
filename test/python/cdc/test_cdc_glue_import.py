"""The CDC merge script imports the shared Glue module as Glue gives it: ``MergeJob`` passes
``lakehouse_glue.py`` with ``--extra-py-files`` (``src/core/merge-job.ts``), which puts the file's
folder on the job's Python path and nothing else of this repository. No Spark session needed."""
import ast
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py"
MODULE_DIR = ROOT / "src" / "core" / "glue"

PROBE = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('cdc_merge', sys.argv[1])\n"
    "m = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(m)\n"
    "print(m.lg.__file__)\n"
    "print(m.lg.fq_name('c', 'd', 't'))\n"
)


def _probe(tmp_path, python_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if python_path is not None:
        env["PYTHONPATH"] = python_path
    # cwd is an empty folder: only the site packages (pyspark) and PYTHONPATH can be imported.
    return subprocess.run([sys.executable, "-c", PROBE, str(SCRIPT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_module_is_imported_at_top_level_as_lg():
    tree = ast.parse(SCRIPT.read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import)
           and any(a.name == "lakehouse_glue" and a.asname == "lg" for a in n.names)]
    assert len(top) == 1, "cdc_merge.py must have a plain top-level `import lakehouse_glue as lg`"
    # No other (nested or aliased) import of the module that Glue's path might not satisfy.
    every = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             and ("lakehouse_glue" in [a.name for a in n.names] or getattr(n, "module", None) == "lakehouse_glue")]
    assert every == top


def test_the_script_imports_with_only_the_module_folder_on_the_path(tmp_path):
    done = _probe(tmp_path, str(MODULE_DIR))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert pathlib.Path(lines[0]).resolve() == (MODULE_DIR / "lakehouse_glue.py").resolve()
    assert lines[1] == "`c`.`d`.`t`"


def test_without_the_module_the_script_does_not_import(tmp_path):
    done = _probe(tmp_path, None)
    assert done.returncode != 0
    assert "No module named 'lakehouse_glue'" in done.stderr
