"""
Sphinx configuration of the provider's documentation, built by ``make docs``.

The build is nitpicky and turns warnings into errors, so every cross-reference must resolve.
There is no intersphinx: the names of other projects (Airflow, the Amazon provider, botocore,
the standard library) have no inventory here, and are the only ones ignored below.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
# The working copy's package, not the installed wheel: the reference shows the sources being edited.
sys.path[:0] = [str(REPO), str(DOCS / "_ext")]

from checked_types import bind_type_checking_names  # noqa: E402

from airflow_entityresolution import __version__  # noqa: E402

project = "airflow-entityresolution"
author = "The airflow-entityresolution contributors"
copyright = "the airflow-entityresolution contributors, under the Apache License 2.0"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
    "generated_tables",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"airflow-entityresolution {release}"
# The footer says "Made with Furo" only: the project's pages name no people.
html_show_sphinx = False

# The markdown pages are the repository's own files, included whole: their level-1 heading is the page's.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints_format = "short"

bind_type_checking_names("airflow_entityresolution")

nitpicky = True
# Other projects' names, which no inventory resolves without intersphinx.
nitpick_ignore_regex = [
    (r"py:.*", r"(airflow|aiobotocore|botocore|boto3|pytest|_pytest|aiohttp)(\..*)?"),
    (r"py:.*", r"types_(boto3|aiobotocore)_entityresolution\..*"),
    (r"py:.*", r"(collections|contextlib|datetime|enum|os|pathlib|re|threading|typing|types)\..*"),
]
