"""The workflow document: n8n export shape, parsing and validation."""

from relayflow.workflow.model import Connection, Node, Workflow, WorkflowSettings
from relayflow.workflow.parse import load_workflow, parse_workflow

__all__ = ["Connection", "Node", "Workflow", "WorkflowSettings", "load_workflow", "parse_workflow"]
