"""Whether a process is still there: the world file's chain, serve's workers and their flow runs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """True while `pid` runs (also when it belongs to another user); a zombie — exited, not yet
    reaped by its parent — is as good as gone."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return False  # gone between the signal and the read
