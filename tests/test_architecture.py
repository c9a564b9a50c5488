"""The architecture holds: layers point one way (import-linter) and modules stay small.

``lint-imports`` also runs in ``scripts/check`` and CI; running it here means a
plain ``pytest`` catches a layering violation too. The layers contract is
``exhaustive``: a new top-level package under ``chat/`` must be given a layer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 500  # STYLE.md: split a module by noun once it passes about 400 lines


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603 - our own venv's lint-imports, fixed arguments
        [str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"import contracts in pyproject.toml are broken:\n{result.stdout}{result.stderr}"
    assert " 0 broken" in result.stdout


def test_modules_stay_small() -> None:
    big = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "chat").rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines; split them by noun (STYLE.md habit 15): {big}"
