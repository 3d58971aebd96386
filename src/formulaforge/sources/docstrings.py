"""Docstrings of installed packages as a math corpus: ``.. math::`` blocks and their prose.

Files are located with :func:`importlib.util.find_spec` and read with :mod:`ast`; nothing
is imported, so a broken or slow package import cannot hurt the build and the corpus is the
same on every machine with those package versions. Besides real docstrings we read the
strings torch attaches at import time (``add_docstr(torch.abs, r\"\"\"...\"\"\")``), which is
where most of torch's mathematics lives.

A docstring becomes a list of blocks: prose paragraphs (``:math:`x``` -> ``$x$``, other
roles reduced to their text, doctests and code blocks dropped), math blocks, and section
breaks. Section structure comes from ``docstring_parser``'s numpydoc and Google parsers
(their section-title grammars, extended with sympy's ``=====`` underlines and torch's
``Shape:``/``Keyword args:``): only the description and Notes-like sections are prose;
Parameters/Args/Returns/Yields/Raises/Attributes/See Also/References/Examples/Warnings are
dropped, and a context never crosses a section break.
"""

from __future__ import annotations

import ast
import bisect
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from docstring_parser import google, numpydoc

DEFAULT_PACKAGES = ("torch", "sympy", "numpy")
_SKIP_DIRS = {"tests", "test", "testing", "_vendor", "vendored", "benchmarks"}
_MAX_PY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class DocstringSpec:
    doc_id: str
    source: str
    package: str
    path: str

    @property
    def collection(self) -> str:
        return f"docstrings:{self.package}"


@dataclass
class Block:
    kind: str  # "prose" | "math" | "break" (a section boundary: contexts stop there)
    text: str
    line: int  # 1-based line in the .py file
    offset: int  # character offset in the docstring


@dataclass
class Docstring:
    name: str
    line: int
    blocks: list[Block]


def package_root(package: str) -> Path:
    """Directory (or single file) of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"package {package!r} cannot be located: {exc}") from None
    if spec is None:
        raise ValueError(f"package {package!r} is not installed")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    raise ValueError(f"package {package!r} has no Python source to read")


def discover(source: str, packages: list[str]) -> list[DocstringSpec]:
    """One document per ``.py`` file that has a ``.. math::`` block (cheap text pre-filter)."""
    specs: list[DocstringSpec] = []
    for package in packages:
        root = package_root(package)
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        base = root.parent
        for f in files:
            rel = f.relative_to(base)
            if any(part in _SKIP_DIRS for part in rel.parts[:-1]):
                continue
            try:
                if f.stat().st_size > _MAX_PY_BYTES:
                    continue
                data = f.read_bytes()
            except OSError:
                continue
            if b".. math::" in data:
                specs.append(DocstringSpec(f"docstrings:{rel.as_posix()}", source, package, str(f)))
    return specs


def read_docstrings(path: str | Path) -> list[Docstring]:
    """All docstrings (and torch ``add_docstr`` strings) of one module, as blocks."""
    path = Path(path)
    data = path.read_bytes()
    try:
        src = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not UTF-8 (offset {exc.start})") from None
    try:
        tree = ast.parse(src, filename=str(path))
    except SyntaxError as exc:
        raise ValueError(f"{path.name}: Python syntax error at line {exc.lineno}") from None
    out: list[Docstring] = []
    line_starts = [0]
    for ln in src.split("\n"):
        line_starts.append(line_starts[-1] + len(ln) + 1)
    for name, node, is_format in _string_nodes(tree):
        text = _literal_text(src, line_starts, node, is_format)
        if text is None or ".. math::" not in text:
            continue
        lines = _dedent(text.split("\n"))
        blocks = docstring_blocks(lines, node.lineno, backtick_math=_backtick_is_math(path))
        if any(b.kind == "math" for b in blocks):
            out.append(Docstring(name, node.lineno, blocks))
    return out


def _string_nodes(tree: ast.AST) -> list[tuple[str, ast.Constant, bool]]:
    found: list[tuple[str, ast.Constant, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.append((getattr(node, "name", "<module>"), body[0].value, False))
        elif isinstance(node, ast.Call):
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if "add_docstr" not in fname:
                continue
            target = ast.unparse(node.args[0]) if node.args else "?"
            for arg in node.args[1:]:
                for const, is_format in _constants_in(arg):
                    found.append((target, const, is_format))
    return found


def _constants_in(node: ast.AST) -> list[tuple[ast.Constant, bool]]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node, False)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return [(c, True) for c, _ in _constants_in(node.func.value)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constants_in(node.left) + _constants_in(node.right)
    return []


_PREFIX = re.compile(r"^([rRuUbB]{0,2})(\"\"\"|'''|\"|')")
_FORMAT_FIELD = re.compile(r"\{\{|\}\}|\{[A-Za-z_][A-Za-z0-9_]*\}")


def _segment(src: str, line_starts: list[int], node: ast.AST) -> str | None:
    """``ast.get_source_segment`` without re-splitting the module per call (O(n) not O(n^2)).

    Column offsets are UTF-8 byte offsets; docstring literals start and end on ASCII quotes,
    so we convert through the encoded line.
    """
    end_lineno = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    if end_lineno is None or end_col is None:
        return None
    first = src[line_starts[node.lineno - 1] : line_starts[node.lineno]]
    last = src[line_starts[end_lineno - 1] : line_starts[end_lineno]]
    start = line_starts[node.lineno - 1] + len(
        first.encode("utf-8")[: node.col_offset].decode("utf-8", "ignore")
    )
    end = line_starts[end_lineno - 1] + len(last.encode("utf-8")[:end_col].decode("utf-8", "ignore"))
    return src[start:end]


def _literal_text(src: str, line_starts: list[int], node: ast.Constant, is_format: bool) -> str | None:
    """The string as its author wrote it.

    Non-raw docstrings lose LaTeX to Python escapes (``"\\frac"`` holds a form feed), so we
    re-read the source literal: a doubled backslash becomes one, anything else stays as
    written. ``str.format`` templates lose their ``{field}`` placeholders (torch fills them
    with argument descriptions) and get their doubled braces back to single ones.
    """
    seg = _segment(src, line_starts, node)
    text: str | None = None
    if seg:
        m = _PREFIX.match(seg)
        if m and seg.endswith(m.group(2)) and len(seg) >= len(m.group(0)) + len(m.group(2)):
            inner = seg[len(m.group(0)) : len(seg) - len(m.group(2))]
            if "b" in m.group(1).lower():
                return None
            text = inner if "r" in m.group(1).lower() else inner.replace("\\\\", "\\")
    if text is None:
        text = node.value if isinstance(node.value, str) else None
    if text is not None and is_format:
        text = _FORMAT_FIELD.sub(lambda f: f.group(0)[0] if f.group(0) in ("{{", "}}") else "", text)
    return text


def _dedent(lines: list[str]) -> list[str]:
    lines = [ln.expandtabs() for ln in lines]
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    cut = min(indents) if indents else 0
    return [lines[0].strip()] + [ln[cut:] for ln in lines[1:]]


_ROLE = re.compile(r":(?:[a-z]+:)?([a-z][a-z0-9_-]*):`([^`]*)`")
_SKIP_DIRECTIVES = re.compile(
    r"^\.\.\s+(?!(?:math|note|hint|tip|important)::)"  # any other directive, and comments (.. TODO)
    r"|^\.\.\s*$"
)
_KEEP_DIRECTIVE = re.compile(r"^\.\.\s+(?:note|hint|tip|important)::\s*")
_UNDERLINE = re.compile(r"^\s*([-=~^*+#\"'])\1{2,}\s*$")


_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`_{1,2}|`([^`]+)`_{1,2}(?!\w)")
_LITERAL = re.compile(r"``([^`]+)``")
_BACKTICK = re.compile(r"(?<![`\w])`([^`]+)`(?![`\w])")
_CITATION = re.compile(r"\s*\[[A-Za-z0-9][\w.-]*\]_")
_MATH_SPLIT = re.compile(r"(\$[^$]*\$)")
_REST_ESCAPE = re.compile(r"\\([^\s])")
_SIGNATURE_LINE = re.compile(r"^[A-Za-z_][\w.]*\((?:[^()]|\([^()]*\))*\)\s*(?:->\s*\S.*)?$")


def inline_roles(text: str, backtick_math: bool = False) -> str:
    """reST inline markup -> plain text: ``:math:`x``` -> ``$x$``, ``:class:`~a.B``` -> ``B``,
    ```text <url>`_`` -> ``text``, ````x```` -> ``x``, ``[Edmonds74]_`` -> nothing; a bare
    `` `x` `` is math where the package's default role is math (sympy), else plain text."""

    def repl(m: re.Match[str]) -> str:
        role, content = m.group(1), m.group(2)
        if role == "math":
            return f"${content}$"
        content = re.sub(r"^(.*?)\s*<.*>$", r"\1", content)
        if content.startswith("~"):
            content = content[1:].rsplit(".", 1)[-1]
        return content

    text = _ROLE.sub(repl, text)
    if "`" in text:
        text = _LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
        text = _LITERAL.sub(r"\1", text)
        text = _BACKTICK.sub((lambda m: f"${m.group(1)}$") if backtick_math else (lambda m: m.group(1)), text)
    if "]_" in text:
        text = _CITATION.sub("", text)
    if "\\" in text:  # reST escapes outside math ("$n$\\th" renders "nth")
        parts = _MATH_SPLIT.split(text)
        text = "".join(p if k % 2 else _REST_ESCAPE.sub(r"\1", p) for k, p in enumerate(parts))
    return text


def _backtick_is_math(path: Path) -> bool:
    """sympy's Sphinx ``default_role`` is ``math``: there `` `x` `` is a formula, elsewhere a name."""
    return "sympy" in path.parts


class _UnderlinedSection(numpydoc.Section):
    """numpydoc section whose title may be underlined with ``-``, ``=`` or ``~`` (sympy uses ``=``)."""

    @property
    def title_pattern(self) -> str:
        return rf"^({self.title})\s*?\n[-=~^]{{3,}}\s*$"


# Sections whose text is prose (kept); every other section the parsers know is dropped.
PROSE_SECTION_KEYS = frozenset({"notes", "explanation"})
_NUMPY = numpydoc.NumpydocParser(
    [_UnderlinedSection(s.title, s.key) for s in numpydoc.DEFAULT_SECTIONS]
    + [_UnderlinedSection(t, "explanation") for t in ("Explanation", "Background", "Algorithm", "Details")]
)
_GOOGLE = google.GoogleParser(
    list(google.DEFAULT_SECTIONS)
    + [
        google.Section(title, key, google.SectionType.SINGULAR)
        for title, key in (
            ("Shape", "shape"),
            ("Keyword args", "param"),
            ("Keyword Args", "param"),
            ("Keyword arguments", "param"),
            ("Keyword Arguments", "param"),
            ("Example:", "examples"),
            ("Examples:", "examples"),
            ("Note", "notes"),
            ("Notes", "notes"),
            ("Warning", "warnings"),
            ("Warnings", "warnings"),
            ("References", "references"),
            ("Reference", "references"),
            ("See Also", "see_also"),
            ("See also", "see_also"),
            ("Todo", "todo"),
        )
    ],
    title_colon=True,
)


def prose_sections(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges ``[a, b)`` of the description and the prose sections, by docstring_parser's grammar.

    Both the numpydoc and the Google parser look for their section titles; like
    ``docstring_parser.parse``'s auto style, the one that finds more sections wins.
    """
    text = "\n".join(lines)
    best: tuple[object, list[re.Match[str]]] | None = None
    for parser in (_NUMPY, _GOOGLE):
        found = list(parser.titles_re.finditer(text))  # type: ignore[attr-defined]
        if best is None or len(found) > len(best[1]):
            best = (parser, found)
    assert best is not None
    parser, matches = best
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)
    ranges: list[tuple[int, int]] = []
    a, keep = 0, True
    for m in matches:
        if keep:
            ranges.append((a, bisect.bisect_right(starts, m.start()) - 1))
        title = next(g for g in m.groups() if g is not None)
        keep = parser.sections[title].key in PROSE_SECTION_KEYS  # type: ignore[attr-defined]
        a = bisect.bisect_right(starts, max(m.start(), m.end() - 1))
    if keep:
        ranges.append((a, len(lines)))
    return [(x, y) for x, y in ranges if y > x]


def docstring_blocks(lines: list[str], first_line: int, backtick_math: bool = False) -> list[Block]:
    """Blocks of the prose sections only, with a ``break`` block between sections."""
    out: list[Block] = []
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
    for a, b in prose_sections(lines):
        if out:
            out.append(Block("break", "", first_line + a, starts[a]))
        for blk in rst_blocks(lines[a:b], first_line + a, backtick_math):
            blk.offset += starts[a]
            out.append(blk)
    return out


def _drop_lead_in(blocks: list[Block]) -> None:
    """ "... can be computed as follows:" whose example was dropped: remove that last sentence."""
    if not blocks or blocks[-1].kind != "prose" or not blocks[-1].text.rstrip().endswith(":"):
        return
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z$])", blocks[-1].text.rstrip())
    kept = " ".join(sentences[:-1]).strip()
    if kept:
        blocks[-1].text = kept
    else:
        blocks.pop()


def rst_blocks(lines: list[str], first_line: int, backtick_math: bool = False) -> list[Block]:
    """Split dedented docstring lines into prose paragraphs, ``.. math::`` blocks and section breaks."""
    blocks: list[Block] = []
    para: list[str] = []
    para_line = 0
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)

    def flush(i: int) -> None:
        nonlocal para
        text = " ".join(p.strip() for p in para if p.strip())
        if text:
            blocks.append(
                Block("prose", inline_roles(text, backtick_math), first_line + para_line, offsets[para_line])
            )
        para = []

    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped:
            flush(i)
            i += 1
            continue
        if stripped.startswith(".. math::"):
            flush(i)
            start = i
            parts = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < n and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                parts.append(
                    lines[i].strip() if not lines[i].strip().startswith(":") or any(p for p in parts) else ""
                )
                i += 1
            formula = _join_equations(parts)
            if formula:
                blocks.append(Block("math", formula, first_line + start, offsets[start]))
            continue
        if stripped.startswith(">>>"):
            flush(i)
            _drop_lead_in(blocks)
            while i < n and lines[i].strip():
                i += 1
            continue
        if _SKIP_DIRECTIVES.match(stripped):
            flush(i)
            if "::" in stripped:
                _drop_lead_in(blocks)
            i += 1
            while i < n and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                i += 1
            continue
        if _KEEP_DIRECTIVE.match(stripped):  # note/warning/seealso: keep their prose
            flush(i)
            stripped = _KEEP_DIRECTIVE.sub("", stripped)
            if not stripped:
                i += 1
                continue
        if i + 1 < n and _UNDERLINE.match(lines[i + 1]) and len(lines[i + 1].strip()) >= len(stripped) * 0.6:
            flush(i)  # a section title ("Notes" / "-----"): contexts do not cross it
            blocks.append(Block("break", "", first_line + i, offsets[i]))
            i += 2
            continue
        if (
            not para
            and _SIGNATURE_LINE.match(stripped)
            and ("->" in stripped or i + 1 >= n or not lines[i + 1].strip())
        ):
            i += 1  # a call signature line ("gelu(input, approximate='none') -> Tensor")
            continue
        if _UNDERLINE.match(line):
            i += 1
            continue
        if not para:
            para_line = i
        if stripped.endswith("::") and not stripped.startswith(".."):
            para.append(stripped[:-1])
            flush(i)
            _drop_lead_in(blocks)  # its literal block is dropped
            i += 1
            while i < n and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                i += 1
            continue
        para.append(stripped)
        i += 1
    flush(n)
    return blocks


def _join_equations(parts: list[str]) -> str:
    """Sphinx renders blank-line-separated equations in one block as separate lines: join with ``\\\\``."""
    equations: list[list[str]] = [[]]
    for p in parts:
        if p:
            equations[-1].append(p)
        elif equations[-1]:
            equations.append([])
    eqs = [" ".join(e) for e in equations if e]
    return " \\\\ ".join(eqs).strip()
