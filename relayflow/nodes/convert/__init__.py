"""Files and formats: Convert to File, Extract from File and the legacy Spreadsheet File node.

The nodes move data between items' JSON and binary data (``ctx.binary``); the file formats live
in ``formats/`` as plain synchronous readers and writers that never see the engine.
"""

from __future__ import annotations

from relayflow.nodes.convert import convert_to_file, extract_from_file, spreadsheet_file
from relayflow.nodes.spec import NodeSpec

SPECS: tuple[NodeSpec, ...] = (*convert_to_file.SPECS, *extract_from_file.SPECS, *spreadsheet_file.SPECS)
