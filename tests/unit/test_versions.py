"""Each report records versions and git revisions, so any two runs can be compared later."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llmconform.versions import environment, git_revision


def git(directory: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True)


def test_the_revision_of_a_repository_and_its_dirty_flag(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert git_revision(tmp_path) == head
    (tmp_path / "a.txt").write_text("two\n")
    assert git_revision(tmp_path) == head + "-dirty"


def test_outside_a_repository_there_is_no_revision(tmp_path: Path) -> None:
    assert git_revision(tmp_path) is None


def test_ci_commit_variables_name_the_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef")
    found = environment(["llmconform"])
    assert found["workspace_git_revision"] == "0123456789abcdef"
    assert found["llmconform_git_revision"]
    assert found["llmconform"] != "not installed"
