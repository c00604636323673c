"""The README's actor example is executed (in a temporary directory: it makes billing.db)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(?P<body>.*?)```", re.DOTALL)


def test_readme_actor_example_runs(tmp_path: Path) -> None:
    [body] = [
        m["body"]
        for m in BLOCK.finditer(README.read_text())
        if "class InvoiceActor(Actor[Account])" in m["body"]
    ]
    script = tmp_path / "actors.py"
    script.write_text(textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "MOMENTUM_DATABASE_URL": "sqlite:///ignored.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "billing.db").exists()
