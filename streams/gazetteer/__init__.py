"""Places and actors (countries, capitals, regions, organisations, people) named in articles.

The names ship as YAML next to this file, in English plus Russian, Ukrainian, German, French, Polish
and Spanish (with case endings); see ``aliases`` for the alias syntax and ``matcher`` for matching.
"""

from streams.gazetteer.loader import DATA_DIR, Entry, GazetteerError, Kind, load_entries
from streams.gazetteer.matcher import Gazetteer, Mention, default_gazetteer, find_places_and_entities

__all__ = [
    "DATA_DIR",
    "Entry",
    "Gazetteer",
    "GazetteerError",
    "Kind",
    "Mention",
    "default_gazetteer",
    "find_places_and_entities",
    "load_entries",
]
