"""Every declared minimum is a tested fact: it is the version the floor profile installs and tests."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable

from conftest import REPO
from packaging.version import Version

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def locked_versions(profile: str) -> dict[str, str]:
    pins = (line.split("==") for line in (REPO / "constraints" / f"{profile}.txt").read_text().splitlines())
    return {name.lower(): version for name, version in (pin for pin in pins if len(pin) == 2)}


def profiles_command(*arguments: str) -> list[str]:
    """What ``scripts/profiles.py`` answers, as the Makefile asks it."""
    answered = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "profiles.py"), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return answered.stdout.split()


def installed_extras(profile: str) -> list[str]:
    return profiles_command("extras", profile)[0].split(",")


def minimums(requirements: Iterable[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9.]+)", requirement)
        assert match, f"{requirement!r} does not declare its minimum as name>=version"
        found[match.group(1).lower()] = match.group(3)
    return found


def declared_minimums(extras: Iterable[str] | None = None) -> dict[str, str]:
    """Each requirement's minimum: the dependencies', and those of ``extras`` (all by default)."""
    optional = PROJECT["optional-dependencies"]
    return minimums([*PROJECT["dependencies"], *(r for extra in extras or optional for r in optional[extra])])


def test_every_declared_minimum_is_the_floor_profiles_version():
    floor, declared = locked_versions("floor"), declared_minimums(installed_extras("floor"))
    assert {name: floor.get(name) for name in declared} == declared


def test_the_documentation_tools_are_locked_where_make_docs_builds_and_nowhere_else():
    docs = minimums(PROJECT["optional-dependencies"]["docs"])
    for profile in profiles_command("names", "--all"):
        locked = locked_versions(profile)
        if "docs" in installed_extras(profile):
            assert all(Version(locked[name]) >= Version(minimum) for name, minimum in docs.items()), profile
        else:
            assert not set(docs) & set(locked), profile
    assert "docs" in installed_extras("newest")


def test_the_platform_profiles_pin_what_their_platform_ships():
    """What each platform ships, as its lock holds it (the installation page's table shows the locks)."""
    expected = {
        "airflow-3.1": ("3.1.8", "9.23.0", "1.14.1", "1.12.1"),
        "mwaa-3.0.6": ("3.0.6", "9.12.0", "1.7.3", "1.6.0"),
        "airflow-2.11.0": ("2.11.0", "9.8.0", "1.7.0", "1.2.0"),
    }
    names = ("apache-airflow", "apache-airflow-providers-amazon", "apache-airflow-providers-common-compat",
             "apache-airflow-providers-standard")  # fmt: skip
    for profile, versions in expected.items():
        locked = locked_versions(profile)
        assert tuple(locked[name] for name in names) == versions, profile


def test_the_production_profile_is_newest_plus_the_production_tiers_own_requirements():
    """The production tier runs the newest profile's Airflow, with what only it needs on top."""
    newest, production = locked_versions("newest"), locked_versions("production")
    assert production["apache-airflow"] == newest["apache-airflow"]
    requirements = (REPO / "tests" / "production" / "requirements.in").read_text().splitlines()
    names = [line.strip() for line in requirements if line.strip() and not line.startswith("#")]
    assert names and all(name in production for name in names), names
    assert not [name for name in names if name in declared_minimums()], "they stay out of pyproject.toml"
