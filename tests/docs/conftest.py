"""Puts the example application and the docs fixture package on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

for path in (EXAMPLES, FIXTURES):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
