"""The baseline of ``momentum check --against REF``: a contract file, or a git revision.

For a revision, the tree of that commit is extracted (``git archive``) into a temporary
folder and the contracts of the packages are exported from it by a subprocess
(:mod:`momentum.docs.export`) running this momentum: every folder of the repository on the
current ``sys.path`` (the working directory first, then e.g. ``src`` or ``examples`` of an
editable install) is replaced by the same folder of the old tree, so the packages are
imported as they were at that revision. Nothing in the repository or its work tree changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from momentum.contracts.errors import ContractBaselineError
from momentum.contracts.serialization import DEFAULT_CASING, Casing
from momentum.docs.contract_file import load_contracts, validate_contracts

EXPORT_TIMEOUT_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class Baseline:
    """What ``--against`` resolved to.

    Attributes:
        contracts: The contract file content.
        description: ``contract file old.json`` or ``git revision main (1a2b3c4d5e6f)``.
    """

    contracts: dict[str, Any]
    description: str


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _extract(top: Path, commit: str, tree: Path) -> None:
    """Extract the tree of ``commit`` into ``tree``, streaming ``git archive`` (no temp tar)."""
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            ["git", "archive", "--format=tar", commit],
            cwd=top,
            stdout=subprocess.PIPE,
            stderr=errors,
        ) as proc,
    ):
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                archive.extractall(tree, filter="data")
        except tarfile.TarError as exc:
            proc.kill()
            failure: str | Exception = exc
        else:
            failure = ""
        proc.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if proc.returncode != 0 or failure:
        raise ContractBaselineError(
            f"cannot extract the tree of {commit}: {message or failure or proc.returncode}"
        )


def _mapped_paths(search_path: Sequence[str], cwd: Path, top: Path, tree: Path) -> list[str]:
    """The folders of ``search_path`` inside the repository, as folders of ``tree``."""
    found: list[str] = []
    for entry in [str(cwd), *search_path]:
        try:
            place = Path(entry or cwd).resolve()
        except OSError:
            continue
        if not place.is_relative_to(top) or (top / ".git") in (place, *place.parents):
            continue
        mapped = tree / place.relative_to(top)
        if mapped.is_dir() and str(mapped) not in found:
            found.append(str(mapped))
    return found


def contracts_at_revision(
    revision: str,
    packages: Sequence[str],
    *,
    casing: Casing = DEFAULT_CASING,
    cwd: Path | None = None,
    search_path: Sequence[str] | None = None,
) -> Baseline:
    """The contracts of ``packages`` as of git ``revision`` of the repository around ``cwd``.

    Raises :class:`ContractBaselineError` when ``cwd`` is not in a git repository, the
    revision is unknown, or the packages cannot be imported from its tree.
    """
    here = (cwd or Path.cwd()).resolve()
    top_text = _git(here, "rev-parse", "--show-toplevel")
    if top_text is None:
        raise ContractBaselineError(
            f"{revision!r} is neither a contract file nor a git revision: {here} is not in a "
            f"git repository."
        )
    top = Path(top_text).resolve()
    commit = _git(here, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if commit is None:
        raise ContractBaselineError(
            f"{revision!r} is neither a contract file nor a known git revision of {top}."
        )
    with tempfile.TemporaryDirectory(prefix="momentum-contracts-") as tmp:
        tree = Path(tmp).resolve() / "tree"
        _extract(top, commit, tree)
        paths = _mapped_paths(sys.path if search_path is None else search_path, here, top, tree)
        workdir = tree / here.relative_to(top)
        command = [sys.executable, "-P", "-m", "momentum.docs.export", "--root", str(tree)]
        for path in paths:
            command += ["--path", path]
        command += ["--casing", casing, "--", *packages]
        try:
            done = subprocess.run(
                command,
                cwd=workdir if workdir.is_dir() else tree,
                capture_output=True,
                text=True,
                timeout=EXPORT_TIMEOUT_SECONDS,
                check=False,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        except subprocess.TimeoutExpired as exc:
            raise ContractBaselineError(
                f"exporting the contracts of {', '.join(packages)} at {revision} took longer "
                f"than {EXPORT_TIMEOUT_SECONDS:.0f} s"
            ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1].removeprefix("error: ") if lines else f"exit {done.returncode}"
        raise ContractBaselineError(
            f"cannot export the contracts of {', '.join(packages)} at revision {revision}: {reason}"
        )
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        raise ContractBaselineError(f"the exporter printed no contract file: {exc}") from exc
    contracts = validate_contracts(data, f"the export of revision {revision}")
    return Baseline(contracts, f"git revision {revision} ({commit[:12]})")


def load_baseline(
    against: str,
    packages: Sequence[str],
    *,
    casing: Casing = DEFAULT_CASING,
    cwd: Path | None = None,
) -> Baseline:
    """The contract file ``against`` names, else the contracts at git revision ``against``.

    A revision is exported in ``casing`` (see :func:`contracts_at_revision`); a file keeps
    the casing it was written in.
    """
    path = Path(cwd or Path.cwd()) / against
    if path.is_file():
        return Baseline(load_contracts(path), f"contract file {against}")
    return contracts_at_revision(against, packages, casing=casing, cwd=cwd)
