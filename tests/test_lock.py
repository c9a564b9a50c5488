"""The lock files pin every dependency of pyproject.toml, and agree with each other.

``requirements/lock.txt`` (runtime + dev) and ``requirements/runtime.txt`` (runtime only) are what the
README's commands and ``.ci/run`` install with (``pip install -c``). A dependency added to
pyproject.toml without running ``scripts/lock`` would install unpinned: this test names it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def pins(name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def declared(*, dev: bool) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = list(project["dependencies"])
    if dev:
        names += project["optional-dependencies"]["dev"]
    return [Requirement(text) for text in names]


def test_every_dependency_is_pinned_within_its_range() -> None:
    for lock, dev in (("lock.txt", True), ("runtime.txt", False)):
        pinned = pins(lock)
        for requirement in declared(dev=dev):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{requirement} is not in requirements/{lock}: run scripts/lock"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"requirements/{lock} pins {name}=={pinned[name]}, outside {requirement}: run scripts/lock"
            )


def test_the_runtime_lock_is_the_full_lock_without_the_dev_tools() -> None:
    full, runtime = pins("lock.txt"), pins("runtime.txt")
    assert runtime, "requirements/runtime.txt pins nothing"
    differing = {name: (version, full.get(name)) for name, version in runtime.items() if full.get(name) != version}
    assert not differing, f"runtime.txt and lock.txt disagree (run scripts/lock): {differing}"
    assert "pytest" in full and "pytest" not in runtime
