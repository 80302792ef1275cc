"""The npm tarball and the Python wheel carry every asset a construct deploys.

A construct that synthesizes in TypeScript but points at an asset missing from the published
package fails only for users; this test reads both packages built by jsii-pacmak (dist/js and
dist/python) and checks every Lambda bundle (src/**/*.lambda.ts → assets/**/index.js) and every
Glue script (src/**/glue/*.py → lib/**/glue/*.py) is inside.
"""
import io
import pathlib
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def expected_files() -> list:
    src = ROOT / "src"
    lambdas = [
        "package/assets/" + str(p.relative_to(src)).removesuffix(".ts") + "/index.js"
        for p in src.rglob("*.lambda.ts")
    ]
    glue = ["package/lib/" + str(p.relative_to(src)) for p in src.rglob("*.py") if p.parent.name == "glue"]
    return sorted(lambdas + glue)


def single(pattern: str) -> pathlib.Path:
    found = sorted((ROOT / "dist").glob(pattern))
    assert len(found) == 1, f"expected one {pattern} under dist/, found {found}: run jsii-pacmak first"
    return found[0]


def names_in_npm_tarball(data: bytes) -> set:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


def test_the_package_has_code_and_types_and_nothing_of_the_workspace():
    names = names_in_npm_tarball(single("js/*.jsii.tgz").read_bytes())
    assert "package/lib/index.js" in names
    assert "package/.jsii" in names
    workspace = ("package/.venv/", "package/cdk.out/", "package/integ/", "package/test/", "package/src/",
                 "package/node_modules/", "package/examples/", "package/benchmarks/")
    assert [n for n in names if n.startswith(workspace)] == []


def test_npm_tarball_carries_every_asset():
    names = names_in_npm_tarball(single("js/*.jsii.tgz").read_bytes())
    assert [p for p in expected_files() if p not in names] == []


def test_wheel_embeds_the_same_npm_package_with_every_asset():
    with zipfile.ZipFile(single("python/*.whl")) as wheel:
        embedded = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
        assert len(embedded) == 1, embedded
        names = names_in_npm_tarball(wheel.read(embedded[0]))
    missing = [p for p in expected_files() if p not in names]
    assert missing == []
    assert "package/lib/index.js" in names


def test_every_command_line_tool_is_in_the_package_and_runs():
    """`npx cdk-lakehouse-cdc-preflight` must work from the installed package: the bin file is
    in the tarball, self-contained (pg bundled) and answers --help without a database."""
    import json
    import subprocess
    import tempfile

    bins = json.loads((ROOT / "package.json").read_text())["bin"]
    assert "cdk-lakehouse-cdc-preflight" in bins
    data = single("js/*.jsii.tgz").read_bytes()
    names = names_in_npm_tarball(data)
    assert [p for p in bins.values() if f"package/{p}" not in names] == []
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.getmember(f"package/{bins['cdk-lakehouse-cdc-preflight']}")
        tar.extract(member, tmp, filter="data")
        # Outside the repository: no node_modules to lean on.
        out = subprocess.run(["node", str(pathlib.Path(tmp) / member.name), "--help"], capture_output=True, text=True, cwd=tmp)
    assert out.returncode == 0, out.stderr
    assert "--tables" in out.stdout
