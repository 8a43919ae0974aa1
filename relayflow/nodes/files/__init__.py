"""Nodes that touch the local disk or file archives: Read/Write Files from Disk (and its legacy
forms) and Compression. Every path goes through ``confine`` (X4)."""

from __future__ import annotations

from relayflow.nodes.files import compression, read_write
from relayflow.nodes.spec import NodeSpec

SPECS: tuple[NodeSpec, ...] = (*read_write.SPECS, *compression.SPECS)
