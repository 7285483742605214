"""Read `prefect.yaml`, the one place the deployments are declared, for `serve` and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    concurrency_limit: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def long_lived(self) -> bool:
        return "long-lived" in self.tags


def load_deployment_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = []
    for entry in document.get("deployments", []):
        specs.append(
            DeploymentSpec(
                name=entry["name"],
                entrypoint=entry["entrypoint"],
                description=entry.get("description", ""),
                parameters=dict(entry.get("parameters") or {}),
                schedules=list(entry.get("schedules") or []),
                triggers=list(entry.get("triggers") or []),
                concurrency_limit=entry.get("concurrency_limit"),
                tags=list(entry.get("tags") or []),
            )
        )
    return specs


def work_pool_name(path: Path = PREFECT_YAML) -> str:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document["definitions"]["work_pool"]["name"]
