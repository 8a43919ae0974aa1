"""Who may do what: users, projects, memberships, API keys, sessions, shares, the audit log.

Pure data and rules, no storage (``relayflow/access/ports.py`` stores them) and no HTTP.

Roles:
- instance roles: ``owner`` (exactly one, created first), ``admin``, ``member``. Owners and admins
  act as a project admin in every project and manage users; members see only their projects.
- project roles: ``admin`` (members, sharing, moving, deleting the project), ``editor`` (create,
  change, run and delete workflows, credentials and executions), ``viewer`` (read only; no
  credential data, no runs).
- API key scopes: ``read`` (safe methods only), ``write`` (everything a project role allows),
  ``admin`` (user, project, audit and instance administration). A key never grants more than its
  user's roles; a login session has every scope.

Objects (workflows, credentials) belong to one project and may be shared with others. A share
gives the other project's members their own project role over a workflow (never ``share``,
``move`` or ``delete``), and only the use of a credential in that project's workflows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InstanceRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class ProjectRole(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {ProjectRole.VIEWER: 1, ProjectRole.EDITOR: 2, ProjectRole.ADMIN: 3}


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


class ProjectKind(StrEnum):
    PERSONAL = "personal"
    TEAM = "team"


class ObjectKind(StrEnum):
    WORKFLOW = "workflow"
    CREDENTIAL = "credential"


@dataclass(frozen=True)
class User:
    id: str
    email: str  # stored lower-cased; unique
    name: str
    role: InstanceRole
    password_hash: str
    created_at: datetime
    updated_at: datetime
    disabled: bool = False
    # the user's personal project (created with the user)
    personal_project_id: str = ""

    @property
    def is_instance_admin(self) -> bool:
        return self.role in (InstanceRole.OWNER, InstanceRole.ADMIN)


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    kind: ProjectKind
    created_at: datetime
    # the user a personal project belongs to
    owner_id: str | None = None


@dataclass(frozen=True)
class Member:
    project_id: str
    user_id: str
    role: ProjectRole


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: the secret part only as its SHA-256 (keys are random, 256 bits)."""

    id: str
    user_id: str
    name: str
    secret_hash: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Session:
    """A login: its refresh token rotates on each use (only the current one's hash is kept; an
    older one presented again revokes the session)."""

    id: str
    user_id: str
    refresh_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class StoredCredential:
    id: str
    name: str
    type: str
    project_id: str
    # the credential's fields as JSON, sealed by relayflow.security.secrets (associated data: id)
    sealed: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log. ``id`` is assigned by the store (increasing)."""

    at: datetime
    action: str  # "auth.login", "auth.login_failed", "credential.read_data", "workflow.update"...
    actor_id: str | None = None  # the user, None when unknown (a failed login)
    actor: str = ""  # e-mail, or "api-key:<id>", as it was when logged
    target_kind: str | None = None
    target_id: str | None = None
    ip: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None  # exact, or a prefix ending in "." ("credential.")
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None  # the id of the last entry of the previous page (newest first)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user: User
    # project id -> the caller's role there (membership)
    projects: Mapping[str, ProjectRole]
    scopes: frozenset[Scope] = ALL_SCOPES
    api_key_id: str | None = None
    session_id: str | None = None

    @property
    def is_instance_admin(self) -> bool:
        return self.user.is_instance_admin and Scope.ADMIN in self.scopes

    @property
    def label(self) -> str:
        return f"api-key:{self.api_key_id}" if self.api_key_id else self.user.email

    def role_in(self, project_id: str | None) -> ProjectRole | None:
        """The caller's role in a project: instance owners and admins are admins everywhere."""
        if self.user.is_instance_admin:
            return ProjectRole.ADMIN
        if project_id is None:
            return None
        return self.projects.get(project_id)

    def can_read(self) -> bool:
        return bool(self.scopes)

    def can_write(self) -> bool:
        return Scope.WRITE in self.scopes or Scope.ADMIN in self.scopes


def object_role(
    principal: Principal,
    kind: ObjectKind,
    owner_project: str | None,
    shared_with: frozenset[str] | set[str] | tuple[str, ...] = (),
) -> tuple[ProjectRole | None, bool]:
    """The caller's role over one object, and whether it comes through its owning project.

    None: the caller cannot see it at all (the API answers 404). Objects without an owner (made
    before projects existed) are seen by instance owners and admins only. Through a share, a
    workflow gives the member's role in the sharing-in project; a credential gives ``viewer``
    (it may be used, not read or changed)."""
    if principal.user.is_instance_admin:
        return ProjectRole.ADMIN, True
    direct = principal.projects.get(owner_project) if owner_project is not None else None
    if direct is not None:
        return direct, True
    best: ProjectRole | None = None
    for project_id in shared_with:
        role = principal.projects.get(project_id)
        if role is not None and (best is None or role.rank > best.rank):
            best = role
    if best is not None and kind is ObjectKind.CREDENTIAL:
        best = ProjectRole.VIEWER
    return best, False
