"""Paths confined to one directory, the files root (X4).

Nodes that touch the local disk take paths from workflows, which any editor may write; every
such path goes through a ``FilesRoot``:

- ``RELAYFLOW_FILES_ROOT`` (default ``$RELAYFLOW_HOME/files``, created if missing) is the root;
  relative paths are relative to it, absolute ones must lie inside it.
- Refused before the disk is touched: NUL bytes, a leading ``~``, any ``..`` component, an
  absolute path outside the root.
- ``resolve`` follows symlinks (``realpath``) and refuses a result outside the root, so a
  symlink pointing out is refused at any level, dangling or not.
- ``open_read`` / ``open_dir`` then walk the *resolved* path from a descriptor of the root, one
  component at a time with ``O_NOFOLLOW``: a directory swapped for a symlink after ``resolve``
  (a race) makes the open fail instead of leaving the root. The opened descriptor's real path
  (``/proc/self/fd/N``) is checked once more.
- ``glob`` resolves and checks every match; matches outside the root are dropped.

Hard links are not detectable by path: whoever can create one inside the root already had
access to its target.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relayflow.errors import NodeError
from relayflow.store.config import relayflow_home

ENV = "RELAYFLOW_FILES_ROOT"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")
_MAGIC = re.compile(r"[*?\[]")
_MAX_PATTERNS = 256
_PROC_FD = Path("/proc/self/fd")


class PathRefused(NodeError):
    """A path that would reach outside the files root, or that is not acceptable at all."""

    code = "path_refused"

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message, node=node, retryable=False)


def files_root_dir(env: Mapping[str, str] = os.environ) -> Path:
    configured = env.get(ENV)
    return Path(configured).expanduser() if configured else relayflow_home(env) / "files"


def fd_path(fd: int) -> Path | None:
    """A path that opens the very file behind ``fd`` (Linux ``/proc``), or None elsewhere."""
    path = _PROC_FD / str(fd)
    return path if _PROC_FD.is_dir() else None


@dataclass(frozen=True)
class Resolved:
    """A path checked against the root: ``rel`` is its real location relative to the root."""

    given: str
    rel: tuple[str, ...]
    real: Path

    @property
    def name(self) -> str:
        return self.rel[-1] if self.rel else ""


class FilesRoot:
    def __init__(self, root: Path, *, node: str | None = None) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NodeError(
                f"the files root {root} ({ENV}) cannot be created: {exc.strerror or exc}",
                node=node,
                retryable=False,
            ) from exc
        self.configured = Path(os.path.abspath(root))
        self.real = Path(os.path.realpath(root))
        self.node = node

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, node: str | None = None) -> FilesRoot:
        return cls(files_root_dir(env), node=node)

    def refuse(self, path: str, why: str) -> PathRefused:
        return PathRefused(
            f"path {path!r} is refused: {why} (files are confined to {self.real}, set by {ENV})",
            node=self.node,
        )

    # lexical checks ------------------------------------------------------------------------------
    def relative(self, path: str) -> str:
        """``path`` as a path relative to the root, checked without touching the disk."""
        if not isinstance(path, str) or not path.strip():
            raise self.refuse(str(path), "it is empty")
        if "\x00" in path:
            raise self.refuse(path, "it contains a NUL byte")
        if path.startswith("~"):
            raise self.refuse(path, "'~' is not expanded; give a path relative to the root")
        if ".." in re.split(r"[/\\]", path):
            raise self.refuse(path, "'..' is not allowed")
        if not os.path.isabs(path):
            return os.path.normpath(path)
        norm = os.path.normpath(path)
        for base in (str(self.configured), str(self.real)):
            if norm == base:
                return "."
            if norm.startswith(base.rstrip("/") + "/"):
                return norm[len(base.rstrip("/")) + 1 :]
        raise self.refuse(path, "it lies outside the files root")

    def _inside(self, real: str) -> tuple[str, ...] | None:
        base = str(self.real)
        if real == base:
            return ()
        if real.startswith(base.rstrip("/") + "/"):
            return tuple(real[len(base.rstrip("/")) + 1 :].split("/"))
        return None

    # resolution ----------------------------------------------------------------------------------
    def resolve(self, path: str) -> Resolved:
        """Follow symlinks; refuse a real location outside the root (dangling links included)."""
        rel = self.relative(path)
        real = os.path.realpath(self.real / rel)
        parts = self._inside(real)
        if parts is None:
            raise self.refuse(path, "it leads outside the files root through a symlink")
        return Resolved(path, parts, Path(real))

    def glob(self, pattern: str) -> list[Resolved]:
        """Files matching a glob pattern (``*``, ``**``, ``?``, ``[...]``, ``{a,b}``; names
        starting with a dot only when the pattern spells the dot, as fast-glob), sorted.
        Symlinked directories are not descended into; a match whose real location is outside
        the root is left out."""
        rel = self.relative(pattern)
        try:
            patterns = expand_braces(rel)
        except ValueError as exc:
            raise NodeError(str(exc), node=self.node, retryable=False) from exc
        found: dict[str, Resolved] = {}
        for pat in patterns:
            for path in self._walk_matches(pat):
                try:
                    resolved = self.resolve(path)
                except PathRefused:
                    continue
                if resolved.real.is_file():
                    found.setdefault(path, resolved)
        return [found[k] for k in sorted(found)]

    def _walk_matches(self, pattern: str) -> Iterator[str]:
        segments = [s for s in pattern.split("/") if s not in ("", ".")]
        static: list[str] = []
        for seg in segments:
            if _MAGIC.search(seg):
                break
            static.append(seg)
        if len(static) == len(segments):  # no wildcard at all: the path itself
            yield os.path.join(str(self.real), *segments) if segments else str(self.real)
            return
        regex = pattern_regex(segments)
        try:
            start = self.resolve(os.path.join(str(self.real), *static)) if static else None
        except PathRefused:
            raise self.refuse(pattern, "its folder leads outside the files root through a symlink") from None
        top = start.real if start else self.real
        if not top.is_dir():
            return
        depth = None if "**" in segments else len(segments) - len(static)
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            rel_dir = os.path.relpath(dirpath, top)
            level = 0 if rel_dir == "." else rel_dir.count("/") + 1
            if depth is not None and level >= depth - 1:
                dirnames[:] = []
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                inner = name if rel_dir == "." else f"{rel_dir}/{name}"
                if regex.fullmatch("/".join([*static, inner])):
                    yield os.path.join(dirpath, name)

    # descriptors ---------------------------------------------------------------------------------
    def verify_fd(self, fd: int, given: str) -> None:
        """Refuse a descriptor whose real path is outside the root (checked after opening)."""
        link = fd_path(fd)
        if link is None:
            return
        if self._inside(os.readlink(link)) is None:
            raise self.refuse(given, "it was moved outside the files root while being opened")

    @contextmanager
    def _root_fd(self) -> Iterator[int]:
        fd = os.open(self.real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)

    def _step(self, parent: int, name: str, given: str, *, create: bool) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise self._walk_error(exc, given) from exc

    def _walk_error(self, exc: OSError, given: str) -> NodeError:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return self.refuse(given, "a symlink appeared on its way while it was being opened")
        if isinstance(exc, FileNotFoundError):
            return NodeError(f"no such file or directory: {given!r}", node=self.node, retryable=False)
        return NodeError(f"cannot open {given!r}: {exc.strerror}", node=self.node, retryable=False)

    def open_dir(self, resolved: Resolved, *, create: bool = False) -> int:
        """A descriptor of the directory holding ``resolved`` (made if ``create``), reached
        without following any symlink; the caller closes it."""
        with self._root_fd() as root:
            current = os.dup(root)
        try:
            for name in resolved.rel[:-1]:
                try:
                    nxt = self._step(current, name, resolved.given, create=create)
                except OSError as exc:
                    raise self._walk_error(exc, resolved.given) from exc
                os.close(current)
                current = nxt
            self.verify_fd(current, resolved.given)
        except BaseException:
            os.close(current)
            raise
        return current

    def open_read(self, resolved: Resolved) -> int:
        """A read descriptor of the regular file ``resolved`` (``O_NOFOLLOW`` at every step)."""
        if not resolved.rel:
            raise NodeError(f"{resolved.given!r} is a directory, not a file", node=self.node, retryable=False)
        parent = self.open_dir(resolved)
        try:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            fd = os.open(resolved.name, flags, dir_fd=parent)
        except OSError as exc:
            raise self._walk_error(exc, resolved.given) from exc
        finally:
            os.close(parent)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NodeError(f"{resolved.given!r} is not a regular file", node=self.node, retryable=False)
            self.verify_fd(fd, resolved.given)
        except BaseException:
            os.close(fd)
            raise
        return fd


def has_magic(pattern: str) -> bool:
    """Whether ``pattern`` is a glob rather than a plain path."""
    return bool(_MAGIC.search(pattern) or _BRACES.search(pattern))


def expand_braces(pattern: str) -> list[str]:
    """``a/{b,c}/*.{png,jpg}`` → four patterns (fast-glob's brace expansion), at most 256."""
    out: list[str] = []
    todo = [pattern]
    while todo:
        pat = todo.pop()
        m = _BRACES.search(pat)
        if m is None:
            out.append(pat)
        else:
            todo.extend(pat[: m.start()] + alt + pat[m.end() :] for alt in reversed(m.group(1).split(",")))
        if len(out) + len(todo) > _MAX_PATTERNS:
            raise ValueError(f"the pattern {pattern!r} expands to more than {_MAX_PATTERNS} patterns")
    return out


def pattern_regex(segments: list[str]) -> re.Pattern[str]:
    """A regex over ``/``-joined relative paths for glob segments (``**`` spans directories)."""
    parts: list[str] = []
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if seg == "**":
            parts.append(r"(?:(?!\.)[^/]+(?:/|$))*" if last else r"(?:(?!\.)[^/]+/)*")
            continue
        parts.append(_segment_regex(seg) + ("" if last else "/"))
    return re.compile("".join(parts))


def _segment_regex(seg: str) -> str:
    out = [] if seg.startswith(".") else [r"(?!\.)"]
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := seg.find("]", i + 2 if seg[i + 1 : i + 2] in "!^" else i + 1)) > i:
            body = seg[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^/" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
