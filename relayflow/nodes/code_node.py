"""(stub: being written)"""

from relayflow.nodes.spec import NodeSpec

SPECS: tuple[NodeSpec, ...] = ()
