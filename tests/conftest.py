"""Test harness: one session-wide Prefect test server, and every test in its own temporary root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.chain", "tests.support.postgres"]

# Before Prefect is imported anywhere: no analytics noise, and a server that does not record task
# runs or persist events (no test reads them back), which removes SQLite lock stalls (notes §3.2).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    """One Prefect test server for the whole session; flow tests request it (directly or via `flow_env`)."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_LOCAL_STORAGE_PATH,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-storage")
    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings(
            updates={
                PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                PREFECT_LOCAL_STORAGE_PATH: storage,
                PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage,
            }
        ):
            yield


@pytest.fixture(autouse=True)
def genesis_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own GENESIS_ROOT, fake mode, no live settings leaking in from the shell."""
    root = tmp_path / "root"
    root.mkdir()
    for name in list(os.environ):
        if name.startswith("GENESIS_") or name == "PAYMENTS_USE_FAKE":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESIS_ROOT", str(root))
    monkeypatch.chdir(tmp_path)
    return root


@pytest.fixture
def settings(genesis_root: Path):
    from genesis_payments import Settings

    return Settings()


@pytest.fixture
def flow_env(prefect_harness, genesis_root: Path) -> Path:
    """For flow tests: the Prefect harness is up and the root is isolated."""
    return genesis_root


@pytest.fixture
def world(settings):
    """Fake mode's outside world on loopback: a facilitator and one SDK seller per fake vendor."""
    from tests.support.world import running_world

    quick = settings.model_copy(update={"http_timeout_seconds": 3.0})
    with running_world(quick) as world:
        for agent in ("media-agent", "deploy-agent"):
            world.fund(agent, "10")
        yield world


# The longest files (a minute or more each, measured), in the order they should start.
LONGEST_FIRST = ("test_e2e.py", "test_serve_ui.py", "test_postgres_e2e.py", "test_benchmarks_smoke.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the others that hold slow (real-server, multi-process) tests.
    `-n 2 --dist loadfile` hands files to the workers in this order: the long ones start at once and
    the short ones fill in around them, instead of one worker finishing a long file alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        return (0, LONGEST_FIRST.index(name)) if name in LONGEST_FIRST else (1 if item.path in slow_files else 2, 0)

    items.sort(key=rank)  # stable: each file keeps its own order
