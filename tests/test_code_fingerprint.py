"""Reuse of estimates and reports asks whether the code that computes them changed: a
commit that touches only docs or tests must not force a recomputation, one that touches
the analysis code or leaves it uncommitted must."""

import subprocess

from pilotmonitor.code_fingerprint import code_fingerprint, code_version


def _git(repo, *args):
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_fingerprint_follows_the_analysis_code_only(tmp_path):
    repo = tmp_path
    _git(repo, "init", "-q")
    for name, text in {
        "analyses/did.py": "x = 1\n",
        "pilotmonitor/report.py": "y = 1\n",
        "README.md": "a\n",
    }.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first")
    first = _git(repo, "rev-parse", "HEAD")
    start = code_fingerprint(repo=repo)
    assert start is not None and code_fingerprint(first, repo=repo) == start

    (repo / "README.md").write_text("b\n")
    assert code_fingerprint(repo=repo) == start  # uncommitted docs do not matter
    assert code_version(repo=repo) == first  # nor to the provenance of results computed now
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "docs")
    assert code_fingerprint(repo=repo) == start

    (repo / "pilotmonitor" / "report.py").write_text("y = 2\n")
    assert code_fingerprint(repo=repo) is None  # uncommitted analysis code vouches for nothing
    assert code_version(repo=repo) == _git(repo, "rev-parse", "HEAD") + "+dirty"
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "code")
    assert code_fingerprint(repo=repo) not in (None, start)
    assert code_fingerprint(first, repo=repo) == start  # the stored commit's code, as it was

    assert code_fingerprint(first + "+dirty", repo=repo) is None
    assert code_fingerprint("0" * 40, repo=repo) is None
    assert code_fingerprint(repo=tmp_path / "no-checkout") is None
    assert code_version(repo=tmp_path / "no-checkout") is None
