"""Which committed code a stored result was computed with, for deciding reuse.

Provenance records the git commit (``code_version``), but a commit that changes only the
README, the tests or the dbt project (whose effect reaches results through the published
data, which is hashed on its own) does not change how estimates and reports are computed.
The fingerprint is the git tree ids of the folders that do (`CODE_PATHS`): two commits
with the same trees there compute the same results from the same inputs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the estimator library and the package (analysis plans, disclosure control, report templates)
CODE_PATHS = ("analyses", "pilotmonitor")
COMMIT = re.compile(r"[0-9a-f]{40}")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10)


def code_version(repo: Path = REPO) -> str | None:
    """The provenance of results computed now: the commit, ``+dirty`` when the code that
    computes results (`CODE_PATHS`) has uncommitted changes. An edited README or test does
    not make results unreproducible from the commit, nor unreusable. None outside a
    git checkout."""
    try:
        head = _git(repo, "rev-parse", "HEAD")
        if head.returncode != 0 or not head.stdout.strip():
            return None
        status = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + (
        "+dirty" if status.returncode != 0 or status.stdout.strip() else ""
    )


def code_fingerprint(commit: str = "HEAD", repo: Path = REPO) -> str | None:
    """The tree ids of `CODE_PATHS` at `commit` (a commit id, or HEAD); None when that
    cannot vouch for the code: no git checkout, an unknown or malformed commit (a
    ``+dirty`` code version), or, at HEAD, uncommitted changes in those folders."""
    if commit != "HEAD" and not COMMIT.fullmatch(commit):
        return None
    try:
        if commit == "HEAD":
            status = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
            if status.returncode != 0 or status.stdout.strip():
                return None
        trees = _git(repo, "rev-parse", *(f"{commit}:{path}" for path in CODE_PATHS))
    except (OSError, subprocess.SubprocessError):
        return None
    ids = trees.stdout.split()
    return ",".join(ids) if trees.returncode == 0 and len(ids) == len(CODE_PATHS) else None
