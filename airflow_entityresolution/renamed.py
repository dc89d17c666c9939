"""The public names that release 0.1.0 had under other names, still served, with a deprecation warning."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def serve_old_names(
    module: str, new_name_of: Mapping[str, str], namespace: Mapping[str, Any]
) -> Callable[[str], Any]:
    """
    Build a module's ``__getattr__`` that answers each old name with the object of its new name.

    :param module: the module's full name, for the messages.
    :param new_name_of: each old name, and the name that replaced it in the same module.
    :param namespace: the module's globals, where the new names live.
    """

    def module_getattr(name: str) -> Any:
        if name not in new_name_of:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        # Imported here: only code that still uses an old name pays for loading Airflow's exceptions.
        from airflow.exceptions import AirflowProviderDeprecationWarning

        warnings.warn(
            f"{module}.{name} is renamed {new_name_of[name]}; the old name will be removed in 1.0.0.",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return namespace[new_name_of[name]]

    return module_getattr
