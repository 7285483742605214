from pathlib import Path

from genesis_payments.core.schema_docs import render_schemas

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_committed_schema_docs_are_current():
    stale = [
        name
        for name, content in render_schemas().items()
        if not (DOCS / name).exists() or (DOCS / name).read_text(encoding="utf-8") != content
    ]
    assert not stale, f"regenerate with `genesis-payments schemas`: stale {stale}"
