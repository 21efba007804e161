"""What a report records about where it ran: Python, platform, the versions of the packages that matter and
the git revisions (of llmconform when run from a checkout, and of the workspace it ran in), so any two runs
can be compared later."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["environment"]


def environment(packages: Iterable[str]) -> dict[str, str]:
    """Python, platform and each package's installed version ("not installed" when absent)."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    found["llmconform_git_revision"] = git_revision(Path(__file__).resolve().parent) or "not a git checkout"
    # The workspace: CI's own commit variable first (GitHub Actions, GitLab CI), else the working directory's.
    workspace = os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA") or git_revision(Path.cwd())
    found["workspace_git_revision"] = workspace or "not a git checkout"
    return found


def git_revision(directory: Path) -> str | None:
    """The commit checked out in ``directory``'s repository, with "-dirty" when it has uncommitted changes;
    None outside a repository or without git (never raises, at most two seconds)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2, check=False
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")
