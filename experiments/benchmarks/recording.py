"""Recording benchmark results with the machine, date and command that produced them.

Results are appended to ``results/<name>.md`` (newest first is not needed: each entry is dated)
and the latest run is written to ``results/<name>.json`` for scripts that compare runs.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "pandas": pd.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


def record(name: str, command: str, tables: dict[str, pd.DataFrame], notes: str = "") -> Path:
    """Append a dated entry with every table (as Markdown) and return the file written."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    lines = [
        f"## {now}",
        "",
        f"- command: `{command}`",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
    ]
    if notes:
        lines.append(f"- notes: {notes}")
    for title, table in tables.items():
        lines += ["", f"### {title}", "", table.to_markdown(index=False), ""]
    path = RESULTS / f"{name}.md"
    previous = path.read_text() if path.exists() else f"# {name} benchmark results\n\n"
    path.write_text(previous + "\n".join(lines) + "\n")
    latest = {
        "date": now,
        "command": command,
        "machine": info,
        "tables": {title: table.to_dict(orient="records") for title, table in tables.items()},
    }
    text = json.dumps(latest, indent=2, ensure_ascii=False, default=str)
    (RESULTS / f"{name}.json").write_text(text)
    return path


def command_line() -> str:
    """The command that is running, with the script path relative to the repository."""
    script = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parents[2]
    shown = script.relative_to(root).as_posix() if script.is_relative_to(root) else script.name
    return " ".join(["python", shown, *sys.argv[1:]])


def publish(name: str, tables: dict[str, pd.DataFrame], notes: list[str], *, save: bool) -> None:
    """Print every table and the notes, and with ``save`` record them (:func:`record`) with
    the command that is running."""
    for title, table in tables.items():
        print(f"\n{title}\n")
        print(table.to_markdown(index=False))
    print("\n" + "\n".join(notes))
    if save:
        print("recorded in", record(name, command_line(), tables, "; ".join(notes)))
