"""
The package users install: ``python -m build`` makes a wheel and an sdist, and the wheel
installs into a clean virtualenv where every public class imports.

``python -m build`` builds the sdist first and the wheel from the unpacked sdist, so a
wheel at all shows the sdist holds what building needs. Build isolation fetches hatchling
from the package registry. The clean virtualenv is filled by pip, with the lock of the
deployment profile the suite runs in as constraints, as a user on that platform installs it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from provider_classes import PUBLIC_CLASSES, dotted_paths

from airflow_entityresolution import __version__
from airflow_entityresolution.get_provider_info import PACKAGE_NAME, get_provider_info

REPO = Path(__file__).resolve().parent.parent
DIST_NAME = PACKAGE_NAME.replace("-", "_")

# Nothing of these may reach the sdist: local environments, Airflow homes, caches, build outputs.
JUNK_PARTS = {
    ".airflow",
    ".git",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "_build",
    "build",
    "dist",
}

# Run in the clean virtualenv: import what the installed provider info names, and report.
CHECK_INSTALLED = """
import importlib
import importlib.metadata
import importlib.resources
import json
import sys

import airflow_entityresolution
from airflow_entityresolution.get_provider_info import get_provider_info

def import_path(path):
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        if error.name != path:
            raise
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)

info = get_provider_info()
named = [module for section in ("operators", "sensors", "hooks", "triggers")
         for entry in info[section] for module in entry["python-modules"]]
named += info["extra-links"]
for path in named + json.loads(sys.argv[1]):
    import_path(path)

print(json.dumps({
    "named": named,
    "version": airflow_entityresolution.__version__,
    "metadata_version": importlib.metadata.version("airflow-entityresolution"),
    "airflow_version": importlib.metadata.version("apache-airflow"),
    "package_file": airflow_entityresolution.__file__,
    "py_typed": importlib.resources.files("airflow_entityresolution").joinpath("py.typed").is_file(),
}))
"""

# Run in the clean virtualenv once the extra is in: the emulator serves, and boto3 reaches it.
SERVE_ONCE = """
import boto3
from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript

emulator = EntityResolutionEmulator()
emulator.add_id_mapping_workflow("customer-id-mapping", JobScript.succeeded({}))
with EmulatorServer(emulator, host="127.0.0.1", port=0) as server:
    client = boto3.client(
        "entityresolution", endpoint_url=server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    job_id = client.start_id_mapping_job(workflowName="customer-id-mapping")["jobId"]
    print(job_id == emulator.jobs()[0].job_id)
"""


def constraints_file() -> Path:
    """The lock of the profile the suite runs in: ``make test`` names it, or else its virtualenv does."""
    profile = os.environ.get("ER_PROFILE") or Path(sys.prefix).name
    path = REPO / "constraints" / f"{profile}.txt"
    assert path.exists(), f"no lock for profile {profile!r}: run the suite through `make test-<profile>`"
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Build the sdist and the wheel once, the way a release would."""
    outdir = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    wheels = list(outdir.glob("*.whl"))
    sdists = list(outdir.glob("*.tar.gz"))
    assert [path.name for path in wheels] == [f"{DIST_NAME}-{__version__}-py3-none-any.whl"]
    assert [path.name for path in sdists] == [f"{DIST_NAME}-{__version__}.tar.gz"]
    return wheels[0], sdists[0]


def test_the_wheel_ships_the_typing_marker_license_and_emulator(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"{DIST_NAME}-{__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        license_text = archive.read(f"{dist_info}/licenses/LICENSE").decode()

    assert "airflow_entityresolution/py.typed" in names
    for module in ("__init__", "__main__", "server", "state", "pytest_plugin"):
        assert f"airflow_entityresolution/emulator/{module}.py" in names
    assert license_text == (REPO / "LICENSE").read_text()
    assert license_text.startswith("                              Apache License\n")
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert f"Version: {__version__}" in metadata.splitlines()
    assert "provider_info = airflow_entityresolution.get_provider_info:get_provider_info" in entry_points
    # Installing the provider changes nobody's pytest session: the emulator's fixtures are opt-in.
    assert "pytest11" not in entry_points
    # The emulator's server comes with the extra only.
    lines = metadata.splitlines()
    requires = [line.removeprefix("Requires-Dist: ") for line in lines if line.startswith("Requires-Dist:")]
    assert [r for r in requires if r.startswith("aiohttp")] == ["aiohttp>=3.9.2; extra == 'emulator'"]
    assert "Provides-Extra: emulator" in metadata.splitlines()
    # Tests, benchmarks and example DAGs belong to the repository, not to users' site-packages.
    assert all(name.startswith(("airflow_entityresolution/", f"{dist_info}/")) for name in names)


def test_the_sdist_holds_the_project_and_no_junk(built: tuple[Path, Path]) -> None:
    _, sdist = built
    root = f"{DIST_NAME}-{__version__}"
    with tarfile.open(sdist) as archive:
        members = [name.removeprefix(f"{root}/") for name in archive.getnames() if name != root]

    for needed in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "constraints/newest.txt",
        "constraints/floor.txt",
        "airflow_entityresolution/py.typed",
        "airflow_entityresolution/emulator/server.py",
        "tests/conftest.py",
        "docs/conf.py",
        "docs/howto/when_busy.rst",
    ):
        assert needed in members, needed
    for name in members:
        parts = Path(name).parts
        assert not parts[0].startswith(".venv"), name
        assert not JUNK_PARTS.intersection(parts), name
        assert not name.endswith(".pyc"), name
        assert not re.fullmatch(r"benchmarks/[^/]+\.json", name), name


@pytest.mark.timeout(900)
def test_the_wheel_installs_into_a_clean_virtualenv(built: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, _ = built
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)

    def install(requirement: str) -> None:
        """As a user on the profile's platform installs it: pip, with the platform's constraints."""
        command = [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints_file()), requirement]
        installed = subprocess.run(command, capture_output=True, text=True, timeout=780)
        assert installed.returncode == 0, installed.stderr[-5000:]

    install(str(wheel))

    home = tmp_path / "airflow-home"
    home.mkdir()
    # Only what Airflow needs: nothing from the project's own environment may leak in.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }

    def run_in_venv(*command: str) -> str:
        """Run in the clean virtualenv, outside the repository: the imports must come from the wheel."""
        completed = subprocess.run(
            command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    public_classes = [path for paths in PUBLIC_CLASSES.values() for path in paths]
    checked = run_in_venv(str(python), "-I", "-c", CHECK_INSTALLED, json.dumps(public_classes))
    report = json.loads(checked.strip().splitlines()[-1])
    assert Path(report["package_file"]).is_relative_to(venv)
    assert report["named"] == dotted_paths(get_provider_info())
    assert report["version"] == report["metadata_version"] == __version__
    assert report["py_typed"]
    # The constraints file picked must be the one for the Airflow the suite runs with.
    assert report["airflow_version"] == importlib.metadata.version("apache-airflow")

    install(f"{wheel}[emulator]")
    assert run_in_venv(str(python), "-I", "-c", SERVE_ONCE).strip().splitlines()[-1] == "True"

    listed = run_in_venv(str(venv / "bin" / "airflow"), "providers", "get", PACKAGE_NAME, "--output", "json")
    assert f'[{{"Provider": "{PACKAGE_NAME}", "Version": "{__version__}"}}]' in listed.splitlines()


USES_THE_FIXTURE = """
def test_the_emulator_serves(entity_resolution_emulator):
    assert entity_resolution_emulator.endpoint_url.startswith("http://127.0.0.1:")
"""


@pytest.mark.parametrize("opt_in", [[], ["-p", "airflow_entityresolution.emulator.pytest_plugin"]])
def test_the_emulator_fixture_is_there_only_for_a_session_that_opts_in(
    tmp_path: Path, opt_in: list[str]
) -> None:
    """A user's pytest session, with the package installed, gains no plugin it did not ask for."""
    (tmp_path / "test_user.py").write_text(USES_THE_FIXTURE)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *opt_in],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    if opt_in:
        assert completed.returncode == 0, completed.stdout[-3000:]
        assert "1 passed" in completed.stdout
    else:
        assert completed.returncode == 1, completed.stdout[-3000:]
        assert "fixture 'entity_resolution_emulator' not found" in completed.stdout
