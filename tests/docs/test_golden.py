"""Golden files: the catalog ``momentum docs`` writes for the example app (and the fixture).

The golden folders under ``golden/`` are compared file by file. After a deliberate change of
the output, regenerate them with ``MOMENTUM_UPDATE_GOLDEN=1 python -m pytest
tests/docs/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import momentum.cli  # noqa: F401 - registers the commands on the app
from momentum.cli.app import app

GOLDEN = Path(__file__).resolve().with_name("golden")
UPDATE = os.environ.get("MOMENTUM_UPDATE_GOLDEN") == "1"
CASES = {
    "app_domain": ["app_domain"],
    "notifications": ["notifications"],
    "momentum_docs_fixture": ["momentum_docs_fixture"],
}


def files(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_catalog_matches_the_golden_files(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    result = CliRunner().invoke(
        app, ["docs", *CASES[name], "-o", str(out)], env={"MOMENTUM_CASING": None}
    )
    assert result.exit_code == 0, result.output
    produced = files(out)
    golden = GOLDEN / name
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden)
    expected = files(golden)
    assert sorted(produced) == sorted(expected), "files differ: see MOMENTUM_UPDATE_GOLDEN"
    for path, text in expected.items():
        assert produced[path] == text, (
            f"{name}/{path} differs from the golden file; if the change is intended, "
            f"regenerate with MOMENTUM_UPDATE_GOLDEN=1 and review the diff"
        )
