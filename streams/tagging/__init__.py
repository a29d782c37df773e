"""Explainable, multilingual rule-based tagging of news articles (rule format: streams/tagging/rules.py).

    tagger = Tagger.default()
    result = tagger.tag(title, text)          # -> TaggingResult(lang, tags, scores, evidence, decisions)
"""

from streams.tagging.engine import Tagger
from streams.tagging.model import RuleScore, TagDecision, TaggingResult, TagHit
from streams.tagging.rules import RulesError, load_rules

__all__ = ["RuleScore", "RulesError", "TagDecision", "TagHit", "Tagger", "TaggingResult", "load_rules"]
