"""Explainable, multilingual rule-based tagging of news articles (rule format: streams/tagging/rules.py).

Usage: ``Tagger.default().tag(title, text)`` returns a `TaggingResult` (lang, tags, scores, evidence,
decisions); ``newswatch tag`` and ``newswatch rules test`` (streams/tag_command.py) wrap it.
"""

from streams.tagging.engine import Tagger
from streams.tagging.model import RuleScore, TagDecision, TaggingResult, TagHit
from streams.tagging.rules import RulesError, load_rules

__all__ = ["RuleScore", "RulesError", "TagDecision", "TagHit", "Tagger", "TaggingResult", "load_rules"]
