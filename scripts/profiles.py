"""
The deployment profiles the provider is tested in, and the commands that lock and build them.

A profile is an environment Airflow users really run: a Python, an Airflow with the providers
its platform pins, and everything else as PyPI stood on one date. Each has a recorded lock,
``constraints/<name>.txt``, that ``make lock`` reproduces, and a virtualenv,
``.venvs/<name>``, that ``make test-all`` builds from the built wheel and runs the suite in.

    python scripts/profiles.py names            # the profiles, in the order make test-all runs them
    python scripts/profiles.py names --all      # and the tier-only ones (production), as make lock
    python scripts/profiles.py lock [NAME ...]  # re-resolve the locks (all by default)
    python scripts/profiles.py python NAME      # the interpreter a profile's virtualenv uses
    python scripts/profiles.py requirements NAME  # pip's arguments for the profile's own requirements
    python scripts/profiles.py extras NAME      # the package's extras the profile installs, for pip
    python scripts/profiles.py skipped-tiers NAME  # the real-process tiers the profile leaves out

Only the standard library: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "constraints"
# What every profile runs the suite with: the emulator, the test tools and the lineage listener.
TEST_EXTRAS = ("emulator", "dev", "openlineage")
# The tiers whose tests start Airflow in processes of their own, by their pytest marker: Airflow's
# scheduler, triggerer, DAG processor and API server (e2e), and a fresh Python per DAG with the
# OpenLineage listener (lineage_process). They cost minutes, so each runs only in the profiles where
# what it exercises differs: the provider's version switches (airflow_entityresolution/compat.py) fall
# at Airflow 3.0.6 and 3.3, so Airflow 3.1 takes the same paths as MWAA's 3.0.6; the floor runs the
# same Airflow and OpenLineage provider as airflow-2.11.0. The in-process suite runs everywhere.
PROCESS_TIERS = ("e2e", "lineage_process")


@dataclass(frozen=True)
class Profile:
    """
    One environment the suite runs in.

    :param name: the lock's and the virtualenv's name.
    :param python: the Python the platform runs, as ``3.12``.
    :param exclude_newer: PyPI as it stood at this moment resolves what ``pins`` leave open.
    :param pins: what the platform pins: Airflow and the providers it ships.
    :param lowest_direct: resolve every direct dependency to the lowest version ``pyproject.toml``
        allows (the floor), instead of the highest.
    :param about: what the profile stands for, as the documentation's profile table names it.
    :param requirements: a requirements file (from the repository's root) locked with the project, for
        what only the profile's own tier needs; it stays out of ``pyproject.toml``, whose minimums are
        the floor profile's.
    :param whole_suite: ``make test-all`` runs the suite in it; ``False`` for a profile that serves
        one tier, run by its own target.
    :param extras: the package's extras locked and installed with it; the documentation's tools only
        where ``make docs`` builds it.
    :param process_tiers: which of :data:`PROCESS_TIERS` the suite runs in it; the others' tests are
        skipped there, saying why.
    """

    name: str
    python: str
    exclude_newer: str
    pins: tuple[str, ...] = ()
    lowest_direct: bool = False
    about: str = ""
    requirements: str | None = None
    whole_suite: bool = True
    extras: tuple[str, ...] = TEST_EXTRAS
    process_tiers: tuple[str, ...] = PROCESS_TIERS


PROFILES = (
    Profile(
        "newest",
        python="3.14",
        exclude_newer="2026-11-30T00:00:00Z",
        pins=("apache-airflow==3.3.2",),
        about="The newest Airflow with the newest providers, on the newest Python Airflow supports",
        extras=(*TEST_EXTRAS, "docs"),
    ),
    Profile(
        "airflow-3.1",
        python="3.12",
        exclude_newer="2026-03-14T00:00:00Z",
        pins=(
            "apache-airflow==3.1.8",
            "apache-airflow-providers-amazon==9.23.0",
            "apache-airflow-providers-common-compat==1.14.1",
            "apache-airflow-providers-standard==1.12.1",
        ),
        about="Airflow 3.1 as Astronomer's runtime 3.1 ships it",
        process_tiers=(),
    ),
    Profile(
        "mwaa-3.0.6",
        python="3.12",
        exclude_newer="2025-09-01T00:00:00Z",
        pins=(
            "apache-airflow==3.0.6",
            "apache-airflow-providers-amazon==9.12.0",
            "apache-airflow-providers-common-compat==1.7.3",
            "apache-airflow-providers-standard==1.6.0",
        ),
        about="Amazon MWAA's Airflow 3.0.6",
    ),
    Profile(
        "airflow-2.11.0",
        python="3.11",
        exclude_newer="2025-05-21T00:00:00Z",
        pins=(
            "apache-airflow==2.11.0",
            "apache-airflow-providers-amazon==9.8.0",
            "apache-airflow-providers-common-compat==1.7.0",
            "apache-airflow-providers-standard==1.2.0",
        ),
        about="Airflow 2.11.0 at its release, as MWAA 2.11 ships it",
    ),
    Profile(
        "floor",
        python="3.11",
        # The oldest Airflow allowed came out the day before: its own dependencies as they stood then.
        exclude_newer="2025-05-21T00:00:00Z",
        lowest_direct=True,
        about="Every direct dependency at the minimum pyproject.toml declares",
        process_tiers=(),
    ),
    Profile(
        "production",
        python="3.14",
        exclude_newer="2026-11-30T00:00:00Z",
        pins=("apache-airflow==3.3.2",),
        about="The newest profile plus PostgreSQL and Celery with Redis, for the production tier only",
        requirements="tests/production/requirements.in",
        whole_suite=False,
    ),
)


def profile(name: str) -> Profile:
    for candidate in PROFILES:
        if candidate.name == name:
            return candidate
    raise SystemExit(f"no profile {name!r}: the profiles are {', '.join(p.name for p in PROFILES)}")


def lock_path(item: Profile) -> Path:
    return CONSTRAINTS / f"{item.name}.txt"


def available_pythons() -> dict[tuple[int, int], str]:
    """The CPython 3 interpreters on PATH or kept by pyenv, by minor version."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found: dict[tuple[int, int], str] = {}
    for minor in range(8, 20):
        candidates = [shutil.which(f"python3.{minor}")]
        kept = pyenv_root.glob(f"versions/3.{minor}.*/bin/python3.{minor}")
        candidates += sorted(map(str, kept), reverse=True)
        for path in filter(None, candidates):
            # A pyenv shim for a version pyenv does not activate answers with an error, not a version.
            answered = subprocess.run([path, "--version"], capture_output=True, text=True)
            if answered.returncode == 0 and answered.stdout.startswith(f"Python 3.{minor}."):
                found[(3, minor)] = path
                break
    return found


def interpreter(item: Profile) -> str:
    """The profile's Python if this machine has it, else the nearest one, saying so on stderr."""
    wanted = tuple(int(part) for part in item.python.split("."))
    pythons = available_pythons()
    if not pythons:
        raise SystemExit("no python3.N interpreter on PATH")
    if wanted in pythons:
        return pythons[wanted]
    nearest = min(pythons, key=lambda version: (abs(version[1] - wanted[1]), -version[1]))
    print(
        f"profile {item.name}: Python {item.python} is not on this machine; "
        f"using the nearest, Python {nearest[0]}.{nearest[1]}",
        file=sys.stderr,
    )
    return pythons[nearest]


def lock(item: Profile, uv: str) -> None:
    """Resolve the profile's lock the way it is recorded: reproducible from this command alone."""
    python_version = ".".join(str(part) for part in interpreter_version(item))
    command = [
        uv,
        "pip",
        "compile",
        "pyproject.toml",
        *([item.requirements] if item.requirements else []),
        *(argument for extra in item.extras for argument in ("--extra", extra)),
        "--python-version",
        python_version,
        "--exclude-newer",
        item.exclude_newer,
        "--no-header",
        "--no-annotate",
        "--quiet",
        "-o",
        str(lock_path(item)),
    ]
    if item.lowest_direct:
        command += ["--resolution", "lowest-direct"]
    if item.pins:
        command += ["-c", "-"]
    CONSTRAINTS.mkdir(exist_ok=True)
    header = f"# {item.name}: {item.about}. Made by `make lock`; do not edit.\n"
    subprocess.run(command, input="\n".join(item.pins) + "\n", text=True, check=True, cwd=REPO)
    path = lock_path(item)
    path.write_text(header + path.read_text())


def interpreter_version(item: Profile) -> tuple[int, int]:
    """The version of the interpreter the profile's virtualenv will really have."""
    answered = subprocess.run(
        [interpreter(item), "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    major, minor = answered.stdout.split()
    return int(major), int(minor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    naming = commands.add_parser("names")
    naming.add_argument("--all", action="store_true", help="also the profiles that serve one tier")
    locking = commands.add_parser("lock")
    locking.add_argument("names", nargs="*")
    locking.add_argument("--uv", default="uv")
    choosing = commands.add_parser("python")
    choosing.add_argument("name")
    requiring = commands.add_parser("requirements")
    requiring.add_argument("name")
    extending = commands.add_parser("extras")
    extending.add_argument("name")
    tiering = commands.add_parser("skipped-tiers")
    tiering.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "names":
        print(" ".join(item.name for item in PROFILES if args.all or item.whole_suite))
    elif args.command == "python":
        print(interpreter(profile(args.name)))
    elif args.command == "requirements":
        requirements = profile(args.name).requirements
        print(f"-r {requirements}" if requirements else "")
    elif args.command == "extras":
        print(",".join(profile(args.name).extras))
    elif args.command == "skipped-tiers":
        chosen = profile(args.name)
        print(",".join(tier for tier in PROCESS_TIERS if tier not in chosen.process_tiers))
    else:
        for name in args.names or [item.name for item in PROFILES]:
            lock(profile(name), args.uv)


if __name__ == "__main__":
    main()
