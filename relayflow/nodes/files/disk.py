"""Copying between the files root and binary data, through descriptors ``confine`` checked.

Reads open the file with ``FilesRoot.open_read`` and hand ``/proc/self/fd/N`` (the same open
file, whatever happens to its path meanwhile) to ``ctx.binary.put_file``, a streamed copy.
Writes go to a temporary file created ``O_EXCL`` in the target's directory (reached by
descriptor) and renamed over the target, so a symlink planted at the target is replaced, never
followed; appends open the target ``O_APPEND | O_NOFOLLOW``.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from relayflow.engine.binary import BinaryData, extension_of
from relayflow.errors import NodeError
from relayflow.nodes.files.confine import FilesRoot, Resolved, fd_path

CHUNK = 1 << 20
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


async def _fd_chunks(fd: int) -> AsyncIterator[bytes]:
    while chunk := os.read(fd, CHUNK):
        yield chunk


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def read_entry(
    binary: BinaryData,
    root: FilesRoot,
    resolved: Resolved,
    *,
    file_name: str | None = None,
    mime_type: str | None = None,
    file_extension: str | None = None,
) -> dict[str, Any]:
    """The file as a binary entry with ``fileName``, ``mimeType``, ``fileExtension`` and
    ``directory`` (its real folder); ``file_name`` defaults to the name the path gives it."""
    fd = root.open_read(resolved)
    name = file_name or os.path.basename(resolved.given.rstrip("/")) or resolved.name
    kw: dict[str, Any] = {"file_name": name, "mime_type": mime_type or None}
    kw["directory"] = str(resolved.real.parent)
    try:
        path = fd_path(fd)
        if path is not None:
            entry = await binary.put_file(path, **kw)
        else:
            entry = await binary.put(_fd_chunks(fd), **kw)
    except OSError as exc:
        raise _io_error(root, "read", resolved, exc) from exc
    finally:
        os.close(fd)
    if file_extension:
        entry["fileExtension"] = file_extension.lstrip(".")
    elif "fileExtension" not in entry and extension_of(name):
        entry["fileExtension"] = extension_of(name)
    return entry


async def write_entry(
    binary: BinaryData,
    root: FilesRoot,
    resolved: Resolved,
    entry: Mapping[str, Any],
    *,
    append: bool = False,
) -> None:
    """Write a binary entry's bytes to ``resolved`` (missing folders are made)."""
    if not resolved.rel:
        raise NodeError(f"{resolved.given!r} is a directory, not a file", node=root.node, retryable=False)
    parent = root.open_dir(resolved, create=True)
    try:
        if append:
            await _append(binary, root, resolved, entry, parent)
        else:
            await _replace(binary, resolved, entry, parent)
    except OSError as exc:
        raise _io_error(root, "write", resolved, exc) from exc
    finally:
        os.close(parent)


async def _replace(binary: BinaryData, resolved: Resolved, entry: Mapping[str, Any], parent: int) -> None:
    temp = f".{resolved.name}.{uuid.uuid4().hex[:8]}.part"
    fd = os.open(temp, _NEW, 0o666, dir_fd=parent)
    try:
        path = fd_path(fd)
        if path is not None:
            await binary.save_to(entry, path)
        else:
            async for chunk in binary.stream(entry):
                _write_all(fd, chunk)
        os.rename(temp, resolved.name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=parent)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)


async def _append(
    binary: BinaryData, root: FilesRoot, resolved: Resolved, entry: Mapping[str, Any], parent: int
) -> None:
    try:
        fd = os.open(resolved.name, _APPEND, 0o666, dir_fd=parent)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the target became a symlink after it was resolved
            raise root.refuse(resolved.given, "it is a symlink") from exc
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NodeError(f"{resolved.given!r} is not a regular file", node=root.node, retryable=False)
        root.verify_fd(fd, resolved.given)
        async for chunk in binary.stream(entry):
            _write_all(fd, chunk)
    finally:
        os.close(fd)


def _io_error(root: FilesRoot, verb: str, resolved: Resolved, exc: OSError) -> NodeError:
    return NodeError(
        f"cannot {verb} {resolved.given!r}: {exc.strerror or exc}", node=root.node, retryable=False
    )
