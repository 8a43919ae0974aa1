"""The built-in nodes, listed explicitly. Each module exports ``SPECS``."""

from __future__ import annotations

from relayflow.nodes import (
    aggregate,
    code_node,
    crypto_node,
    date_time,
    execute_workflow,
    filter_node,
    flow,
    http_request,
    if_node,
    item_lists,
    limit_node,
    merge_node,
    mysql_node,
    postgres_node,
    redis_node,
    remove_duplicates,
    rename_keys,
    set_node,
    sort_node,
    split_in_batches,
    split_out,
    summarize,
    switch_node,
    triggers,
    wait_node,
)
from relayflow.nodes.spec import NodeSpec

MODULES = (
    triggers,
    flow,
    set_node,
    if_node,
    switch_node,
    filter_node,
    merge_node,
    code_node,
    split_out,
    aggregate,
    summarize,
    sort_node,
    limit_node,
    remove_duplicates,
    rename_keys,
    item_lists,
    date_time,
    crypto_node,
    split_in_batches,
    execute_workflow,
    wait_node,
    http_request,
    redis_node,
    postgres_node,
    mysql_node,
)

BUILTIN_SPECS: tuple[NodeSpec, ...] = tuple(spec for module in MODULES for spec in module.SPECS)
