"""``relayflow run --binary-dir``: the terminal nodes' files, written out of the binary store
(in memory for ``relayflow run``) into a folder before the process ends."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from relayflow.engine.binary import BinaryData
from relayflow.engine.ports import BinaryStore
from relayflow.engine.run import ExecutionRecord

_UNSAFE = re.compile(r"[^\w.\- ]+")


def _name(entry: dict[str, Any], node: str, index: int, prop: str) -> str:
    """The entry's file name without any folder part, or ``<node>_<item>_<property>[.ext]``."""
    given = str(entry.get("fileName") or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", given).strip(" .")
    if name:
        return name
    ext = entry.get("fileExtension")
    stem = _UNSAFE.sub("_", f"{node}_{index}_{prop}")
    return f"{stem}.{ext}" if isinstance(ext, str) and ext.isalnum() else stem


def _free(folder: Path, name: str, taken: set[str]) -> Path:
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    candidate, n = name, 1
    while candidate in taken or (folder / candidate).exists():
        candidate = f"{stem}-{n}{dot}{ext}" if dot else f"{name}-{n}"
        n += 1
    taken.add(candidate)
    return folder / candidate


async def save_terminal_binaries(record: ExecutionRecord, store: BinaryStore, folder: Path) -> list[Path]:
    """Write every binary entry of the terminal nodes' main output into ``folder`` (made if
    missing; existing files are never overwritten: a ``-1``, ``-2``... suffix is added)."""
    os.makedirs(folder, exist_ok=True)
    binary = BinaryData(store, record.id)
    written: list[Path] = []
    taken: set[str] = set()
    for node, outputs in record.result.items():
        for index, item in enumerate(outputs[0] if outputs else ()):
            entries = item.get("binary") if isinstance(item, dict) else None
            if not isinstance(entries, dict):
                continue
            for prop, entry in entries.items():
                if not isinstance(entry, dict):
                    continue
                path = _free(folder, _name(entry, node, index, prop), taken)
                await binary.save_to(entry, path)
                written.append(path)
    return written
