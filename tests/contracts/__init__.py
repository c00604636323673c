"""Tests of the contracts layer (a package, so test module names cannot collide)."""
