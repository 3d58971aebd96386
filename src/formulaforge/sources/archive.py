"""Read arXiv bulk-style bundles (``.tar.gz``, ``.tar``, single-file ``.gz``) in memory.

Members are never written to disk: an archive is untrusted input, and extracting it is
how path traversal and link attacks happen. Instead every member is checked (no absolute
paths, no ``..``, no links, no devices or FIFOs) and read into a dict, with a cap per
member and a cap on the decompressed total so a zip bomb cannot exhaust memory.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".gz")

MAX_MEMBER_BYTES = 32 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 10_000
# pax extended headers and GNU long names/links: tarfile reads each one whole into memory before
# any member cap applies (a header claiming 3 GB of a gzip bomb took a worker to 3.2 GB RSS).
MAX_HEADER_BYTES = 1024 * 1024
_LONG_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                      tarfile.SOLARIS_XHDTYPE)


class ArchiveError(ValueError):
    """The archive as a whole cannot be used (unreadable, too big, hostile)."""


@dataclass
class ArchiveContents:
    """Accepted members by normalised relative path, and the members refused with why."""

    files: dict[str, bytes] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


class _HeaderTooLarge(Exception):
    pass


class _BoundedTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that refuses oversized pax / GNU long-name headers before tarfile reads them.

    ``_proc_member`` is tarfile's documented extension point for subclasses ("can be
    overridden in a subclass to add custom _proc_*() methods"); the header's size is known
    here and nothing of its payload has been read yet.
    """

    def _proc_member(self, tarfile_obj):  # type: ignore[no-untyped-def]
        if self.type in _LONG_HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise _HeaderTooLarge(f"a {self.size}-byte extended header, over the {MAX_HEADER_BYTES}-byte cap")
        return super()._proc_member(tarfile_obj)


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def safe_member_name(name: str) -> str | None:
    """Return the normalised relative name, or ``None`` when the name escapes the bundle."""
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return posixpath.join(*parts)


def _read_capped(stream: io.BufferedIOBase | gzip.GzipFile, cap: int) -> bytes | None:
    data = stream.read(cap + 1)
    return None if len(data) > cap else data


def read_archive(
    path: str | Path,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> ArchiveContents:
    """Read a bundle into memory. Raises :class:`ArchiveError` only for whole-archive failures."""
    path = Path(path)
    caps = {"max_member_bytes": max_member_bytes, "max_total_bytes": max_total_bytes, "max_members": max_members}
    return read_archive_bytes(path.read_bytes(), path.name, **caps)


def read_archive_bytes(
    raw: bytes,
    name: str,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> ArchiveContents:
    """:func:`read_archive` for a bundle already in memory (an arXiv bulk tar member), same caps."""
    path = PurePosixPath(name)
    if len(raw) > max_total_bytes:
        raise ArchiveError(f"{path.name}: archive is {len(raw)} bytes, over the {max_total_bytes}-byte cap")
    try:
        return _read_tar(raw, path, max_member_bytes, max_total_bytes, max_members)
    except tarfile.ReadError:
        pass
    if raw[:2] != b"\x1f\x8b":
        raise ArchiveError(f"{path.name}: neither a tar archive nor gzip data")
    # arXiv ships single-file submissions as a bare gzip of the .tex file.
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            data = _read_capped(gz, min(max_member_bytes, max_total_bytes))
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path.name}: corrupt gzip data ({exc})") from None
    if data is None:
        raise ArchiveError(f"{path.name}: decompressed size exceeds the {max_member_bytes}-byte cap")
    stem = path.name[: -len(".gz")] if path.name.lower().endswith(".gz") else path.name
    name = stem if stem.lower().endswith(".tex") else stem + ".tex"
    return ArchiveContents(files={name: data})


_MAGIC_MODES = ((b"\x1f\x8b", "r:gz"), (b"BZh", "r:bz2"), (b"\xfd7zXZ\x00", "r:xz"))


def _tar_mode(raw: bytes) -> str:
    """The tarfile mode the bytes' magic number names, ``"r:"`` for uncompressed.

    Not tarfile's ``"r:*"``: it tries a plain tar first, and some gzip streams pass
    tarfile's header checksum (for 2 MB of zeros, one gzip-header mtime in 255), which
    turned a single-file ``.gz`` into one junk member named after the gzip magic bytes.
    """
    return next((mode for magic, mode in _MAGIC_MODES if raw.startswith(magic)), "r:")


def _read_tar(raw: bytes, path: PurePosixPath, max_member: int, max_total: int, max_members: int) -> ArchiveContents:
    out = ArchiveContents()
    total = 0
    try:
        tar = tarfile.open(fileobj=io.BytesIO(raw), mode=_tar_mode(raw), tarinfo=_BoundedTarInfo)  # noqa: SIM115 - closed below
    except tarfile.ReadError:
        raise
    except _HeaderTooLarge as exc:
        raise ArchiveError(f"{path.name}: refused: {exc}") from None
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise ArchiveError(f"{path.name}: corrupt archive ({exc})") from None
    with tar:
        try:
            for count, member in enumerate(tar, 1):
                if count > max_members:
                    raise ArchiveError(f"{path.name}: more than {max_members} members")
                name = safe_member_name(member.name)
                if member.isdir():
                    continue
                if name is None:
                    out.refused.append((member.name, "absolute path or '..' escapes the archive"))
                    continue
                if member.issym() or member.islnk():
                    out.refused.append((member.name, "links are not followed"))
                    continue
                if not member.isreg():
                    out.refused.append((member.name, "device, FIFO or other special file"))
                    continue
                if member.size > max_member:
                    out.refused.append(
                        (member.name, f"{member.size} bytes, over the {max_member}-byte member cap")
                    )
                    continue
                if total + member.size > max_total:
                    raise ArchiveError(f"{path.name}: members total more than the {max_total}-byte cap")
                fh = tar.extractfile(member)
                if fh is None:
                    out.refused.append((member.name, "unreadable member"))
                    continue
                data = _read_capped(fh, max_member)
                if data is None:
                    out.refused.append((member.name, "member larger than its header says"))
                    continue
                total += len(data)
                out.files[name] = data
        except _HeaderTooLarge as exc:
            raise ArchiveError(f"{path.name}: refused: {exc}") from None
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"{path.name}: corrupt archive ({exc})") from None
    return out
