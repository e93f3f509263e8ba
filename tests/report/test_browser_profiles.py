"""Browser profiles left behind by a run killed while printing are removed by the next
browser, and nothing else is."""

from __future__ import annotations

import os
import subprocess
import sys

from pilotmonitor.report.browser import (
    PROFILE_PREFIX,
    STALE_PROFILE_AGE_S,
    remove_stale_profiles,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_old_profiles_of_ended_processes_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    profiles = {
        name: tmp_path / f"{PROFILE_PREFIX}{name}"
        for name in (f"{dead}-old", f"{dead}-new", f"{alive}-old", "legacy_no_pid")
    }
    for profile in profiles.values():
        (profile / "Default").mkdir(parents=True)
    other = tmp_path / "someone-elses-dir"
    other.mkdir()
    now = max(p.stat().st_mtime for p in profiles.values())
    later = now + STALE_PROFILE_AGE_S + 1
    os.utime(profiles[f"{dead}-new"], (later, later))  # touched an instant ago

    removed = remove_stale_profiles(tmp_path, now=later)

    assert removed == [profiles[f"{dead}-old"]]
    assert not profiles[f"{dead}-old"].exists()
    assert all(p.exists() for name, p in profiles.items() if name != f"{dead}-old")
    assert other.exists()
