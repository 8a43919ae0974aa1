"""Date & Time nodes: ``relayflow.dateTime`` (n8n ``dateTime`` v2) and ``relayflow.dateTimeLegacy``
(n8n ``dateTime`` v1, moment.js formats). Times come from ``ctx.clock``; the default zone is the
workflow's ``settings.timezone`` (UTC when unset).
"""

from __future__ import annotations

from relayflow.nodes.date_time import current, legacy
from relayflow.nodes.spec import N8nAlias, NodeSpec

SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.dateTime",
        version=1,
        title="Date & Time",
        group="transform",
        description="Get, add to, format, round, compare or take apart dates.",
        params=current.Params,
        execute=current.execute,
        aliases=(N8nAlias("n8n-nodes-base.dateTime", (2,), translate=current.from_n8n),),
    ),
    NodeSpec(
        type="relayflow.dateTimeLegacy",
        version=1,
        title="Date & Time (legacy)",
        group="transform",
        description="n8n's first Date & Time node: format with moment.js tokens, or add / subtract.",
        params=legacy.Params,
        execute=legacy.execute,
        aliases=(N8nAlias("n8n-nodes-base.dateTime", (1,), translate=legacy.from_n8n),),
    ),
)
