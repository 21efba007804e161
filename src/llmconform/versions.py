"""What a report records about where it ran: Python, platform and the versions of the packages that matter."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

__all__ = ["environment"]


def environment(packages: Iterable[str]) -> dict[str, str]:
    """Python, platform and each package's installed version ("not installed" when absent)."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found
