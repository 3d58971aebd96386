"""Answer checking for verified synthetic math: extraction, verification, accuracy."""

from formulaforge.evaluation.answers.checker import AnswerChecker, CheckerConfig
from formulaforge.evaluation.answers.extract import Extraction, extract_answer
from formulaforge.evaluation.answers.stats import summarize, wilson_interval

__all__ = ["AnswerChecker", "CheckerConfig", "Extraction", "extract_answer", "summarize", "wilson_interval"]
