"""Generate `docs/schemas/*.json` and `docs/records.md` from the record models (§4)."""

from __future__ import annotations

import json
from pathlib import Path

from genesis_payments.core.records import RECORD_MODELS

HEADER = """# Records

Generated from the pydantic models in `genesis_payments/core/records.py` by
`genesis-payments schemas`; do not edit by hand. Money fields are strings with at most 6 decimals;
timestamps are RFC 3339 with a UTC offset. Every record may carry more fields than listed.
"""


def render_schemas() -> dict[str, str]:
    """File name (relative to docs/) → content, for every generated file."""
    files: dict[str, str] = {}
    lines = [HEADER]
    for name, model in RECORD_MODELS.items():
        schema = model.model_json_schema(mode="serialization")
        files[f"schemas/{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        required = set(schema.get("required", []))
        lines.append(f"\n## {model.__name__} — `schemas/{name}.json`\n")
        lines.append(f"{(model.__doc__ or '').strip()}\n")
        lines.append("| field | required | type |\n|---|---|---|")
        for field_name, prop in schema["properties"].items():
            lines.append(f"| `{field_name}` | {'yes' if field_name in required else 'no'} | {_type_of(prop)} |")
    files["records.md"] = "\n".join(lines) + "\n"
    return files


def _type_of(prop: dict) -> str:
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "object")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"map to {_type_of(prop['additionalProperties'])}"
    if prop.get("format") == "date-time":
        return "timestamp"
    if prop.get("pattern") and "decimals" in prop.get("description", ""):
        return "money"
    return str(kind)


def write_schema_docs(docs_dir: Path) -> list[Path]:
    written = []
    for relative, content in render_schemas().items():
        path = docs_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
