"""The README's quick tour is executed: its files are written out and main.py is run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n# (?P<path>[\w/]+\.py)\n(?P<body>.*?)```", re.DOTALL)


def test_readme_quick_tour_runs(tmp_path: Path) -> None:
    blocks = {m["path"]: m["body"] for m in BLOCK.finditer(README.read_text())}
    assert "main.py" in blocks and len(blocks) >= 3, sorted(blocks)
    for rel, body in blocks.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
        directory = target.parent
        while directory != tmp_path:  # every folder of the tour is a package
            (directory / "__init__.py").touch()
            directory = directory.parent
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # PYTHONPATH comes before the venv's .pth entries, so the tour's app_domain shadows examples/
    where = subprocess.run(
        [sys.executable, "-c", "import app_domain; print(app_domain.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert where.stdout.startswith(str(tmp_path)), where.stdout
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "welcome Ada" in done.stdout
