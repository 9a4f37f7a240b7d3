"""How a benchmark hands over its report: JSON to a file and stdout, a table to stderr.

The JSON is for machines and later sessions (stdout can be piped, the file
kept beside the code); the table is for the person watching the run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson


def publish(report: dict[str, Any], out: Path, table: str) -> None:
    """Write ``report`` as indented JSON to ``out`` and stdout, and ``table`` to stderr."""
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    print(table, file=sys.stderr)
