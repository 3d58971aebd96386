"""Find the final answer in a model's raw output, the way a careful grader reads it.

Why our own: math-verify parses and compares well, but its extraction is tuned for
benchmark formats and will happily return the first or any number it finds. The course
project this issue cites (its Fig. 6/7) failed exactly there: a regex took the first
integer of a rambling output, or a number echoed from the prompt. Here:

1. only the *continuation* is read (an echoed prompt and chat markup are cut off);
2. the last ``\\boxed{...}`` / ``\\fbox{...}`` wins (nested braces handled by a scanner,
   not a regex);
3. else the text after the last "final answer is" / "answer:" style phrase;
4. else the last markdown-bold span (``**1410**``), then a last line that is only a
   number or one math environment;
   else the last math environment (``$...$``, ``\\(...\\)``, ``\\[...\\]``), then the
   right-hand side of the last ``=``;
5. else the last bare number - unless that number also appears in the prompt (an echo is
   not an answer).

Everything here is plain string scanning, linear in the output length: no sympy, no
regex with nested quantifiers, so it cannot hang. Parsing happens later, in a worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 100_000
"""Only the last MAX_CHARS of an output are read (final answers are at the end)."""
MAX_CANDIDATE = 2_000

END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<|end|>", "<end_of_turn>",
               "<|end_of_text|>")
ASSISTANT_MARKERS = (
    "<|im_start|>assistant", "<|start_header_id|>assistant<|end_header_id|>", "<|assistant|>",
    "[/INST]", "### Response:", "<start_of_turn>model",
)

_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer|result|solution)\s*(?:is|was|would\s+be|will\s+be|equals|=|:)\s*:?",
    re.IGNORECASE,
)
_MATH_ENVS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_NUMBER = re.compile(
    r"(?<![\w.])[-\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])"  # 1,410
    r"|(?<![\w.])[-\u2212]?\d+(?:\.\d+)?(?:/\d+)?(?![\w])"  # 1410, 3.5, 3/4
)
_BOLD = re.compile(r"\*\*([^*\n]{1,300})\*\*")
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = {"sqrt", "frac", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "left", "right", "cdot",
               "times", "arcsin", "arccos", "arctan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "dfrac",
               "tfrac", "text", "mathrm", "operatorname", "int", "Derivative", "Integral", "displaystyle", "boxed",
               "acot", "asinh", "acosh", "atanh", "abs", "Abs"}


@dataclass(frozen=True)
class Extraction:
    text: str | None
    """The answer text (LaTeX or plain), None when no answer could be found."""
    method: str
    """boxed | phrase | bold | final_line | math_env | equals | last_number | none"""


def continuation(output: str, prompt: str | None = None) -> str:
    """The part of ``output`` the model generated: no echoed prompt, no chat markup."""
    text = output or ""
    if prompt and text.startswith(prompt):
        text = text[len(prompt):]
    cut = max((text.rfind(m) + len(m) if text.rfind(m) >= 0 else 0) for m in ASSISTANT_MARKERS)
    text = text[cut:]
    ends = [i for i in (text.find(m) for m in END_MARKERS) if i >= 0]
    if ends:
        text = text[: min(ends)]
    return text[-MAX_CHARS:]


def brace_pairs(text: str) -> dict[int, int]:
    """Map each ``{`` to its matching ``}`` in one linear pass (escaped braces ignored)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def last_boxed(text: str) -> str | None:
    """Content of the last non-empty ``\\boxed{}``/``\\fbox{}`` (also ``\\boxed 5``)."""
    pairs: dict[int, int] | None = None
    best: tuple[int, str] | None = None
    for name in ("\\boxed", "\\fbox"):
        start = 0
        while True:
            i = text.find(name, start)
            if i < 0:
                break
            j = i + len(name)
            start = j
            while j < len(text) and text[j] == " ":
                j += 1
            if j < len(text) and text[j] == "{":
                if pairs is None:
                    pairs = brace_pairs(text)
                end = pairs.get(j)
                if end is None:
                    continue
                content = text[j + 1: end].strip()
            else:  # \boxed 5
                m = re.match(r"[^\s$]+", text[j:j + MAX_CANDIDATE])
                content = m.group(0) if m else ""
            if content and (best is None or i > best[0]):
                best = (i, content)
    return best[1] if best else None


def _math_envs(text: str) -> list[tuple[int, str]]:
    """All math environments as (start, content), left to right, without overlap.

    Linear time: once a closing delimiter is known to be absent after some position,
    that kind of environment is not searched for again.
    """
    out: list[tuple[int, str]] = []
    closed_out: set[str] = set()
    i, n = 0, len(text)
    while i < n:
        matched = False
        for open_, close in _MATH_ENVS:
            if open_ in closed_out or not text.startswith(open_, i):
                continue
            if open_ == "$" and i > 0 and text[i - 1] == "\\":
                continue
            j = text.find(close, i + len(open_))
            while open_ == "$" and j > 0 and text[j - 1] == "\\":
                j = text.find(close, j + 1)
            if j < 0:
                closed_out.add(open_)
                continue
            content = text[i + len(open_): j].strip()
            if content:
                out.append((i, content))
            i = j + len(close)
            matched = True
            break
        if not matched:
            i += 1
    return out


def _strip_bold(s: str) -> str:
    """Remove markdown bold (``**1410**``) but not a dangling power: ``x**`` from a
    truncated output stays ``x**`` (unparsable), it must not become ``x``."""
    s = s.strip()
    opened = s.startswith("**")
    s = s.lstrip("*").strip()
    if s.endswith("**") and (opened or re.search(r"[\d}\]$]\**$", s)):
        s = s.rstrip("*").strip()
    return s


def _clean(candidate: str) -> str:
    s = _strip_bold(candidate).rstrip(" .;,:!").strip()  # "$7$." -> "$7$": punctuation after the delimiter
    for open_, close in _MATH_ENVS:
        if s.startswith(open_) and s.endswith(close) and len(s) > len(open_) + len(close):
            s = s[len(open_): -len(close)].strip()
            break
    s = s.replace("\\displaystyle", "").strip()
    s = s.rstrip(" .;,:!").strip()
    return _strip_bold(s)


def _wordy(s: str) -> bool:
    """Prose rather than math: a word of 3+ letters that is neither a LaTeX command nor a
    known function name ("is", "x", "\\frac" pass; "answer", "dollars" do not)."""
    for m in _WORD.finditer(s):
        if m.start() > 0 and s[m.start() - 1] == "\\":
            continue
        if m.group(0) not in _MATH_WORDS and m.group(0).lower() not in _MATH_WORDS:
            return True
    return False


def _after_phrase(text: str) -> str | None:
    matches = list(_PHRASE.finditer(text))
    for m in reversed(matches[-50:]):
        rest = text[m.end():].lstrip()
        if not rest:
            continue
        envs = _math_envs(rest[:4000])
        if envs and envs[0][0] == 0:
            cand = envs[0][1]
        elif rest.startswith("\\boxed") or rest.startswith("\\fbox"):
            cand = last_boxed(rest) or ""
        else:
            line = rest.split("\n", 1)[0]
            # sentence end: ". " followed by a capital letter, or end of line
            sm = re.search(r"\.\s+[A-Z]", line)
            cand = line[: sm.start()] if sm else line
        cand = _clean(cand)
        if cand and not _wordy(cand) and any(ch.isalnum() for ch in cand):
            return cand
    return None


def _top_level_rhs(s: str) -> str:
    """Text after the last '=' that is not inside braces/parentheses (and not <=, >=, !=)."""
    depth = 0
    last = -1
    for i, c in enumerate(s):
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c == "=" and depth == 0 and (i == 0 or s[i - 1] not in "<>!\\"):
            last = i
    return s[last + 1:].strip() if last >= 0 else s


def prompt_numbers(prompt: str | None) -> set[str]:
    if not prompt:
        return set()
    return {m.group(0).replace(",", "").replace("\u2212", "-").lstrip("-") for m in _NUMBER.finditer(prompt)}


def extract_answer(output: str, prompt: str | None = None) -> Extraction:
    """The final answer in ``output`` (only the part after ``prompt``, if it was echoed)."""
    text = continuation(output, prompt)
    if not text.strip():
        return Extraction(None, "none")

    boxed = last_boxed(text)
    if boxed:
        return Extraction(_clean(boxed)[:MAX_CANDIDATE], "boxed")

    phrase = _after_phrase(text)
    if phrase:
        return Extraction(phrase[:MAX_CANDIDATE], "phrase")

    # Markdown bold is the writer's own answer marker ("We get **0**").
    for m in reversed(list(_BOLD.finditer(text))[-20:]):
        cand = _clean(m.group(1))
        if cand and not _wordy(cand) and any(ch.isalnum() for ch in cand):
            return Extraction(cand[:MAX_CANDIDATE], "bold")

    # A last line that is nothing but a number or one math environment is the answer,
    # even when that number also occurs in the prompt ("6 + 0" -> "6").
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines:
        last = lines[-1]
        envs = _math_envs(last)
        only_env = len(envs) == 1 and len(_clean(last)) <= len(envs[0][1]) + 1
        if _NUMBER.fullmatch(last.rstrip(".").strip()) or (only_env and "=" not in envs[0][1]):
            cand = _clean(last)
            restated = bool(prompt) and re.sub(r"\s+", "", cand) in re.sub(r"\s+", "", prompt or "")
            if cand and not (restated and not _NUMBER.fullmatch(cand)):
                return Extraction(cand[:MAX_CANDIDATE], "final_line")

    echoed = prompt_numbers(prompt)
    prompt_compact = re.sub(r"\s+", "", prompt or "")
    for _, content in reversed(_math_envs(text)):
        cand = _clean(content)
        compact = re.sub(r"\s+", "", cand)
        if not cand or (prompt_compact and compact in prompt_compact):
            continue  # the problem restated, not an answer
        if "=" in cand:
            rhs = _top_level_rhs(cand)
            if rhs:
                return Extraction(cand[:MAX_CANDIDATE], "math_env")
            continue
        if cand.replace(",", "").lstrip("-") in echoed:
            continue
        return Extraction(cand[:MAX_CANDIDATE], "math_env")

    for line in reversed(text.splitlines()):
        if "=" not in line:
            continue
        rhs = _clean(_top_level_rhs(line))
        if rhs and not _wordy(rhs) and any(ch.isalnum() for ch in rhs):
            sm = re.match(r"^(.*?)(?:\.\s+[A-Z]|$)", rhs)
            rhs = _clean(sm.group(1)) if sm else rhs
            if rhs:
                return Extraction(rhs[:MAX_CANDIDATE], "equals")

    return last_number(text, echoed)


_NUMBER_RUN = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_COMMAND_BEFORE = re.compile(r"\\[A-Za-z]+\*?$")
LIST_WINDOW = 500
"""How far back a comma list before the last number is looked for (keeps extraction linear)."""
_LIST_BEFORE = re.compile(r"(?<![\w.,])(?:[-\u2212]?\d+(?:\.\d+)?\s*,\s*)+$")


def _command_around(text: str, start: int, end: int) -> str | None:
    """The whole (outermost) LaTeX command whose brace argument holds ``text[start:end]``
    (``\\frac{10}{9}`` for the 9), or None when the number is not a command's argument."""
    pairs = brace_pairs(text)
    opener = {close: open_ for open_, close in pairs.items()}
    containing = [o for o, c in pairs.items() if o < start and end <= c]
    if not containing:
        return None
    group = min(containing)  # the outermost group: \\frac{1}{\\sqrt{9}} is read whole, not as \\sqrt{9}
    first = group
    while first > 0 and text[first - 1] == "}" and first - 1 in opener:  # earlier arguments: \frac{a}{b}
        first = opener[first - 1]
    cmd = _COMMAND_BEFORE.search(text, 0, first)
    if not cmd:
        return None
    last = pairs[group]
    while last + 1 < len(text) and text[last + 1] == "{" and last + 1 in pairs:  # later arguments
        last = pairs[last + 1]
    return text[cmd.start(): last + 1]


def last_number(text: str, echoed: set[str]) -> Extraction:
    """The last number of ``text`` that stands alone, the fallback of :func:`extract_answer`.

    Numbers are read whole: ``1,000.99`` is one number; a digit run glued to letters
    (``3x``, ``5m``), an index or exponent (``x_2``, ``m^2``) or a list (``2,3``) is not a
    number, and reading stops there (no answer) rather than take an earlier one. A number
    inside a LaTeX command's argument gives the whole command (``\\frac{10}{9}``, never 9);
    the last of a comma-separated list gives the list (``2, 3``).
    A number also found in the prompt is an echo and is passed over.
    """
    for m in reversed(list(_NUMBER_RUN.finditer(text))):
        num = m.group(0).replace("\u2212", "-").rstrip(",")
        start, end = m.start(), m.start() + len(num)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if before == "{" or after == "}":
            command = _command_around(text, start, end)
            return Extraction(_clean(command)[:MAX_CANDIDATE], "last_number") if command else Extraction(None, "none")
        if before.isalnum() or before in "._^\\" or after.isalnum() or after in "_^":
            return Extraction(None, "none")
        if "," in num and not _THOUSANDS.fullmatch(num):
            return Extraction(None, "none")  # "2,3": a list, not a number
        listed = _LIST_BEFORE.search(text, max(0, start - LIST_WINDOW), start)  # bounded: linear time
        if listed:  # "The roots are: 2, 3": the list is the answer, not its last element
            return Extraction(text[listed.start(): end], "last_number")
        if num.replace(",", "").lstrip("-") in echoed:
            continue
        return Extraction(num, "last_number")
    return Extraction(None, "none")
