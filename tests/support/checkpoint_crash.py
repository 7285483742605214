"""A process killed (SIGKILL) after writing a checkpoint's temporary file and before its rename."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_PATCH = """
import pathlib, time, pyarrow.ipc as ipc
real = ipc.RecordBatchFileWriter.write_table
def slow(self, table, *args, **kwargs):
    real(self, table, *args, **kwargs)
    pathlib.Path({started!r}).touch()
    time.sleep(60)  # killed here, between the temporary file's write and its rename
ipc.RecordBatchFileWriter.write_table = slow
"""


def killed_while_writing_checkpoint(script: str, marker: Path) -> None:
    """Run `script` (Python, from the worktree) with every Arrow file write held after it has
    written; SIGKILL it once it has (`marker` is touched then)."""
    worktree = Path(__file__).resolve().parent.parent.parent
    process = subprocess.Popen([sys.executable, "-c", _PATCH.format(started=str(marker)) + script], cwd=worktree,
                               env={**os.environ, "PYTHONPATH": str(worktree)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the process never reached the checkpoint's write"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
