"""Run a command for as long as the process that started this one lives, however that one ends.

`python lifeline.py COMMAND ARGS…` with its stdin a pipe whose other end only the owner holds: when
the owner exits, is killed (SIGKILL included) or crashes, the kernel closes that end, the read here
returns end-of-file, and the command gets SIGINT (anvil writes its `--state` file on SIGINT), then
SIGKILL if it has not gone within the grace period. SIGINT and SIGTERM sent to this process are
passed on, so the owner stops the command by signalling this process as it would the command.

Run by path with only the standard library (no package import), so it starts in milliseconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

GRACE_SECONDS = 10.0


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()


def watch_owner(child: subprocess.Popen[bytes]) -> None:
    """Block until the owner's end of stdin is closed, then stop the command."""
    while sys.stdin.buffer.read(4096):
        pass
    stop(child)


def main(argv: list[str]) -> int:
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: child.send_signal(received))
    threading.Thread(target=watch_owner, args=(child,), daemon=True).start()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
