"""Mutation score of FormulaForge's core modules, with mutmut (not part of `make test`).

For each core module it copies the repository's ``src/``, ``tests/`` and ``pyproject.toml`` into a
scratch folder, adds a ``[tool.mutmut]`` section that mutates only that module and runs only the
tests that exercise it, runs ``mutmut run`` there (mutmut forks a warmed test process per mutant),
and tallies killed / survived / timeout / no-tests from ``mutmut results --all``. Mutants listed in
``EQUIVALENT`` (same behaviour as the original, with the reason) are excluded from the score.

    python bench/mutation.py                       # every core module; table on stdout + docs-ready Markdown
    python bench/mutation.py --module splits       # one module
    python bench/mutation.py --list                # the modules, their tests and functions

Why a script around mutmut and not plain ``mutmut run``: mutmut mutates whatever its config names and
runs the test selection it is given; the per-module scratch copy keeps each module's run, its test
selection and its results separate, so the killed share is reported per module as issue 22 asks and a
run can be resumed module by module (mutmut itself resumes inside a module).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "src/formulaforge"


@dataclass(frozen=True)
class Target:
    path: str  # relative to src/formulaforge
    tests: tuple[str, ...]
    only: tuple[str, ...] = field(default=())  # restrict to these functions (mutmut names use x_ prefix)
    # tests left out of mutation runs: timing and memory checks (a mutant cannot fail them for a
    # reason they test, and under mutmut's trampolines they take minutes) and whole-corpus runs
    deselect: tuple[str, ...] = field(default=())


_ANSWER_TIMING = ("tests/test_synth_answers.py::test_pathological_outputs_time_out_without_hanging_and_neighbours_survive",
                  "tests/test_synth_answers.py::test_extraction_is_linear_on_hostile_text")

_EXTRACT_TIMING = ("tests/test_contexts_clean.py::test_many_displays_in_one_paragraph_is_linear",
                   "tests/test_contexts_clean.py::test_extraction_memory_is_a_small_multiple_of_the_input")

# macros.py has ~800 lines; on 2 cores the run is restricted to what reads and expands a macro
# (definitions, argument reading, substitution, the xparse conditionals, \ensuremath). Left out:
# the scope tracking helpers (_depth_after, _deferred_spans, _in_bare_group, _is_global,
# MacroTable._add_scoped/_find_definers, _def_pattern), tested end to end in test_contexts_clean.py.
_MACROS_CORE = ("xǁMacroTableǁadd_definitions", "xǁMacroTableǁat", "xǁMacroTableǁexpand",
                "xǁMacroTableǁ_expand_round", "x_expand_math_wrappers", "x__arg", "x__substitute", "x__escaped",
                "x_skip_ws", "x_read_group", "x__close_at_depth0", "x_read_bracket", "x__read_args",
                "x_resolve_novalue", "x__unsupported_body", "x__name_of", "x__parse_definition", "x__xparse_spec",
                "x__tidy", "x__in_inline_math")

TARGETS: dict[str, Target] = {
    "extract": Target("datasets/extract.py", ("tests/test_contexts_clean.py", "tests/test_datasets_contextformulas.py",
                                              "tests/test_properties.py", "tests/test_extract_units.py"),
                      deselect=(*_EXTRACT_TIMING, "tests/test_datasets_contextformulas.py::test_real_books_give_sane_triplets")),
    "splits": Target("datasets/splits.py", ("tests/test_splits_stable.py", "tests/test_datasets_contextformulas.py")),
    "dedup": Target("datasets/dedup.py", ("tests/test_splits_stable.py", "tests/test_datasets_contextformulas.py")),
    "chain": Target("formula/chain.py", ("tests/test_formula_parse.py", "tests/test_stages.py",
                                         "tests/test_chain_rules.py")),
    "msft_layer": Target("models/msft/layer.py", ("tests/test_msft_model.py", "tests/test_msft_equations.py",
                                                  "tests/test_msft_layer_unit.py")),
    "msft_merge": Target("models/msft/merge.py", ("tests/test_msft_export.py", "tests/test_msft_model.py")),
    "standard_metrics": Target("evaluation/metrics/standard.py", ("tests/test_eval_metrics.py",)),
    "answers_extract": Target("evaluation/answers/extract.py", ("tests/test_answer_extract_units.py",
                                                                "tests/test_answer_cases.py",
                                                                "tests/test_synth_answers.py"),
                              deselect=_ANSWER_TIMING),
    "answers_parse": Target("evaluation/answers/parse.py", ("tests/test_answer_parse_units.py",
                                                            "tests/test_answer_cases.py", "tests/test_synth_answers.py"),
                            deselect=_ANSWER_TIMING),
    "answers_verify": Target("evaluation/answers/verify.py", ("tests/test_answer_verify_units.py",
                                                              "tests/test_answer_cases.py", "tests/test_synth_answers.py",
                                                              "tests/test_properties.py"),
                             deselect=_ANSWER_TIMING),
    "macros": Target("sources/macros.py", ("tests/test_macros_units.py", "tests/test_sources_latex.py",
                                           "tests/test_contexts_clean.py"),
                     deselect=_EXTRACT_TIMING, only=_MACROS_CORE),
    "atomic": Target("utils/atomic.py", ("tests/test_atomic_outputs.py", "tests/test_utils.py",
                                         "tests/test_outputs_safety.py")),
}

_SPLITS = "formulaforge.datasets.splits."
_SENTINEL = "no 64-bit hash key reaches 2**64, so any sentinel >= 2**64 (or an empty range) behaves the same"
_CHAIN = "formulaforge.formula.chain."
_MERGE = "formulaforge.models.msft.merge."
_SAFETENSORS = ("transformers 5 writes safetensors whatever safe_serialization says (the test checks that no "
                "*.bin appears); the argument stays for transformers 4")
_SEQ = "seq nodes exist only as a parse-failure root (never walked) or an empty formula (no children)"
_IDENTITY = ("also subsampling a chain of exactly max_len - 1 elements: keep = n and step = 1 select every "
             "element, the chain is unchanged")
_LAYER = "formulaforge.models.msft.layer."
_NO_BIAS = "bias=None instead of False: nn.Linear tests `if bias:`, so no bias either way"
_PAIRED = ("D_down/D_up and Q_down/Q_up are only ever set together (add_d_plugin, add_q_plugin), so `and` "
           "and `or` over the pair agree")
_EXTRACT = "formulaforge.datasets.extract."
_ALTERNATION = ("the order of the macro names in the alternation: each alternative must end at a non-letter "
                "(lookahead), so a shorter name can never match inside a longer one whatever the order")
_EMPTY_SPAN = "start >= end: re.search over an empty or reversed span finds nothing either way"
_ANSWERS_EXTRACT = "formulaforge.evaluation.answers.extract."
_PLACEHOLDER = ("the stand-in character for 'nothing there' only meets isalnum() and `in` tests, which a space "
                "and 'XX XX' fail alike")
_IN_LETTERS = "`c in '...XX'` differs only for c == 'X', which isalnum() already catches"
_OPENER = "text[i] == '}' holds whenever i is a key of the closer->opener map, and -1, 0 are never keys"
_PAIRS = "i in pairs (opening braces) implies text[i] == '{' and i < len(text)"
_PARSE = "formulaforge.evaluation.answers.parse."
_WHITELIST = ("defence in depth: the identifier whitelist admits only single letters (all in local_dict) and "
              "_FUNCS names, so the default globals are never consulted for a name")
_MV_DEFAULT = "math-verify's NormalizationConfig default for this field is the value written (or falsy like it)"
_MV_DEPRECATED = "equations= is deprecated in math-verify and ignored ('handled by the parser now')"
_MACROS = "formulaforge.sources.macros."
_COUNT = "the round's count is only compared with 0, and any change of a positive count stays non-zero"
_VERIFY = "formulaforge.evaluation.answers.verify."
EQUIVALENT: dict[str, str] = {
    # 15 digits (mutants 32, 34) are not equivalent: an error 1e-22 inside the bound lands outside it
    # (tests/test_answer_verify_units.py::test_decimal_error_is_computed_past_double_precision)
    _VERIFY + "x_check_candidate__mutmut_76": "the percent route's second reading (the value / 100) must not "
    "pass as a decimal: '' and 'XXXX' both fail the decimal pattern",
    _VERIFY + "x_check_candidate__mutmut_82": "only sympy_equal and exact_integer take the percent route, and "
    "neither check reads spec (only antiderivative does)",
    _VERIFY + "x__decimal_ok__mutmut_36": "30 or 31 significant digits of the error order differently only "
    "within ~1e-32 of the bound (an error of 1e-4 - 1e-36), far below any digit a decimal answer shows",
    _VERIFY + "x__decimal_ok__mutmut_38": "<= or < at the bound: the error is a binary Float and the bound a "
    "Rational of 10**-places, never exactly equal",
    _MACROS + "xǁMacroTableǁ_expand_round__mutmut_4": "text[None:i] is text[0:i]: pos None before the first "
    "expansion reads the same",
    _MACROS + "xǁMacroTableǁ_expand_round__mutmut_63": _COUNT,
    _MACROS + "xǁMacroTableǁ_expand_round__mutmut_64": _COUNT,
    _MACROS + "xǁMacroTableǁ_expand_round__mutmut_65": _COUNT,
    _MACROS + "x__parse_definition__mutmut_8": "a definer's call takes the generic \\newcommand path whatever "
    "name cmd gets, unless it is one of the special ones",
    _MACROS + "x__parse_definition__mutmut_9": "a definer's call takes the generic \\newcommand path whatever "
    "name cmd gets, unless it is one of the special ones",
    _MACROS + "x__parse_definition__mutmut_41": "the body's brace is searched after the macro name, never at 0",
    _MACROS + "x__parse_definition__mutmut_42": "the body's brace is searched after the macro name, never at 0",
    _MACROS + "x__parse_definition__mutmut_158": "_name_of strips one brace pair: '\\R' and '{\\R}' name the same",
    _MACROS + "x__parse_definition__mutmut_159": "_name_of refuses 'R' and '{R}' with the same name and reason",
    _MACROS + "x__parse_definition__mutmut_163": "_name_of strips one brace pair: '\\R' and '{\\R}' name the same",
    _MACROS + "x__escaped__mutmut_13": "start - 1 + k and start - 1 - k differ by 2k: the same parity",
    _MACROS + "x__escaped__mutmut_14": "start + 1 - k and start - 1 - k differ by 2: the same parity",
    _MACROS + "x__unsupported_body__mutmut_10": "the stripped body is only searched for unsupported commands, which "
    "'XXXX' cannot form",
    _MACROS + "x__in_inline_math__mutmut_13": "counting down keeps the parity: -n % 2 == n % 2",
    _MACROS + "x__arg__mutmut_6": "#0 never occurs: the parameter pattern reads #1 to #9",
    _MACROS + "x__read_args__mutmut_5": "a default needs an argument count in brackets first, so nargs is >= 1",
    _MACROS + "x__xparse_spec__mutmut_7": "'+' is matched by no token pattern, removed or not",
    _MACROS + "x__tidy__mutmut_47": "joining the pieces with 'XXXX' keeps every '$' and its escapes (a piece never "
    "ends in a lone backslash before a '$')",
    _PARSE + "x_parse_plain__mutmut_14": "every '__' is inside an identifier longer than one letter, refused anyway",
    _PARSE + "x_parse_plain__mutmut_21": "every '__' is inside an identifier longer than one letter, refused anyway",
    _PARSE + "x_parse_plain__mutmut_16": "an empty string reaches parse_expr, which fails on it: None either way",
    _PARSE + "x_parse_plain__mutmut_80": _WHITELIST,
    _PARSE + "x_parse_plain__mutmut_85": _WHITELIST,
    _PARSE + "x_parse_plain__mutmut_88": _WHITELIST,
    _PARSE + "x_parse_plain__mutmut_89": _WHITELIST,
    _PARSE + "x_parse_plain__mutmut_87": "parse_expr's evaluate defaults to True",
    _PARSE + "x_parse_answer__mutmut_6": "plain first for LaTeX too: parse_plain refuses every '\\' and '{' "
    "(looks_latex's signs), so the LaTeX parser decides either way",
    _PARSE + "x__power_after_group__mutmut_41": "j == len(s): startswith at j + 1 is False either way",
    _PARSE + "x_parse_latex__mutmut_6": _MV_DEFAULT,
    _PARSE + "x_parse_latex__mutmut_12": _MV_DEFAULT,
    _PARSE + "x_parse_latex__mutmut_11": _MV_DEFAULT,
    _PARSE + "x_parse_latex__mutmut_15": _MV_DEFAULT,
    _PARSE + "x_parse_latex__mutmut_10": _MV_DEPRECATED,
    _PARSE + "x_parse_latex__mutmut_16": _MV_DEPRECATED,
    _PARSE + "x_parse_latex__mutmut_23": _MV_DEPRECATED,
    _ANSWERS_EXTRACT + "x__top_level_rhs__mutmut_5": "last = -2 instead of -1 before any '=': only `last >= 0` reads it",
    _ANSWERS_EXTRACT + "x_prompt_numbers__mutmut_18": "lstrip('XX-XX') strips the set {X, -}: a number never starts "
    "with X",
    _ANSWERS_EXTRACT + "x__math_envs__mutmut_5": "i == n: no delimiter starts at the end, the pass only steps on",
    _ANSWERS_EXTRACT + "x__math_envs__mutmut_6": "matched = None instead of False: only its truth is read",
    _ANSWERS_EXTRACT + "x__math_envs__mutmut_26": "continue -> break on an escaped '$': '$' is the last delimiter "
    "tried, so both leave the loop",
    _ANSWERS_EXTRACT + "x_last_number__mutmut_15": "rstrip('XX,XX') strips the set {X, ,}: a digit run never ends in X",
    _ANSWERS_EXTRACT + "x_last_number__mutmut_104": "lstrip('XX-XX') strips the set {X, -}: a number never starts "
    "with X",
    _ANSWERS_EXTRACT + "x_continuation__mutmut_15": "find(m) >= 0 and rfind(m) >= 0 agree: both say whether m occurs",
    _ANSWERS_EXTRACT + "x_extract_answer__mutmut_95": "prompt or 'XXXX' is read only after bool(prompt) is true",
    _ANSWERS_EXTRACT + "x_extract_answer__mutmut_187": "the sentence pattern ends in |$, so re.match never returns None",
    _ANSWERS_EXTRACT + "x_last_number__mutmut_23": _PLACEHOLDER,
    _ANSWERS_EXTRACT + "x_last_number__mutmut_28": _PLACEHOLDER,
    _ANSWERS_EXTRACT + "x_last_number__mutmut_59": _IN_LETTERS,
    _ANSWERS_EXTRACT + "x_last_number__mutmut_61": _IN_LETTERS,
    _ANSWERS_EXTRACT + "x__command_around__mutmut_6": "o == start: the number starts with a digit, never a brace",
    _ANSWERS_EXTRACT + "x__command_around__mutmut_12": _OPENER,
    _ANSWERS_EXTRACT + "x__command_around__mutmut_14": _OPENER,
    _ANSWERS_EXTRACT + "x__command_around__mutmut_15": _OPENER,
    _ANSWERS_EXTRACT + "x__command_around__mutmut_36": _PAIRS,
    _ANSWERS_EXTRACT + "x__command_around__mutmut_39": "a '{' in the last position is never closed, so never in pairs",
    _EXTRACT + "x_unrendered_pattern__mutmut_3": _ALTERNATION,
    _EXTRACT + "x_unrendered_pattern__mutmut_6": _ALTERNATION,
    _EXTRACT + "x_unrendered_pattern__mutmut_7": _ALTERNATION,
    _EXTRACT + "x_unrendered_pattern__mutmut_15": _ALTERNATION,
    _EXTRACT + "x__has_text__mutmut_1": _EMPTY_SPAN,
    _EXTRACT + "x__has_text__mutmut_2": _EMPTY_SPAN,
    _EXTRACT + "x__context_bounds__mutmut_33": "b_end == prev_end: going on to an earlier break meets b_end < "
    "prev_end with no text in between, and the start is prev_end either way",
    _EXTRACT + "x__context_bounds__mutmut_68": "b_start == next_start: every later path ends the context at "
    "min(next_start, ...) = next_start, as stopping here does",
    _EXTRACT + "x_latex_triplets__mutmut_5": "scan(..., None) scans to the end of the text, and a loaded "
    "document's body_end is len(flat.text) (the flattener stops at \\end{document})",
    _EXTRACT + "x_latex_triplets__mutmut_8": "as mutmut_5: body_end is the end of the flattened text",
    _EXTRACT + "x_docstring_triplets__mutmut_49": "clean_formula reads env only to drop alignat's column count",
    _EXTRACT + "x_docstring_triplets__mutmut_50": "clean_formula reads env only to drop alignat's column count",
    _EXTRACT + "x_lift_text_math__mutmut_1": "without a backslash there is no text box to lift, without a $ no box "
    "splits: the early return only saves time",
    _EXTRACT + "x_clean_formula__mutmut_10": "the alignat pattern is anchored at ^: at most one match whatever count",
    _EXTRACT + "x_clean_formula__mutmut_12": "the alignat pattern is anchored at ^: at most one match whatever count",
    _EXTRACT + "x_clean_formula__mutmut_17": "expand's mode defaults to 'math'",
    _EXTRACT + "x_clean_context__mutmut_3": "_tidy only asks mode == 'math': any other value is text mode",
    _EXTRACT + "x_clean_context__mutmut_6": "_tidy only asks mode == 'math': any other value is text mode",
    _EXTRACT + "x_clean_context__mutmut_7": "_tidy only asks mode == 'math': any other value is text mode",
    _EXTRACT + "x_latex_triplets__mutmut_148": "d.end - 2 instead of - 1 for the last line: every closing delimiter "
    "($$, \\], \\end{...}) has at least two characters on its line",
    _LAYER + "xǁMSFTLayerǁ__init____mutmut_27": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁ__init____mutmut_37": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁadd_d_plugin__mutmut_7": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁadd_d_plugin__mutmut_17": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁadd_q_plugin__mutmut_12": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁadd_q_plugin__mutmut_22": _NO_BIAS,
    _LAYER + "xǁMSFTLayerǁ_middle__mutmut_1": _PAIRED,
    _LAYER + "xǁMSFTLayerǁ_middle__mutmut_7": _PAIRED,
    _LAYER + "xǁMSFTLayerǁplugin_matrix__mutmut_1": _PAIRED,
    _LAYER + "xǁMSFTLayerǁplugin_matrix__mutmut_5": _PAIRED,
    _LAYER + "xǁMSFTLayerǁmiddle_matrix__mutmut_8": _PAIRED,
    _LAYER + "xǁMSFTLayerǁmiddle_matrix__mutmut_13": _PAIRED,
    _LAYER + "xǁMSFTLayerǁ_middle__mutmut_31": "the cost model's no-Q once-cost 0 -> 1 multiply-add: moves the "
    "break-even only where both sides differ by exactly one, and both paths compute the same result",
    _LAYER + "xǁMSFTLayerǁ_middle__mutmut_5": "tokens = numel / r1 instead of //: the last dimension is r1, so the "
    "division is exact and the comparison the same",
    _SPLITS + "x_fill_empty_splits__mutmut_28": "continue -> break when fewer than 2 train documents: train only "
    "shrinks, so the next target is skipped either way",
    _SPLITS + "x_fill_empty_splits__mutmut_29": "current[...] = None instead of the target: validation is filled "
    "before test, so the value is never read again",
    _SPLITS + "x_plan_subsets__mutmut_28": "lo when pos >= n: take is 0 then and lo is overwritten",
    _SPLITS + "x_plan_subsets__mutmut_29": "lo when pos >= n: take is 0 then and lo is overwritten",
    _SPLITS + "x_plan_subsets__mutmut_30": "lo when pos >= n: take is 0 then and lo is overwritten",
    _SPLITS + "x_plan_subsets__mutmut_38": _SENTINEL,
    _SPLITS + "x_plan_subsets__mutmut_39": _SENTINEL,
    _SPLITS + "x_plan_subsets__mutmut_43": "an empty subset's range [128, 128) is as empty as [2**64, 2**64)",
    _SPLITS + "x_plan_subsets__mutmut_44": _SENTINEL,
    _SPLITS + "x_plan_subsets__mutmut_45": _SENTINEL,
    _CHAIN + "x__is_compound__mutmut_7": _SEQ,
    _CHAIN + "x__is_compound__mutmut_8": _SEQ,
    _CHAIN + "x__heights__mutmut_23": "compound nodes adding 2 instead of 1 doubles every height: the order "
    "between siblings and the h == 0 test are unchanged",
    _CHAIN + "x__heights__mutmut_25": "leaf nodes never have children (the parser builds them empty), so their "
    "child height is 0 either way",
    _CHAIN + "x__next_operand__mutmut_19": "tie-break rank 2 instead of 1 for non-limits: still above the "
    "limits' 0, the order is the same",
    _CHAIN + "x_chain_from_tree__mutmut_25": _IDENTITY,
    _CHAIN + "x_chain_from_tree__mutmut_27": _IDENTITY,
    _CHAIN + "x_chain_from_tree__mutmut_40": "the step is only read for i in range(keep), empty when keep is 0",
    _MERGE + "x_save_merged__mutmut_31": _SAFETENSORS,
    _MERGE + "x_save_merged__mutmut_33": _SAFETENSORS,
    _MERGE + "x_save_merged__mutmut_34": _SAFETENSORS,
}
"""Mutants that cannot change behaviour, by mutmut name, with the reason (excluded from the score).
mutmut numbers mutants by position in a function: re-check this list after editing one of them."""


def _scratch(name: str, root: Path) -> Path:
    """A fresh copy of src/, tests/ and pyproject.toml in a folder this script owns."""
    work = root / name
    marker = work / ".formulaforge-mutation"
    if work.exists():
        if not marker.is_file():
            raise SystemExit(f"error: {work} exists and was not made by bench/mutation.py; remove it or pick --root")
        for sub in ("src", "tests"):
            shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by bench/mutation.py\n")
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    # the scratch copy's conftest also gets the fork-server hook (see bench/mutmut_forkserver.py)
    hook = (REPO / "bench" / "mutmut_forkserver.py").read_text()
    with (work / "tests" / "conftest.py").open("a") as fh:
        fh.write("\n\n# --- added by bench/mutation.py for mutation runs only\n" + hook.split('"""', 2)[2])
    return work


def _config(target: Target) -> str:
    tests = [t for t in target.tests if (REPO / t).is_file()]
    deselect = [arg for node in target.deselect for arg in ("--deselect", node)]
    lines = [
        "[tool.mutmut]",
        'source_paths = ["src/"]',
        f'only_mutate = ["{PKG}/{target.path}"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-q', '-x', *deselect])}",
        "use_git_change_detection = false",
        # CPU limit per mutant = (estimated test time + constant) x multiplier x 2. mutmut's default
        # (x15, + 1 s) spent 4 minutes of a core on each looping mutant of the answer extractor;
        # x3 alone timed out survivors, whose module fixtures (the answer case table: ~5 s) are
        # not in the estimate. x3 with 15 s: a looping mutant costs 1.5-2.5 minutes, no survivor
        # comes near its limit.
        "timeout_multiplier = 3.0",
        "timeout_constant = 15.0",
    ]
    return "\n".join(lines) + "\n"


def run_module(name: str, root: Path, max_children: int) -> dict:
    target = TARGETS[name]
    work = _scratch(name, root)
    text = (REPO / "pyproject.toml").read_text()
    text = re.sub(r"\n\[tool\.mutmut\][^\[]*", "\n", text)
    (work / "pyproject.toml").write_text(text + "\n" + _config(target))
    # One OpenMP thread: mutmut forks a warmed test process per mutant, and a child forked after
    # torch started its OpenMP pool hangs in its first parallel region (msft_merge's children sat idle).
    env = dict(os.environ, PYTHONPATH=str(work / "src"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    mutmut = [sys.executable, "-m", "mutmut"]
    t0, c0 = time.perf_counter(), _children_cpu()
    # mutmut names a mutant module.x_function__mutmut_N; a pattern per function restricts the run
    dotted = PKG.split("/", 1)[1] + "." + target.path.removesuffix(".py").replace("/", ".")
    patterns = [f"{dotted}.{fn}__mutmut_*" for fn in target.only]
    proc = subprocess.run([*mutmut, "run", "--max-children", str(max_children), *patterns], cwd=work, env=env,
                          check=False,
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    row = score_module(name, root)
    return {**row, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "rc": proc.returncode,
            "log_tail": (proc.stdout + proc.stderr)[-1500:]}


def score_module(name: str, root: Path) -> dict:
    """The share of killed mutants from a finished run's results, with today's EQUIVALENT list
    (``--rescore``: an equivalent found after a run is counted without running it again)."""
    target = TARGETS[name]
    work = root / name
    env = dict(os.environ, PYTHONPATH=str(work / "src"))
    res = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work, env=env,
                         check=False, capture_output=True, text=True)
    counts: dict[str, int] = {}
    survivors = []
    for line in res.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if not m:
            continue
        key, status = m.group(1), m.group(2).strip()
        if key in EQUIVALENT:
            status = "equivalent"
        counts[status] = counts.get(status, 0) + 1
        if status == "survived":
            survivors.append(key)
    # "not checked": outside `only` (reported in the table as other, never scored)
    scored = sum(v for k, v in counts.items() if k not in ("equivalent", "skipped", "not checked"))
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    return {"module": name, "path": target.path, "counts": counts, "killed_share": killed / scored if scored else None,
            "survivors": survivors, "wall_s": None, "cpu_s": None, "rc": res.returncode, "log_tail": ""}


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", choices=sorted(TARGETS), help="module(s) to mutate (default: all)")
    ap.add_argument("--root", type=Path, default=REPO / ".mutation", help="scratch folder (created, reused)")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rescore", action="store_true",
                    help="score the finished runs under --root again (today's EQUIVALENT list), run nothing")
    args = ap.parse_args()
    if args.list:
        for k, t in TARGETS.items():
            print(f"{k:18s} {t.path:38s} {', '.join(t.tests)}")
        return
    rows = []
    for name in args.module or list(TARGETS):
        row = score_module(name, args.root) if args.rescore else run_module(name, args.root, args.max_children)
        rows.append(row)
        share = "n/a" if row["killed_share"] is None else f"{100 * row['killed_share']:.1f}%"
        print(f"{name:18s} killed {share:>6s}  {row['counts']}  wall {row['wall_s']}s cpu {row['cpu_s']}s", flush=True)
        if row["rc"] != 0:
            print(row["log_tail"], file=sys.stderr)
    print("\n| module | file | mutants | killed | survived | other | killed share | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["counts"]
        total = sum(c.values())
        other = total - c.get("killed", 0) - c.get("timeout", 0) - c.get("survived", 0)
        share = "n/a" if r["killed_share"] is None else f"{100 * r['killed_share']:.1f}%"
        print(f"| {r['module']} | `{r['path']}` | {total} | {c.get('killed', 0) + c.get('timeout', 0)} | "
              f"{c.get('survived', 0)} | {other} | {share} | {r['wall_s']} | {r['cpu_s']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
