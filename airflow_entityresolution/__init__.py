"""Apache Airflow provider for AWS Entity Resolution jobs, with a local emulator of the job API."""

from __future__ import annotations

__version__ = "0.1.0"
