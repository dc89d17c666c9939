"""End-to-end tests on Airflow's own processes.

A package, so that its ``conftest`` does not shadow ``tests/conftest.py`` as the module ``conftest``.
"""
