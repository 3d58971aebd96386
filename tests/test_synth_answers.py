"""Answer checking: extraction from raw model text, verification, timeouts, statistics, CLI.

The core promise: a well-formed answer is never misread. Every generated gold answer is
written in several styles a model might use and must be graded correct; perturbed
answers must be graded wrong; the prompt's own numbers must never count as an answer.
"""

from __future__ import annotations

import json
import time

import pytest
import sympy
from typer.testing import CliRunner

from formulaforge.cli import app
from formulaforge.datasets.synthetic.pipeline import generate_records
from formulaforge.evaluation.answers import AnswerChecker, CheckerConfig, extract_answer, summarize, wilson_interval
from formulaforge.evaluation.answers.verify import check_item

x = sympy.Symbol("x")
f = sympy.Function("f")


def spec(verifier, answer, problem=sympy.Integer(0), variable="x"):
    return {"verifier": verifier, "answer_srepr": sympy.srepr(answer), "problem_srepr": sympy.srepr(problem),
            "variable": variable}


# ------------------------------------------------------------------ extraction
ADD_PROMPT = "What is 428 + 982?"


@pytest.mark.parametrize("output,expected,method", [
    (r"The sum is \boxed{1410}.", "1410", "boxed"),
    (r"\boxed{\frac{x^{3}}{3} + \frac{1}{2}}", r"\frac{x^{3}}{3} + \frac{1}{2}", "boxed"),
    (r"first \boxed{12} then corrected: \boxed{1410}", "1410", "boxed"),
    (r"\fbox{1410}", "1410", "boxed"),
    ("So the final answer is $1410$.", "1410", "phrase"),
    ("Final Answer: 1,410", "1,410", "phrase"),
    ("**Answer:** 1410", "1410", "phrase"),
    ("The answer is: \\( 2\\sqrt{3} \\). Hope this helps!", "2\\sqrt{3}", "phrase"),
    ("Let's add.\n428 + 982 = 1410", "1410", "equals"),
    ("We get $428 + 982 = 1410$ and we are done", "428 + 982 = 1410", "math_env"),
    ("<|im_start|>assistant\nSure! Let me help.\n1410<|im_end|>", "1410", "final_line"),
    ("What is 428 + 982?\n1410", "1410", "final_line"),  # the prompt echoed first
    ("Adding 428 and 982 carefully gives 1410", "1410", "last_number"),
])
def test_extraction_styles(output, expected, method):
    got = extract_answer(output, ADD_PROMPT)
    assert (got.text, got.method) == (expected, method)


def test_truncated_power_is_not_read_as_its_base():
    out = "The derivative of f(x) = x**2 + x is f'(x) = 2x.  Now, the derivative of f(x) = x**"
    got = extract_answer(out, "Differentiate f(x) = x**2 + x with respect to x.")
    assert got.text != "x"
    assert extract_answer("**The answer is 1410**", ADD_PROMPT).text == "1410"


@pytest.mark.parametrize("output", [
    "To add 428 and 982 we line up the digits.",  # only prompt numbers: not an answer
    "I am not sure how to solve 428 + 982.",
    "",
    "<|im_start|>assistant\n<|im_end|> 1410",  # text after the end marker is not generated answer
    "The answer is the sum of the two numbers.",
])
def test_no_answer_is_reported_not_invented(output):
    assert extract_answer(output, ADD_PROMPT).text is None


def test_paper_fig6_outputs_are_not_graded_by_their_first_integer():
    """The cited course project's outputs: a regex took the first integer; we take the last
    expression and grade it, so none of these counts as right."""
    outputs = ["+ 25881 - 1406 - 922 - 421 - 2850 - 980 - 2198 - 1072 - 22", "60 - 1207800 - 12390000000000000000",
               "- 1721 - 1302"]
    for out in outputs:
        ext = extract_answer(out, ADD_PROMPT)
        verdict = check_item(ext.text, spec("exact_integer", sympy.Integer(1410)), 5, 0)
        assert verdict["status"] != "correct"


def test_extraction_is_linear_on_hostile_text():
    hostile = ["\\boxed{" * 30000, "$" * 60001 + "\\(" * 30000, "answer is " * 20000, "{" * 100000 + "1410"]
    start = time.perf_counter()
    for text in hostile:
        extract_answer(text, ADD_PROMPT)
    assert time.perf_counter() - start < 5


# ------------------------------------------------------------------ verification
@pytest.mark.parametrize("candidate,sp,status", [
    ("1410", spec("exact_integer", sympy.Integer(1410)), "correct"),
    ("1,410", spec("exact_integer", sympy.Integer(1410)), "correct"),
    ("1410.0", spec("exact_integer", sympy.Integer(1410)), "correct"),
    ("1411", spec("exact_integer", sympy.Integer(1410)), "wrong"),
    ("1410.5", spec("exact_integer", sympy.Integer(1410)), "wrong"),
    ("x", spec("exact_integer", sympy.Integer(1410)), "wrong"),
    (r"1410 \text{ apples}", spec("exact_integer", sympy.Integer(1410)), "correct"),
    (r"\text{1410}", spec("exact_integer", sympy.Integer(1410)), "correct"),
    (r"2\sqrt{3} \approx 3.4641", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),
    (r"F(x) = \frac{x^3}{3} + C", spec("antiderivative", x**3 / 3, x**2), "correct"),
    (r"2\sqrt{3}", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),
    (r"\sqrt{12}", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),
    ("2*sqrt(3)", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),
    ("3.4641", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),
    ("3.464", spec("sympy_equal", 2 * sympy.sqrt(3)), "correct"),  # truncated
    ("3.46", spec("sympy_equal", 2 * sympy.sqrt(3)), "wrong"),  # too few digits to tell
    ("3.4741", spec("sympy_equal", 2 * sympy.sqrt(3)), "wrong"),
    (r"3\sqrt{2}", spec("sympy_equal", 2 * sympy.sqrt(3)), "wrong"),
    (r"\frac{3}{4}", spec("sympy_equal", sympy.Rational(3, 4)), "correct"),
    ("3/4", spec("sympy_equal", sympy.Rational(3, 4)), "correct"),
    ("0.75", spec("sympy_equal", sympy.Rational(3, 4)), "correct"),
    (r"\frac{4}{3}", spec("sympy_equal", sympy.Rational(3, 4)), "wrong"),
    (r"2 \sqrt{x}(x+1)", spec("sympy_equal", 2 * sympy.sqrt(x) * (x + 1)), "correct"),
    (r"\frac{1}{\cos^2 x}", spec("derivative", sympy.cos(x) ** -2), "correct"),
    (r"\sec^{2}(x)", spec("derivative", sympy.cos(x) ** -2), "correct"),
    (r"1 + \tan^2 x", spec("derivative", sympy.cos(x) ** -2), "correct"),
    ("f'(x) = 2x cos(x^2)", spec("derivative", 2 * x * sympy.cos(x**2)), "correct"),
    (r"2x\cos(x^{2})", spec("derivative", 2 * x * sympy.cos(x**2)), "correct"),
    (r"2\cos(x^{2})", spec("derivative", 2 * x * sympy.cos(x**2)), "wrong"),
    (r"\frac{1}{x \left(\log{\left(x \right)}^{2} + 1\right)}", spec("derivative", 1 / (x * (sympy.log(x) ** 2 + 1))),
     "correct"),
    (r"-\frac{1}{2}\ln(\cos 2x) + C", spec("antiderivative", -sympy.log(sympy.cos(2 * x)) / 2, sympy.tan(2 * x)),
     "correct"),
    (r"\frac{1}{2}\ln|\sec 2x|", spec("antiderivative", -sympy.log(sympy.cos(2 * x)) / 2, sympy.tan(2 * x)),
     "correct"),
    (r"\frac{1}{2}\log(\cos 2x)", spec("antiderivative", -sympy.log(sympy.cos(2 * x)) / 2, sympy.tan(2 * x)),
     "wrong"),
    (r"\frac{\sin^2 x}{2}", spec("antiderivative", -sympy.cos(2 * x) / 4, sympy.sin(x) * sympy.cos(x)), "correct"),
    (r"\frac{x^3}{3} + 7", spec("antiderivative", x**3 / 3, x**2), "correct"),
    (r"x^3", spec("antiderivative", x**3 / 3, x**2), "wrong"),
    (r"\frac{d}{dx} f(x) = 2x", spec("equation", sympy.Eq(sympy.Derivative(f(x), x), 2 * x)), "correct"),
    (r"2x = f'(x)", spec("equation", sympy.Eq(sympy.Derivative(f(x), x), 2 * x)), "correct"),
    ("Derivative(f(x), x) = 2*x", spec("equation", sympy.Eq(sympy.Derivative(f(x), x), 2 * x)), "correct"),
    (r"2x", spec("equation", sympy.Eq(sympy.Derivative(f(x), x), 2 * x)), "correct"),
    (r"\frac{d}{dx} f(x) = 3x", spec("equation", sympy.Eq(sympy.Derivative(f(x), x), 2 * x)), "wrong"),
    (r"4 t + 4 \frac{d}{d t} g(t) = 4t + 1", spec("equation", sympy.Eq(4 * sympy.Symbol("t") + 4 * sympy.Derivative(
        sympy.Function("g")(sympy.Symbol("t")), sympy.Symbol("t")), 4 * sympy.Symbol("t") + 1), variable="t"), "correct"),
])
def test_verification_corpus(candidate, sp, status):
    assert check_item(candidate, sp, 5, 0)["status"] == status


def test_unparsable_and_missing_answers():
    assert check_item(None, spec("exact_integer", sympy.Integer(3)), 5, 0)["status"] == "no_answer"
    assert check_item("__import__('os').system('true')", spec("exact_integer", sympy.Integer(3)), 5,
                      0)["status"] == "unparsable"


@pytest.fixture(scope="module")
def corpus():
    """Generated records of every task (small), the gold answers to be written in many styles."""
    rows = []
    for task, n in (("addition", 8), ("roots", 10), ("derivatives", 8), ("integrals", 8), ("derivations", 10)):
        rows += [r.to_dict() for r in generate_records(task, n, seed=21).records]
    return rows


STYLES = [
    lambda r: f"Let me work it out step by step.\nThe result is \\boxed{{{r['answer_latex']}}}.",
    lambda r: f"So the final answer is ${r['answer_latex']}$.",
    lambda r: f"Answer: {r['answer']}",
    lambda r: f"<|im_start|>assistant\nSure! {r['problem']}\nWe compute it.\n\\[ {r['answer_latex']} \\]<|im_end|>",
    lambda r: f"{r['problem']}\nThe answer is \\(\\displaystyle {r['answer_latex']}\\).",
]


def test_checker_never_misreads_a_well_formed_answer(corpus):
    records = {r["id"]: r for r in corpus}
    preds = [{"id": r["id"], "output": style(r)} for r in corpus for style in STYLES]
    with AnswerChecker(CheckerConfig(workers=1, batch_size=32)) as checker:
        report = checker.check(records, preds)
    bad = [row for row in report["rows"] if row["status"] != "correct"]
    assert not bad, bad[:5]
    assert report["summary"]["accuracy"] == 1.0
    assert set(report["summary"]["per_task"]) == {"addition", "roots", "derivatives", "integrals", "derivations"}


def _wrong(r):
    if r["verifier"] == "exact_integer":
        return str(int(r["answer"]) + 1)
    if r["verifier"] == "equation":
        return f"{r['answer']} + 1"
    return f"2*({r['answer']}) + x" if r["verifier"] != "sympy_equal" or "x" in r["answer"] else f"({r['answer']}) + 1"


def test_checker_rejects_wrong_answers(corpus):
    records = {r["id"]: r for r in corpus}
    preds = [{"id": r["id"], "output": f"The answer is $\\boxed{{{_wrong(r)}}}$"} for r in corpus]
    with AnswerChecker() as checker:
        report = checker.check(records, preds)
    assert all(row["status"] == "wrong" for row in report["rows"]), [
        row for row in report["rows"] if row["status"] != "wrong"][:3]


def test_pathological_outputs_time_out_without_hanging_and_neighbours_survive():
    gold = spec("exact_integer", sympy.Integer(1410))
    records = {"a": {"id": "a", "task": "addition", "difficulty": 3, "answer": "1410", **gold},
               "b": {"id": "b", "task": "addition", "difficulty": 3, "answer": "1410", **gold}}
    preds = [{"id": "a", "output": r"\boxed{10^{10^{10^{10^{10}}}}}"},  # huge integer power: C-level work
             {"id": "b", "output": r"\boxed{1410}"},
             {"id": "a", "output": "\\boxed{9**9**9**9}"}]
    start = time.perf_counter()
    with AnswerChecker(CheckerConfig(budget_s=1.0, hard_margin_s=1.0, batch_size=8)) as checker:
        report = checker.check(records, preds)
    elapsed = time.perf_counter() - start
    statuses = [row["status"] for row in report["rows"]]
    assert statuses[1] == "correct"
    assert statuses[0] in ("timeout", "unparsable", "wrong") and statuses[2] in ("timeout", "unparsable", "wrong")
    assert elapsed < 90  # unbounded without the kill: 10^(10^(10^10)) never finishes


# ------------------------------------------------------------------ statistics
def test_wilson_interval_reference_values():
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summary_per_task_and_difficulty():
    rows = ([{"task": "a", "difficulty": 1, "status": "correct"}] * 3 + [{"task": "a", "difficulty": 2,
            "status": "no_answer"}] + [{"task": "b", "difficulty": 1, "status": "wrong"}])
    s = summarize(rows)
    assert s["n"] == 5 and s["accuracy"] == 0.6 and s["no_answer"] == 0.2
    assert s["per_task"]["a"]["accuracy"] == 0.75
    assert s["per_task"]["a"]["per_difficulty"]["2"]["no_answer"] == 1.0
    assert s["per_task"]["b"]["accuracy_ci95"][0] == 0.0


# ------------------------------------------------------------------ CLI
def test_cli_generate_and_check(tmp_path):
    runner = CliRunner()
    out = tmp_path / "add"
    res = runner.invoke(app, ["synth", "generate", "addition", "--n", "30", "--out", str(out), "--seed", "4"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(manifest["splits"].values()) == manifest["after_dedup"]
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join(json.dumps({"id": r["id"], "output": f"\\boxed{{{r['answer']}}}" if i % 2 else "hmm"})
                               for i, r in enumerate(rows)))
    report_path = tmp_path / "report.json"
    res = runner.invoke(app, ["synth", "check", str(out / "train.jsonl"), "--predictions", str(preds),
                              "--out", str(report_path)])
    assert res.exit_code == 0, res.output
    report = json.loads(report_path.read_text())
    n = len(rows)
    assert report["summary"]["correct"] == n // 2
    assert abs(report["summary"]["no_answer"] - (n - n // 2) / n) < 1e-9
    assert "addition" in res.output and len(report["rows"]) == n


def test_cli_bad_input_is_one_clear_error(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["synth", "generate", "nonsense", "--n", "3", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown task" in res.output
    recs = tmp_path / "r.jsonl"
    recs.write_text(json.dumps({"id": "a", "verifier": "exact_integer", "answer_srepr": "Integer(1)"}) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "zzz", "output": "1"}) + "\n")
    res = runner.invoke(app, ["synth", "check", str(recs), "--predictions", str(preds)])
    assert res.exit_code == 2 and "not in the records" in res.output


# ------------------------------------------------------------------ property: integers in any style
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

INT_STYLES = [
    "The answer is {a}.", "\\boxed{{{a}}}", "Final answer: ${a}$", "{p}\nSo {x} + {y} = {a}", "Sure!\n\n{a}",
    "<|im_start|>assistant\nLet me add them: {x} plus {y}.\nResult: $$ {a} $$<|im_end|>",
    "We get **{a}**", "{x} + {y} = \\boxed{{{a}}} is the sum",
]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.sampled_from(INT_STYLES))
@example(0, 0, "We get **{a}**")  # found by hypothesis: the answer equals a prompt number
@example(7, 0, "Sure!\n\n{a}")
def test_integer_answers_in_any_style_are_extracted(x, y, style):
    prompt = f"What is {x} + {y}?"
    out = style.format(a=x + y, x=x, y=y, p=prompt)
    got = extract_answer(out, prompt).text
    assert got is not None and got.replace(",", "").split("=")[-1].strip().strip("*") == str(x + y)


@pytest.mark.parametrize("candidate,status", [
    ("22288 + 2", "wrong"),  # the question restated (a real SmolLM2 output: "22288 + 2 = 2228 = 22288 + 2")
    ("22280 + 10", "wrong"),
    (r"22289 \cdot 1 + 1", "wrong"),
    ("22290", "correct"),
    ("22,290", "correct"),
    ("22290.0", "correct"),
    (r"\boxed{22290}", "correct"),
])
def test_exact_integer_needs_the_evaluated_number(candidate, status):
    got = check_item(candidate, spec("exact_integer", sympy.Integer(22290)), 5.0, 0)
    assert got["status"] == status, got


def test_restated_sum_is_not_an_answer_end_to_end():
    rec = {"id": "a1", "task": "addition", "problem": "What is 22288 + 2?", "difficulty": 5,
           "verifier": "exact_integer", "answer_srepr": "Integer(22290)", "problem_srepr": "Integer(0)", "variable": ""}
    with AnswerChecker() as checker:
        rows = checker.check({"a1": rec}, [{"id": "a1", "output": "22288 + 2 = 2228 = 22288 + 2"}])["rows"]
    assert rows[0]["status"] == "wrong"
