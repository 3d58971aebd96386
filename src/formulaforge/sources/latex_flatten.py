"""Flatten a LaTeX document: strip comments, drop ``\\iffalse`` and ``comment`` blocks, inline
``\\input``/``\\include``/``\\subfile`` (and the ``import`` / Open Logic ``\\olimport`` forms).

The result keeps a per-line source map, so every character offset in the flattened text
maps back to the ``(file, line)`` it came from: provenance survives flattening.

We work line by line rather than with a TeX tokenizer: it is an order of magnitude
faster than a full parse (see bench/bench_sources.py), and the cases that matter for
extraction (comments, conditionals, inclusion) are line-local in real sources.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from formulaforge.sources.fileset import DecodeError, FileSet

MAX_INCLUDE_DEPTH = 16
MAX_FLAT_CHARS = 64 * 1024 * 1024
# A file that includes another twice per line, 21 levels deep, asks for 2^21 inclusions: the
# expansions followed and the problems listed per document are capped (the rest are counted).
MAX_INCLUDES = 4096
MAX_ERRORS_LISTED = 100

_NAME_END = r"(?![A-Za-z@])"
INCLUDE_RE = re.compile(
    r"\\(?P<cmd>input|include|subfile|subfileinclude)(?![A-Za-z@])\s*\{(?P<arg>(?:[^{}]|\{[^{}]*\})*)\}"
    r"|\\input[ \t]+(?P<bare>[A-Za-z0-9_./-]+)"
    r"|\\(?P<imp>(?:sub)?(?:import|inputfrom|includefrom))\*?\s*\{(?P<idir>[^{}]*)\}\s*\{(?P<ifile>[^{}]*)\}"
    r"|\\olimport(?P<olstar>\*?)\s*(?:\[(?P<oldir>[^\]]*)\])?\s*\{(?P<olfile>[^{}]*)\}(?:\s*\[[^\]]*\])?"
)
_MACRO_IN_PATH = re.compile(r"\\[A-Za-z@]+\s*")
_IFFALSE = re.compile(r"\\iffalse" + _NAME_END)
_IF_TOKENS = re.compile(r"\\(if[a-zA-Z@]*|fi|else)" + _NAME_END)
_NOT_CONDITIONALS = {"iff", "ifthenelse", "ifdef", "ifundef", "ifstrequal", "ifblank", "ifbool"}
_BEGIN_COMMENT = re.compile(r"\\begin\s*\{comment\}")
_END_COMMENT = re.compile(r"\\end\s*\{comment\}")
_BEGIN_DOC = re.compile(r"\\begin\s*\{document\}")
_END_DOC = re.compile(r"\\end\s*\{document\}")


@dataclass
class FlatText:
    """Flattened text plus the map from its lines back to source files and lines."""

    text: str
    files: list[str]
    line_starts: Sequence[int]  # an array('q') from flatten()
    line_file: array
    line_no: array

    def locate(self, offset: int) -> tuple[str, int]:
        """``(file, 1-based line)`` of a character offset in :attr:`text`."""
        if not self.line_starts:
            return (self.files[0] if self.files else "", 0)
        i = bisect.bisect_right(self.line_starts, offset) - 1
        i = max(0, min(i, len(self.line_starts) - 1))
        return self.files[self.line_file[i]], self.line_no[i]


@dataclass
class FlattenResult:
    flat: FlatText
    errors: list[tuple[str, str]] = field(default_factory=list)
    included: list[str] = field(default_factory=list)


def strip_comment(line: str) -> str:
    """Cut a line at its first unescaped ``%`` (``\\%`` is a percent sign, ``\\\\%`` is not)."""
    start = 0
    while True:
        pos = line.find("%", start)
        if pos < 0:
            return line
        k = pos - 1
        while k >= 0 and line[k] == "\\":
            k -= 1
        if (pos - 1 - k) % 2 == 0:
            return line[:pos]
        start = pos + 1


_COND = re.compile(r"\\(newif\s*\\if[A-Za-z@]+|if[A-Za-z@]*|fi|else|[A-Za-z@]+(?:true|false))" + _NAME_END)


class Switches:
    """``\\newif`` switches of one document, in reading order (shared by all its files).

    ``\\newif\\ifX`` declares X (false, as in TeX); ``\\Xtrue``/``\\Xfalse`` set it; ``\\ifX``,
    ``\\iftrue`` and ``\\iffalse`` are evaluated. A switch read before anything set it takes
    TeX's default (false); those are listed in ``defaulted`` for the manifest.
    """

    def __init__(self) -> None:
        self.state: dict[str, bool] = {}
        self.was_set: set[str] = set()
        self.defaulted: set[str] = set()

    def value(self, tok: str) -> bool | None:
        """Truth of ``\\if...`` token ``tok`` (without backslash), or None if not ours to evaluate."""
        if tok in ("iftrue", "iffalse"):
            return tok == "iftrue"
        name = tok[2:]
        if name not in self.state:
            return None
        if name not in self.was_set:
            self.defaulted.add(name)
        return self.state[name]


class _Cleaner:
    """Comments, evaluated conditionals and ``comment`` environments, carried across lines.

    Conditionals we can evaluate (``\\iftrue``, ``\\iffalse``, declared ``\\newif`` switches)
    keep only the branch TeX takes; any other ``\\if..`` is left in the text untouched (its
    nesting is tracked so an evaluated conditional finds its own ``\\else`` and ``\\fi``).
    """

    def __init__(self, switches: Switches | None = None) -> None:
        self.switches = switches or Switches()
        self.skip_depth = 0  # >0 while skipping a dead branch (nesting of \if.. inside it)
        self.skip_to_fi = False  # skipping an \else branch: a further \else does not revive
        self.stack: list[str] = []  # live conditionals: "keep" (left in text), "then", "else" (ours)
        self.in_comment_env = False

    def clean(self, line: str) -> str:
        if "%" in line:
            line = strip_comment(line)
        if "\\" not in line and not self.skip_depth and not self.in_comment_env:
            return line
        out: list[str] = []
        pos = 0
        n = len(line)
        while pos <= n:
            if self.in_comment_env:
                m = _END_COMMENT.search(line, pos)
                if not m:
                    return "".join(out)
                self.in_comment_env = False
                pos = m.end()
                continue
            if self.skip_depth:
                pos = self._skip(line, pos)
                if pos < 0:
                    return "".join(out)
                continue
            pos = self._live(line, pos, out)
            if pos > n:
                break
        return "".join(out)

    def _skip(self, line: str, pos: int) -> int:
        """Advance through a dead branch; the offset where live text resumes, or -1 (line consumed)."""
        for m in _IF_TOKENS.finditer(line, pos):
            tok = m.group(1)
            if tok.startswith("if"):
                if tok not in _NOT_CONDITIONALS:
                    self.skip_depth += 1
            elif tok == "fi":
                self.skip_depth -= 1
            elif self.skip_depth == 1 and not self.skip_to_fi:  # \else of a false conditional: live
                self.skip_depth = 0
                self.stack.append("else")
            if self.skip_depth == 0:
                self.skip_to_fi = False
                return m.end()
        return -1

    def _live(self, line: str, pos: int, out: list[str]) -> int:
        """Copy live text from ``pos``; stop where a dead branch or comment environment starts."""
        cm = _BEGIN_COMMENT.search(line, pos) if "comment" in line else None
        limit = cm.start() if cm else len(line)
        for m in _COND.finditer(line, pos, limit):
            tok = m.group(1)
            if tok.startswith("newif"):
                name = tok.split("\\if", 1)[1]
                self.switches.state[name] = False
                continue
            if tok.startswith("if"):
                if tok in _NOT_CONDITIONALS:
                    continue
                val = self.switches.value(tok)
                if val is None:
                    self.stack.append("keep")
                    continue
                out.append(line[pos : m.start()])
                if val:
                    self.stack.append("then")
                    return m.end()
                self.skip_depth = 1
                return m.end()
            if tok == "else":
                if self.stack and self.stack[-1] == "then":
                    out.append(line[pos : m.start()])
                    self.stack.pop()
                    self.skip_depth, self.skip_to_fi = 1, True
                    return m.end()
                continue
            if tok == "fi":
                top = self.stack.pop() if self.stack else "keep"
                if top != "keep":
                    out.append(line[pos : m.start()])
                    return m.end()
                continue
            value = tok.endswith("true")
            name = tok[: -4 if value else -5]
            if name in self.switches.state:
                self.switches.state[name] = value
                self.switches.was_set.add(name)
                out.append(line[pos : m.start()])
                return m.end()
        out.append(line[pos:limit])
        if cm:
            self.in_comment_env = True
            return cm.end()
        return len(line) + 1


class _Flattener:
    def __init__(self, fs: FileSet, main: str, max_depth: int, max_chars: int) -> None:
        self.fs = fs
        self.main = main
        self.max_depth = max_depth
        self.max_chars = max_chars
        self.chunks: list[str] = []  # joined runs of output lines (no per-line objects kept)
        self.pending: list[str] = []
        self.line_starts = array("q")
        self.pos = 0
        self.line_file = array("i")
        self.line_no = array("i")
        self.files: list[str] = []
        self.file_index: dict[str, int] = {}
        self.errors: list[tuple[str, str]] = []
        self.chars = 0
        self.errors_unlisted = 0
        self.includes = 0
        self.switches = Switches()
        try:
            self.main_has_body = _has_document_body(fs.text(main))
        except (DecodeError, OSError):
            self.main_has_body = True

    def _error(self, name: str, why: str) -> None:
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append((name, why))
        else:
            self.errors_unlisted += 1

    def _emit(self, text: str, fidx: int, lineno: int) -> None:
        self.chars += len(text) + 1
        if self.chars > self.max_chars:
            raise FlattenTooLarge(f"flattened document exceeds {self.max_chars} characters")
        self.pending.append(text)
        if len(self.pending) >= 4096:
            self.chunks.append("\n".join(self.pending))
            self.pending = []
        self.line_starts.append(self.pos)
        self.pos += len(text) + 1
        self.line_file.append(fidx)
        self.line_no.append(lineno)

    def text(self) -> str:
        if self.pending:
            self.chunks.append("\n".join(self.pending))
            self.pending = []
        return "\n".join(self.chunks)

    def run(self, name: str, stack: tuple[str, ...]) -> None:
        try:
            text = self.fs.text(name)
        except (DecodeError, OSError) as exc:
            self._error(name, f"skipped file: {exc}")
            return
        fidx = self.file_index.setdefault(name, len(self.files))
        if fidx == len(self.files):
            self.files.append(name)
        cleaner = _Cleaner(self.switches)
        # Stream the file: no list of its lines is ever built (memory stays a small multiple of the text).
        # An included file with its own preamble contributes its body only (subfiles), unless the
        # main file is a driver without a body of its own (HoTT's hott-a4.tex -> \input{main}).
        in_body = len(stack) == 1 or not self.main_has_body or not _has_document_body(text)
        for lineno, raw in enumerate(_iter_lines(text), 1):
            line = cleaner.clean(raw)
            if not line.strip() and raw.strip():
                continue  # a comment-only line is no paragraph break in TeX
            if not in_body:  # an included subfile contributes only its document body
                m = _BEGIN_DOC.search(line) if "document" in line else None
                if m is None:
                    continue
                in_body, line = True, line[m.end() :]
            if "\\end" in line and "document" in line:
                m = _END_DOC.search(line)
                if m:
                    self._emit_line(line[: m.start()], fidx, lineno, name, stack)
                    return
            self._emit_line(line, fidx, lineno, name, stack)
        if cleaner.skip_depth:
            self._error(name, "unterminated false conditional (dropped to end of file)")
        if cleaner.in_comment_env:
            self._error(name, "unterminated comment environment (dropped to end of file)")

    def _emit_line(self, line: str, fidx: int, lineno: int, name: str, stack: tuple[str, ...]) -> None:
        if "\\" in line and _might_include(line):
            self._emit_with_includes(line, fidx, lineno, name, stack)
        else:
            self._emit(line, fidx, lineno)

    def _emit_with_includes(
        self, line: str, fidx: int, lineno: int, name: str, stack: tuple[str, ...]
    ) -> None:
        pos = 0
        for m in INCLUDE_RE.finditer(line):
            target = _target_of(m)
            if target is None:
                continue
            pre = line[pos : m.start()]
            if pre.strip():
                self._emit(pre, fidx, lineno)
            pos = m.end()
            resolved = self.fs.resolve(target, name, self.main)
            if resolved is None:
                self._error(name, f"line {lineno}: included file {target!r} not found")
                continue
            if resolved in stack:
                chain = " -> ".join(stack + (resolved,))
                self._error(name, f"line {lineno}: \\input cycle {chain} (not followed)")
                continue
            if len(stack) >= self.max_depth:
                self._error(name, f"line {lineno}: inclusion deeper than {self.max_depth} levels")
                continue
            self.includes += 1
            if self.includes > MAX_INCLUDES:
                if self.includes == MAX_INCLUDES + 1:
                    self.errors.append((name, f"line {lineno}: more than {MAX_INCLUDES} inclusions; the rest not followed"))
                else:
                    self.errors_unlisted += 1
                continue
            self.run(resolved, stack + (resolved,))
        rest = line[pos:]
        if rest.strip() or pos == 0:
            self._emit(rest, fidx, lineno)


class FlattenTooLarge(ValueError):
    pass


def _might_include(line: str) -> bool:
    return "\\in" in line or "\\sub" in line or "import" in line or "from" in line


def _target_of(m: re.Match[str]) -> str | None:
    if m.group("cmd"):
        arg = m.group("arg")
    elif m.group("bare"):
        arg = m.group("bare")
    elif m.group("imp"):
        arg = (m.group("idir") or "").rstrip("/") + "/" + (m.group("ifile") or "")
    else:
        d = m.group("oldir")
        arg = f"{d.rstrip('/')}/{m.group('olfile')}" if d else m.group("olfile")
    if arg is None:
        return None
    arg = _MACRO_IN_PATH.sub("", arg).strip()
    if "#" in arg:  # a macro parameter (inside a definition), not a file
        return None
    return arg or None


def _iter_lines(text: str) -> Iterator[str]:
    """``text.split("\\n")`` one line at a time."""
    start = 0
    while True:
        nl = text.find("\n", start)
        if nl < 0:
            yield text[start:]
            return
        yield text[start:nl]
        start = nl + 1


def _has_document_body(text: str) -> bool:
    """A ``\\begin{document}`` that is not commented out (a subfile with its own preamble)."""
    for m in _BEGIN_DOC.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if "%" not in text[line_start : m.start()] or len(strip_comment(text[line_start : m.end()])) >= (
            m.end() - line_start
        ):
            return True
    return False


def _subfile_body(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """An included file with its own ``\\begin{document}`` contributes only its body (subfiles)."""
    start = None
    for i, (_, line) in enumerate(lines):
        if "document" in line and _BEGIN_DOC.search(line):
            start = i
            break
    if start is None:
        return lines
    lineno, line = lines[start]
    m = _BEGIN_DOC.search(line)
    assert m is not None
    body = [(lineno, line[m.end() :])] + lines[start + 1 :]
    return _cut_after_end_document(body)


def _cut_after_end_document(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    for i, (lineno, line) in enumerate(lines):
        if "\\end" in line and "document" in line:
            m = _END_DOC.search(line)
            if m:
                return lines[:i] + [(lineno, line[: m.start()])]
    return lines


def flatten(
    fs: FileSet, main: str, *, max_depth: int = MAX_INCLUDE_DEPTH, max_chars: int = MAX_FLAT_CHARS
) -> FlattenResult:
    """Flatten ``main`` and everything it includes. Never raises for bad includes: they are listed."""
    fl = _Flattener(fs, main, max_depth, max_chars)
    fl.run(main, (main,))
    for name in sorted(fl.switches.defaulted):
        fl.errors.append(
            (main, f"conditional \\if{name} read before the document set it: took its default (false) branch")
        )
    flat = FlatText(fl.text(), fl.files, fl.line_starts, fl.line_file, fl.line_no)
    errors = fl.errors
    if fl.errors_unlisted:
        errors = [*errors, (main, f"{fl.errors_unlisted} more inclusion problems not listed")]
    return FlattenResult(flat=flat, errors=errors, included=list(fl.files))


def find_include_targets(text: str) -> list[str]:
    """Raw targets of every inclusion command in comment-stripped ``text`` (for main-file detection)."""
    out = []
    for raw in text.split("\n"):
        line = strip_comment(raw) if "%" in raw else raw
        if "\\" in line and _might_include(line):
            for m in INCLUDE_RE.finditer(line):
                t = _target_of(m)
                if t:
                    out.append(t)
    return out
