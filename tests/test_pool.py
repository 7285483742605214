"""`serve --pool`: stopping a worker stops every flow run it started, even in a session of its own."""

from __future__ import annotations

import subprocess
import sys
import time

from deployments.pool import descendants, is_alive, stop_process_trees

# A parent that starts a child in a new session (as a Prefect worker starts a flow run) and ignores SIGTERM.
PARENT = """
import signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(60)
"""


def test_stopping_a_process_tree_reaches_children_in_their_own_session_and_kills_the_stubborn():
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline = time.monotonic() + 20
        while not descendants(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = descendants(parent.pid)
        stop_process_trees([parent.pid], grace=1)
        parent.wait(timeout=5)
        deadline = time.monotonic() + 5
        while is_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
