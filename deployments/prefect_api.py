"""Which Prefect server to use: the one `serve` runs (or `PREFECT_API_URL`) when it answers.

`serve` records the API address of the server it uses in `data/a2a-x402/state/prefect_api.json`
and removes it when it stops; `genesis-payments run` asks, in order, `PREFECT_API_URL` and that
record, and takes the first whose `/health` answers. (Prefect's default port is not guessed: on a
shared machine it may be someone else's server.) Only when none answers is a temporary server
started for the run (about 20 s of the run's time).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import httpx


def record_path(state_dir: Path) -> Path:
    return Path(state_dir) / "prefect_api.json"


def record_api_url(state_dir: Path, api_url: str) -> None:
    path = record_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_url": api_url, "pid": os.getpid()}))


def forget_api_url(state_dir: Path) -> None:
    path = record_path(state_dir)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def recorded_api_url(state_dir: Path) -> str | None:
    try:
        found = json.loads(record_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    url = found.get("api_url") if isinstance(found, dict) else None
    return url if isinstance(url, str) else None


def answers(api_url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def candidates(state_dir: Path) -> list[str]:
    """The addresses to try, in order, without repeats."""
    found = [os.environ.get("PREFECT_API_URL") or "", recorded_api_url(state_dir) or ""]
    return list(dict.fromkeys(url for url in found if url))


def running_api_url(state_dir: Path) -> str | None:
    """The first candidate that answers, or None."""
    return next((url for url in candidates(state_dir) if answers(url)), None)
