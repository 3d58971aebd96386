"""LaTeX documents from a path: which files are documents, and how to load one.

A *document* is a main file plus everything it includes. Main files are found the way a
person would: files with ``\\documentclass`` or ``\\begin{document}`` that no other file
includes (so Stacks chapters that ``\\input{preamble}`` are documents and the preamble is
not; Open Logic section files are parts of the chapters that ``\\olimport`` them).
Archives are one document each (one paper per arXiv bundle).
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from array import array
from dataclasses import dataclass, field, replace
from pathlib import Path

from formulaforge.sources.archive import ArchiveError, is_archive, read_archive, read_archive_bytes
from formulaforge.sources.fileset import DecodeError, FileSet
from formulaforge.sources.latex_flatten import (
    FlattenTooLarge,
    FlatText,
    find_include_targets,
    flatten,
    strip_comment,
)
from formulaforge.sources.macros import MacroTable, expand_math_wrappers

_DOCCLASS = re.compile(r"\\documentclass\b|\\documentstyle\b")
_BEGIN_DOC = re.compile(r"\\begin\s*\{document\}")
_PACKAGE = re.compile(r"\\(?:usepackage|RequirePackage|documentclass)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
MAX_TREE_CACHE_CHARS = 64 * 1024 * 1024
DRIVER_BODY_CHARS = 2000  # a main file whose own body is at most this is a driver of included content


@dataclass(frozen=True)
class LatexDocSpec:
    """What a worker needs to load one document (small, picklable)."""

    doc_id: str
    source: str  # the SOURCE argument it came from
    kind: str  # "tree" | "archive" | "file" (a single .tex: nothing around it is scanned)
    path: str  # tree root or archive file
    main: str | None = None  # main file, relative to the tree root (trees only)
    collection: str = ""  # the book/corpus it belongs to (for per-collection counts)
    data: bytes | None = field(default=None, repr=False, compare=False)  # archive bytes already in memory


@dataclass
class LatexDocument:
    doc_id: str
    flat: FlatText
    body_start: int
    body_end: int
    macros: MacroTable
    errors: list[tuple[str, str]] = field(default_factory=list)
    sha256: str = ""
    n_bytes: int = 0
    encodings: dict[str, str] = field(default_factory=dict)  # included files that were not UTF-8
    content_key: str = ""  # same for two drivers of the same content (print.tex / web.tex)


def content_key(flat: FlatText, body_start: int, body_end: int) -> str:
    """Hash of the document body as the reader sees it, minus the lines of the main file itself.

    Blueprints have ``print.tex`` and ``web.tex`` (HoTT has a driver per paper size) that
    differ only in their own lines and include the same chapters: they get the same key, and
    the builder keeps the first. A main file with a body of its own (more than
    ``DRIVER_BODY_CHARS``) is keyed by its whole body.
    """
    included = hashlib.sha256()
    whole = hashlib.sha256()
    starts = flat.line_starts
    text = flat.text
    n_included = 0
    own_chars = 0
    i = max(0, bisect.bisect_right(starts, body_start) - 1)
    for k in range(i, len(starts)):
        a = max(starts[k], body_start)
        if a >= body_end:
            break
        end = starts[k + 1] - 1 if k + 1 < len(starts) else len(text)
        line = text[a : min(end, body_end)].strip()
        if not line:
            continue
        data = line.encode("utf-8", "surrogatepass") + b"\n"
        whole.update(data)
        if flat.line_file[k] != 0:  # not the main file's own line
            included.update(data)
            n_included += 1
        else:
            own_chars += len(line)
    # A driver's own body is a few commands (\maketitle, \input{..}); a Stacks chapter's own body is the
    # chapter itself (and it \inputs a shared trailer): then the whole body is the content.
    return (included if n_included and own_chars <= DRIVER_BODY_CHARS else whole).hexdigest()


def _head_flags(text: str) -> tuple[bool, bool]:
    docclass = begin = False
    if "\\documentclass" in text or "\\documentstyle" in text or "\\begin" in text:
        for raw in text.split("\n"):
            if "\\" not in raw:
                continue
            line = strip_comment(raw) if "%" in raw else raw
            if not docclass and _DOCCLASS.search(line):
                docclass = True
            if not begin and "document" in line and _BEGIN_DOC.search(line):
                begin = True
            if docclass and begin:
                break
    return docclass, begin


def find_main_files(fs: FileSet) -> tuple[list[str], list[tuple[str, str]]]:
    """Main files of a tree (sorted) and the files that could not be read, with reasons."""
    errors: list[tuple[str, str]] = []
    candidates: list[str] = []
    included: set[str] = set()
    edges: dict[str, list[str]] = {}
    tex_names = [n for n in fs.names if n.lower().endswith((".tex", ".ltx"))]
    for name in tex_names:
        try:
            text = fs.text(name)
        except (DecodeError, OSError) as exc:
            errors.append((name, f"skipped file: {exc}"))
            continue
        docclass, begin = _head_flags(text)
        if docclass or begin:
            candidates.append(name)
        for target in find_include_targets(text):
            hit = fs.resolve(target, name, name)
            if hit is not None and hit != name:
                included.add(hit)
                edges.setdefault(name, []).append(hit)
    cand = set(candidates)

    def reaches_candidate(start: str) -> bool:
        # Driver files such as hott-online.tex only set options and \input{main}: they are documents too.
        seen, stack = {start}, [start]
        while stack:
            for nxt in edges.get(stack.pop(), []):
                if nxt in cand:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    mains = [n for n in candidates if n not in included]
    mains += [
        n for n in tex_names if n not in cand and n not in included and n in edges and reaches_candidate(n)
    ]
    if not mains and not candidates:
        # A folder of fragments with no driver file: each top-level fragment is a document.
        mains = [n for n in tex_names if n not in included and n not in {e[0] for e in errors}]
    return sorted(mains), errors


def discover(source: str, path: Path) -> tuple[list[LatexDocSpec], list[tuple[str, str]]]:
    """Documents under ``path`` (a directory, a .tex file or an archive), plus skipped files."""
    if not path.exists():
        raise FileNotFoundError(f"source not found: {path}")
    if path.is_file():
        if is_archive(path):
            return [LatexDocSpec(path.name, source, "archive", str(path), None, path.name)], []
        if path.suffix.lower() in (".tex", ".ltx"):
            return [LatexDocSpec(path.name, source, "file", str(path.parent), path.name, path.stem)], []
        raise ValueError(f"{path}: not a .tex file, archive or directory")
    specs: list[LatexDocSpec] = []
    errors: list[tuple[str, str]] = []
    fs = FileSet.from_dir(path)
    mains, errs = find_main_files(fs)
    errors.extend((f"{path.name}/{n}", r) for n, r in errs)
    # A folder of books (several top-level folders, no driver at the top) -> one collection per folder.
    tops = {m.split("/", 1)[0] for m in mains if "/" in m}
    per_folder = len(tops) > 1 and all("/" in m for m in mains)
    for main in mains:
        coll = main.split("/", 1)[0] if per_folder else path.name
        specs.append(LatexDocSpec(f"{path.name}/{main}", source, "tree", str(path), main, coll))
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            p = Path(root) / f
            if is_archive(p) and not p.is_symlink():
                rel = p.relative_to(path).as_posix()
                specs.append(LatexDocSpec(f"{path.name}/{rel}", source, "archive", str(p), None, path.name))
    return specs, errors


_TREE_CACHE: dict[str, FileSet] = {}


def _tree_fileset(root: str) -> FileSet:
    fs = _TREE_CACHE.get(root)
    if fs is None:
        fs = FileSet.from_dir(Path(root))
        _TREE_CACHE[root] = fs
    elif sum(len(t) for t in fs._text_cache.values()) > MAX_TREE_CACHE_CHARS:
        fs._text_cache.clear()
    return fs


def _archive_main(fs: FileSet) -> str | None:
    mains, _ = find_main_files(fs)
    if not mains:
        return None

    # Several candidates in one paper: the one that includes most is the driver; then the largest.
    def weight(n: str) -> tuple[int, int]:
        try:
            text = fs.text(n)
        except (DecodeError, OSError):
            return (-1, 0)
        return (int("\\begin{document}" in text), len(text))

    return max(mains, key=weight)


class DocumentError(ValueError):
    """The document cannot be used at all (its reason goes to the manifest)."""


def load_document(spec: LatexDocSpec) -> LatexDocument:
    """Flatten a document and collect its macros. Raises :class:`DocumentError`."""
    errors: list[tuple[str, str]] = []
    if spec.kind == "archive":
        try:
            contents = (
                read_archive(spec.path) if spec.data is None else read_archive_bytes(spec.data, spec.path)
            )
        except (ArchiveError, OSError) as exc:
            raise DocumentError(str(exc)) from None
        errors.extend((name, f"refused archive member: {why}") for name, why in contents.refused)
        fs = FileSet.from_blobs(contents.files, spec.doc_id)
        main = _archive_main(fs)
        if main is None:
            raise DocumentError("no LaTeX main file (\\documentclass) in the archive")
    elif spec.kind == "file":
        main = spec.main or ""
        fs = FileSet.for_single_file(Path(spec.path) / main)
        if not fs.exists(main):
            raise DocumentError(f"main file {main!r} not found")
    else:
        fs = _tree_fileset(spec.path)
        main = spec.main or ""
        if not fs.exists(main):
            raise DocumentError(f"main file {main!r} not found")
    try:
        fs.text(main)
    except (DecodeError, OSError) as exc:
        raise DocumentError(f"main file unreadable: {exc}") from None
    try:
        result = flatten(fs, main)
    except FlattenTooLarge as exc:
        raise DocumentError(str(exc)) from None
    errors.extend(result.errors)
    flat = result.flat
    text = flat.text
    m = _BEGIN_DOC.search(text)
    body_start = m.end() if m else 0
    if m is None and _DOCCLASS.search(text):
        errors.append((main, "\\documentclass without \\begin{document}: no body"))
        body_start = len(text)
    macros = _collect_macros(fs, text, text[:body_start] if m else text, main, errors)
    key = content_key(flat, body_start, len(text))  # before wrapper expansion: drivers may define them apart
    if macros.math_wrappers:
        text = expand_math_wrappers(text, macros.math_wrappers)
        flat = FlatText(text, flat.files, _line_starts(text), flat.line_file, flat.line_no)
        m = _BEGIN_DOC.search(text)
        body_start = m.end() if m else (len(text) if _DOCCLASS.search(text) else 0)
        macros = _collect_macros(
            fs, text, text[:body_start] if m else text, main, []
        )  # scopes at new offsets
    digest = hashlib.sha256()
    n_bytes = 0
    for name in result.included:
        try:
            data = fs.read_bytes(name)
        except OSError:
            continue
        digest.update(name.encode() + b"\0" + data)
        n_bytes += len(data)
    encodings = {n: fs.encodings[n] for n in result.included if n in fs.encodings}
    return LatexDocument(
        spec.doc_id,
        flat,
        body_start,
        len(text),
        macros,
        errors,
        digest.hexdigest(),
        n_bytes,
        encodings,
        key,
    )


def _collect_macros(
    fs: FileSet, text: str, preamble: str, main: str, errors: list[tuple[str, str]]
) -> MacroTable:
    macros = MacroTable()
    _add_subfiles_preamble(macros, fs, preamble, main, errors)
    _add_packages(macros, fs, preamble, main, errors)
    macros.add_definitions(text, track_scopes=True)
    return macros


_SUBFILES_CLASS = re.compile(r"\\documentclass\s*\[([^\[\]{}]+)\]\s*\{subfiles\}")


def _add_subfiles_preamble(
    macros: MacroTable, fs: FileSet, preamble: str, main: str, errors: list[tuple[str, str]]
) -> None:
    """``\\documentclass[../main]{subfiles}``: the named main file's preamble is this file's preamble.

    Only that preamble is flattened (the main file's body, often the whole book, is not read);
    its local packages and its definitions come first, so the subfile's own win.
    """
    m = _SUBFILES_CLASS.search(preamble)
    if m is None:
        return
    target = m.group(1).strip()
    hit = fs.resolve(target, main, main, exts=(".tex",))
    if hit is None or hit == main:
        errors.append((main, f"subfiles main file {target!r} not found: its preamble's macros are missing"))
        return
    try:
        whole = fs.text(hit)
    except (DecodeError, OSError) as exc:
        errors.append((hit, f"skipped file: {exc}"))
        return
    begin = _BEGIN_DOC.search(whole)
    view = replace(fs, _text_cache={**fs._text_cache, hit: whole[: begin.start()] if begin else whole})
    try:
        sub_preamble = flatten(view, hit).flat.text
    except FlattenTooLarge as exc:
        errors.append((hit, f"subfiles main file not read: {exc}"))
        return
    _add_packages(macros, view, sub_preamble, hit, errors)
    macros.add_definitions(sub_preamble)


def _add_packages(
    macros: MacroTable, fs: FileSet, preamble: str, main: str, errors: list[tuple[str, str]]
) -> None:
    """Definitions of the local ``.sty``/``.cls`` files ``preamble`` loads (unreadable ones listed)."""
    for pkg_file in _local_packages(fs, preamble, main):
        try:
            macros.add_definitions(_strip_comments(fs.text(pkg_file)))
        except (DecodeError, OSError) as exc:
            errors.append((pkg_file, f"skipped file: {exc}"))


def _line_starts(text: str) -> array:
    starts = array("q", [0])
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _strip_comments(text: str) -> str:
    return "\n".join(strip_comment(line) if "%" in line else line for line in text.split("\n"))


def _local_packages(fs: FileSet, preamble: str, main: str) -> list[str]:
    """Local ``.sty``/``.cls`` files the preamble loads: their macros count too."""
    out: list[str] = []
    for m in _PACKAGE.finditer(preamble):
        for name in m.group(1).split(","):
            name = name.strip()
            if not name:
                continue
            for ext in (".sty", ".cls"):
                hit = fs.resolve(name, main, main, exts=(ext,))
                if hit is not None and hit.endswith(ext) and hit not in out:
                    out.append(hit)
                    break
    return out
