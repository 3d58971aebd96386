"""Read arXiv's bulk source tars (``arXiv_src_YYMM_NNN.tar``) member by member, never unpacking to disk.

A bulk tar holds one ``.gz`` member per paper: either a gzipped tar bundle or one gzipped
``.tex`` (papers submitted as PDF only appear as ``.pdf`` and are skipped). The outer tar is
read lazily through fsspec (local paths, ``s3://`` with requester-pays, ...); a member the
task does not own is skipped by seeking past it. Each paper's bytes are capped here and then
opened in memory by :func:`formulaforge.sources.archive.read_archive_bytes`, with the same
per-paper refusals as ``data build`` on a single archive (traversal, links, bombs).
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from formulaforge.sources.archive import MAX_TOTAL_BYTES, ArchiveError

BULK_TAR = re.compile(r"arXiv_src_\d{4}_\d{3}\.tar$")
_NEW_ID = re.compile(r"(\d{4}\.\d{4,5})(?:v\d+)?\.(gz|pdf)$")
_OLD_ID = re.compile(r"([a-z][a-z\-]*(?:\.[A-Z]{2})?)(\d{7})(?:v\d+)?\.(gz|pdf)$")


def is_bulk_tar(name: str) -> bool:
    """arXiv's own naming: the engine recognises bulk tars by name (a paper's own .tar is not one)."""
    return bool(BULK_TAR.search(posixpath.basename(name)))


def arxiv_id(member_name: str) -> tuple[str, str] | None:
    """``(arXiv id, "gz" | "pdf")`` for a bulk member name, e.g. ``0501/math0501001.gz`` -> ``math/0501001``."""
    base = posixpath.basename(member_name)
    m = _NEW_ID.fullmatch(base)
    if m:
        return m.group(1), m.group(2)
    m = _OLD_ID.fullmatch(base)
    if m:
        return f"{m.group(1)}/{m.group(2)}", m.group(3)
    return None


@dataclass
class BulkMember:
    """One paper of a bulk tar: its bytes, or why it was skipped."""

    index: int  # position in the tar (the order papers are read in)
    name: str
    paper_id: str | None
    data: bytes | None = None
    skipped: str | None = None


def _fs(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url, **(storage_options or {}))


def list_bulk_tars(source: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Bulk tars at ``source`` (a tar, or a folder searched recursively), sorted, as openable URLs."""
    from fsspec.implementations.local import LocalFileSystem

    fs, root = _fs(source, storage_options)
    if fs.isfile(root):
        paths = [root] if is_bulk_tar(root) else []
    elif fs.isdir(root):
        paths = sorted(p for p in fs.find(root) if is_bulk_tar(p))
    else:
        raise FileNotFoundError(f"source not found: {source}")
    if isinstance(fs, LocalFileSystem):
        return paths
    return [fs.unstrip_protocol(p) for p in paths]


def has_bulk_tars(source: str, storage_options: dict[str, Any] | None = None) -> bool:
    try:
        return bool(list_bulk_tars(source, storage_options))
    except (FileNotFoundError, OSError, ValueError):
        return False


def iter_bulk_tar(
    url: str,
    storage_options: dict[str, Any] | None = None,
    select: Callable[[int], bool] = lambda index: True,
    max_paper_bytes: int = MAX_TOTAL_BYTES,
) -> Iterator[BulkMember]:
    """Yield the selected papers of one bulk tar in tar order. Raises :class:`ArchiveError` if the tar is corrupt."""
    import fsspec

    label = posixpath.basename(url)
    with fsspec.open(url, "rb", **(storage_options or {})) as fh:
        try:
            tar = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by the with below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveError(f"{label}: not a readable tar ({exc})") from None
        with tar:
            index = -1
            try:
                for member in tar:
                    if member.isdir():
                        continue
                    index += 1
                    if not select(index):
                        continue
                    yield _read_member(tar, member, index, max_paper_bytes)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise ArchiveError(f"{label}: corrupt bulk tar after member {index} ({exc})") from None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, index: int, cap: int) -> BulkMember:
    parsed = arxiv_id(member.name)
    out = BulkMember(index, member.name, parsed[0] if parsed else None)
    if parsed is None:
        out.skipped = "not an arXiv paper member (name is not an arXiv id with .gz or .pdf)"
    elif member.issym() or member.islnk():
        out.skipped = "links are not followed"
    elif not member.isreg():
        out.skipped = "device, FIFO or other special file"
    elif parsed[1] == "pdf":
        out.skipped = "PDF only: no LaTeX source"
    elif member.size > cap:
        out.skipped = f"{member.size} bytes, over the {cap}-byte paper cap"
    else:
        fh = tar.extractfile(member)
        data = fh.read(cap + 1) if fh is not None else None
        if data is None or len(data) > cap:
            out.skipped = "unreadable member or larger than its header says"
        else:
            out.data = data
    return out
