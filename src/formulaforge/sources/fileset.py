"""A document's files, wherever they live (a directory tree or an archive in memory).

Also the one place that turns bytes into text: UTF-8 first; other files (arXiv holds many
latin-1 papers) are decoded with charset-normalizer's best guess, else cp1252, else
latin-1 (which never fails), and the encoding used is recorded. Binary files (NUL bytes)
get a clear reason; the caller skips and lists them.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

TEX_SUFFIXES = (".tex", ".ltx", ".sty", ".cls", ".def")
MAX_TEX_FILE_BYTES = 16 * 1024 * 1024
MAX_DETECT_BYTES = 256 * 1024  # charset detection looks at the first 256 KiB


class DecodeError(ValueError):
    """A file is not UTF-8 text."""


def decode_tex(data: bytes, name: str) -> str:
    """Decoded text (see :func:`decode_tex_with_encoding`); raise :class:`DecodeError` for binary data."""
    return decode_tex_with_encoding(data, name)[0]


def decode_tex_with_encoding(data: bytes, name: str) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 (BOM tolerated), else the detected or fallback encoding."""
    if b"\x00" in data:
        raise DecodeError(f"{name}: binary file (contains NUL bytes)")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = _decode_other(data)
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


_INPUTENC = re.compile(rb"\\usepackage\s*\[([A-Za-z0-9-]+)\]\s*\{inputenc\}")
# inputenc option -> Python codec; detection candidates (the 8-bit encodings LaTeX papers use).
INPUTENC_CODECS = {
    b"latin1": "latin-1",
    b"latin9": "iso8859-15",
    b"ansinew": "cp1252",
    b"cp1252": "cp1252",
    b"latin2": "iso8859-2",
    b"cp1250": "cp1250",
    b"cp1251": "cp1251",
    b"koi8-r": "koi8-r",
    b"applemac": "mac-roman",
    b"cp850": "cp850",
}
DETECT_CANDIDATES = ["cp1252", "latin_1", "iso8859_15", "iso8859_2", "cp1251", "koi8_r", "mac_roman"]


def _decode_other(data: bytes) -> tuple[str, str]:
    """The file's own ``\\usepackage[enc]{inputenc}``, else charset-normalizer over the usual 8-bit
    encodings, else cp1252, else latin-1 (never fails)."""
    m = _INPUTENC.search(data[:MAX_DETECT_BYTES])
    codec = INPUTENC_CODECS.get(m.group(1).lower()) if m else None
    if codec:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:MAX_DETECT_BYTES], cp_isolation=DETECT_CANDIDATES))
    best = matches[0] if matches else None
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if best is not None and western is not None and western.percent_chaos <= best.percent_chaos + 1.0:
        best = western  # short or ambiguous samples: prefer the encoding most latin-1 papers really use
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


@dataclass
class FileSet:
    """Relative POSIX paths -> bytes loader. ``root`` is set for directory trees."""

    label: str
    names: list[str]
    root: Path | None = None
    blobs: dict[str, bytes] | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)  # files that were not UTF-8
    _text_cache: dict[str, str] = field(default_factory=dict, repr=False)
    _by_suffix: dict[str, list[str]] | None = field(default=None, repr=False)
    _names_set: set[str] | None = field(default=None, repr=False)
    # False for a single .tex file: its includes are found as TeX finds them, never by a fuzzy
    # search, and the folder around it is looked at one named file at a time, never scanned.
    fuzzy: bool = True
    lazy: bool = False

    @classmethod
    def from_dir(cls, root: Path, label: str | None = None) -> FileSet:
        names = []
        for p in sorted(root.rglob("*")):
            if p.is_symlink() or not p.is_file():
                continue
            if p.suffix.lower() in TEX_SUFFIXES:
                names.append(p.relative_to(root).as_posix())
        return cls(label=label or root.name, names=names, root=root)

    @classmethod
    def for_single_file(cls, path: Path) -> FileSet:
        """The files TeX could read for ``path``: itself, and what it names in its own folder."""
        return cls(label=path.name, names=[path.name], root=path.parent, fuzzy=False, lazy=True)

    @classmethod
    def from_blobs(cls, blobs: dict[str, bytes], label: str) -> FileSet:
        names = sorted(n for n in blobs if posixpath.splitext(n)[1].lower() in TEX_SUFFIXES)
        return cls(label=label, names=names, blobs=blobs)

    def exists(self, name: str) -> bool:
        if self.lazy and name not in self._name_set():
            assert self.root is not None
            path = self.root / name
            if posixpath.splitext(name)[1].lower() not in TEX_SUFFIXES or path.is_symlink() or not path.is_file():
                return False
            self.names.append(name)
            self._name_set().add(name)
        return name in self._name_set()

    def _name_set(self) -> set[str]:
        if self._names_set is None:
            self._names_set = set(self.names)
        return self._names_set

    def read_bytes(self, name: str) -> bytes:
        if self.blobs is not None:
            return self.blobs[name]
        assert self.root is not None
        path = self.root / name
        size = path.stat().st_size
        if size > MAX_TEX_FILE_BYTES:
            raise DecodeError(f"{name}: {size} bytes, over the {MAX_TEX_FILE_BYTES}-byte file cap")
        return path.read_bytes()

    def text(self, name: str) -> str:
        """Decoded text (cached). Raises :class:`DecodeError`."""
        cached = self._text_cache.get(name)
        if cached is None:
            cached, encoding = decode_tex_with_encoding(self.read_bytes(name), name)
            if encoding != "utf-8":
                self.encodings[name] = encoding
            self._text_cache[name] = cached
        return cached

    def resolve(self, target: str, current: str, main: str, exts: tuple[str, ...] = (".tex",)) -> str | None:
        """Find the file an ``\\input``-like argument names, the way TeX's search would.

        Tries the including file's directory, the main file's directory and the root, with
        and without the default extension (TeX looks in the folder it runs in, the main
        file's; ``import``-style commands look beside the including file). In a directory
        tree (``fuzzy``) it then falls back to the closest file whose path ends with the
        argument (handles ``\\olimport*``, ``\\subimport`` and paths that start with an
        unexpanded macro such as ``\\olpath/sty/x.sty``); a single file never does, and never
        leaves its folder (``..`` above it is not followed).
        """
        target = target.strip().strip('"').replace("\\", "/")
        while target.startswith("/"):
            # A leading macro like \olpath was cut to "" by the caller; absolute paths never leave the set.
            target = target[1:]
        if not target:
            return None
        bases = [posixpath.dirname(current), posixpath.dirname(main), ""]
        for base in bases:
            for cand in _with_exts(target, exts):
                norm = _normalise(posixpath.join(base, cand))
                if norm is not None and self.exists(norm):
                    return norm
        if not self.fuzzy:
            return None
        suffix_candidates: list[str] = []
        for cand in _with_exts(target, exts):
            norm = _normalise(cand)
            if norm is None:
                continue
            suffix_candidates.extend(self._ends_with(norm))
        if not suffix_candidates:
            return None
        here = posixpath.dirname(current).split("/")
        return max(sorted(set(suffix_candidates)), key=lambda n: _common_prefix_len(here, n.split("/")))

    def _ends_with(self, rel: str) -> list[str]:
        if self._by_suffix is None:
            index: dict[str, list[str]] = {}
            for n in self.names:
                index.setdefault(posixpath.basename(n), []).append(n)
            self._by_suffix = index
        base = posixpath.basename(rel)
        return [n for n in self._by_suffix.get(base, []) if n == rel or n.endswith("/" + rel)]


def _with_exts(target: str, exts: tuple[str, ...]) -> list[str]:
    out = [target]
    if not posixpath.splitext(target)[1] or posixpath.splitext(target)[1].lower() not in TEX_SUFFIXES:
        out = [target + e for e in exts] + [target]
    return out


def _normalise(path: str) -> str | None:
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts) if parts else None


def _common_prefix_len(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
