"""Every declared minimum is a tested fact: it is the version the floor profile installs and tests."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO


def locked_versions(profile: str) -> dict[str, str]:
    pins = (line.split("==") for line in (REPO / "constraints" / f"{profile}.txt").read_text().splitlines())
    return {name.lower(): version for name, version in (pin for pin in pins if len(pin) == 2)}


def declared_minimums() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = [*project["dependencies"], *(requirement for extra in extras for requirement in extra)]
    minimums = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?>=([0-9.]+)", requirement)
        assert match, f"{requirement!r} does not declare its minimum as name>=version"
        minimums[match.group(1).lower()] = match.group(3)
    return minimums


def test_every_declared_minimum_is_the_floor_profiles_version():
    floor = locked_versions("floor")
    assert {name: floor.get(name) for name in declared_minimums()} == declared_minimums()


def test_the_platform_profiles_pin_what_their_platform_ships():
    """The versions the README's profile table promises, as the locks hold them."""
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
