"""The typed forms are generated from the engine's schemas (scripts/typegen); a stale
generated file fails here, in the suite CI runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_types_are_fresh() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "typegen"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_every_command_and_query_has_a_typed_form() -> None:
    import json

    from crm_core import _queries, types

    for schema, suffix in (("commands", ""), ("queries", "Query")):
        document = json.loads((ROOT / "docs" / "schemas" / f"{schema}.schema.json").read_text())
        for variant in document["oneOf"]:
            tag = variant["properties"]["type"]["const"]
            name = "".join(part.capitalize() for part in tag.split("_")) + suffix
            typed = getattr(types, name)
            assert "type" in typed.__required_keys__, name
    assert "query" in vars(_queries.TypedQueries)
