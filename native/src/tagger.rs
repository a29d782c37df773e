//! The tagger's rule evaluation: the compiled twin of `streams.tagging.engine`'s pure-Python path
//! (`_Document`, `_add_hits`, `sentence_starts`, the condition closures of `conditions.py`,
//! `_rule_matches`, `_decide` and `_evidence`).
//!
//! It takes the term matcher's verified hits (in folded-text coordinates) and returns, per tag, the
//! unrounded score, the rules that fired, the vetoes, whether the requirement held and the evidence
//! spans. Python rounds (`round(x, 4)`), maps the spans back to the original text and builds the
//! result objects, so both paths give identical results: every float is added in the same order as
//! in Python, and every list keeps Python's order. `tests/unit/test_tagging_native.py` compares them.

use std::rc::Rc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::{CharRanges, TermMatcher};

/// In `TagEngine::folds`: the character folds to several, listed in `TagEngine::multiple`.
const MULTIPLE: u32 = u32::MAX - 1;

const TITLE: u8 = 0;
const TEXT: u8 = 1;

/// A concept bitmask (`_mask` in engine.py); the Python side uses this engine only up to 128 concepts.
type Mask = u128;
/// The hits (indexes into the article's hit list) that make a condition hold, or None when it does not.
type Support = Option<Rc<Vec<u32>>>;

struct Entry {
    concept: u32,
    term: u32, // the term's text, interned: what "distinct terms" and evidence are about
    lang: u32, // the language the term was listed under, interned
    weight: f64,
    article_language_only: bool,
}

enum Node {
    Ref(u32),
    All(Vec<usize>),
    Any(Vec<usize>),
    NoneOf(Vec<usize>),
    Near(Vec<usize>, Option<i64>), // None: within the sentence
    Weighted(Vec<u32>, f64),
}

#[derive(Clone, Copy, PartialEq)]
enum ScopeKind {
    Sentence,
    Title,
    Document,
}

struct RuleSpec {
    scope: ScopeKind,
    weight: f64,
    max_count: usize,
    node: usize,
    necessary: Vec<Mask>,
}

struct TagSpec {
    threshold: f64,
    title_factor: f64,
    rules: Vec<RuleSpec>,
    vetoes: Vec<RuleSpec>,
    require: Option<usize>,
}

#[derive(Clone, Copy)]
struct Hit {
    entry: u32,
    field: u8,
    start: u32,
    end: u32,
    sentence: u32,
    word: i64,
    last_word: i64,
}

/// A field folded in Rust: `normalize.Normalized`, in characters.
struct Folded {
    original: Vec<char>,
    text: Vec<char>,
    offsets: Option<Vec<usize>>, // folded index -> original index; None: the same
}

impl Folded {
    /// `Normalized.original_span`: a folded span's span in the original.
    fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let Some(offsets) = &self.offsets else {
            return (start, end);
        };
        if start >= end {
            return (start, end);
        }
        let last = offsets[end - 1];
        let following = offsets.get(end).copied().unwrap_or(self.original.len());
        (
            offsets[start],
            if following > last {
                following
            } else {
                last + 1
            },
        )
    }
}

/// One scope (a sentence, the title, or the whole document): concept -> hits, and the concepts' mask.
struct Scope {
    field: u8,
    by_concept: Vec<Option<Rc<Vec<u32>>>>,
    mask: Mask,
}

impl Scope {
    fn new(field: u8, concepts: usize) -> Self {
        Scope {
            field,
            by_concept: vec![None; concepts],
            mask: 0,
        }
    }

    fn add(&mut self, concept: u32, hit: u32) {
        let slot = &mut self.by_concept[concept as usize];
        match slot {
            Some(hits) => Rc::get_mut(hits).expect("not shared while built").push(hit),
            None => *slot = Some(Rc::new(vec![hit])),
        }
        self.mask |= 1 << concept;
    }

    fn get(&self, concept: u32) -> Option<&Rc<Vec<u32>>> {
        self.by_concept.get(concept as usize)?.as_ref()
    }
}

/// One article's hits, grouped the ways the rules look at them, with a memo per scope shared by all tags.
struct Document {
    hits: Vec<Hit>,
    units: Vec<Scope>, // the non-empty sentences, title first, in order
    all: Scope,
    empty: Scope,
    title: Option<usize>, // the title's unit
    lang: u32,
    memos: Vec<Vec<Option<Support>>>, // per unit, then the whole document's
}

/// (rule index, unrounded total, matches)
type RuleScoreOut = (usize, f64, usize);
/// (entry index of the term shown, field 0 title 1 text, start, end, unrounded weight): folded coordinates
type EvidenceOut = (u32, u8, u32, u32, f64);
/// (unrounded score, rules, vetoes, requirement met, evidence or None when the tag cannot apply)
type DecisionOut = (
    f64,
    Vec<RuleScoreOut>,
    Vec<usize>,
    bool,
    Option<Vec<EvidenceOut>>,
);

/// (kind: 0 ref 1 all 2 any 3 not 4 near 5 weighted, concept, parts, within (-1: sentence), concepts, threshold)
type NodeSpec = (u8, u32, Vec<usize>, i64, Vec<u32>, f64);
/// (scope: 0 sentence 1 title 2 document, weight, max_count, node, necessary masks)
type RuleSpecIn = (u8, f64, usize, usize, Vec<Mask>);
/// (threshold, title factor, rules, vetoes, require node or None)
type TagSpecIn = (f64, f64, Vec<RuleSpecIn>, Vec<RuleSpecIn>, Option<usize>);
/// (concept, term id, lang id, weight, article language only)
type EntrySpec = (u32, u32, u32, f64, bool);

/// A field's verified hits: (entries, start, end) in folded-text coordinates.
type FieldHits = Vec<(Vec<u32>, usize, usize)>;

#[pyclass(module = "newswatch_native", frozen)]
pub struct TagEngine {
    matcher: Py<TermMatcher>,
    /// Per BMP code point, what it folds to when the text can be folded character by character
    /// (`streams.tagging.normalize.separable_folds`): one character (u32::MAX: not such a character;
    /// MULTIPLE: see `multiple`), or several ("ß" -> "ss") in `multiple`.
    folds: Vec<u32>,
    multiple: FxHashMap<char, Vec<char>>,
    entries: Vec<Entry>,
    terms: Vec<String>, // the interned term texts, as shown in evidence
    langs: FxHashMap<String, u32>,
    concepts: usize,
    nodes: Vec<Node>,
    tags: Vec<TagSpec>,
    scoring_needs: Vec<Vec<Mask>>,
    space: CharRanges,
    abbreviations: FxHashSet<Vec<char>>,
}

fn has_each(necessary: &[Mask], mask: Mask) -> bool {
    necessary.iter().all(|&m| m & mask != 0)
}

fn rule_spec(spec: RuleSpecIn, nodes: usize) -> PyResult<RuleSpec> {
    let (scope, weight, max_count, node, necessary) = spec;
    let scope = match scope {
        0 => ScopeKind::Sentence,
        1 => ScopeKind::Title,
        2 => ScopeKind::Document,
        other => return Err(PyValueError::new_err(format!("unknown scope code {other}"))),
    };
    if node >= nodes || max_count == 0 {
        return Err(PyValueError::new_err(
            "a rule needs a known node and max_count >= 1",
        ));
    }
    Ok(RuleSpec {
        scope,
        weight,
        max_count,
        node,
        necessary,
    })
}

#[pymethods]
impl TagEngine {
    /// `matcher`: the compiled term matcher; `folds`: `separable_folds()` ("": not separable);
    /// `entries`: per matcher entry (concept, term id, lang id, weight, article language only);
    /// `terms`: the interned term texts;
    /// `langs`: the interned language codes; `nodes`: the condition DAG, parts before the nodes using
    /// them; `tags`: the rules; `space_ranges`: this Python's `str.isspace` code point ranges;
    /// `abbreviations`: the folded abbreviations after which a full stop does not end a sentence.
    #[new]
    #[pyo3(signature = (matcher, folds, entries, terms, langs, nodes, tags, space_ranges, abbreviations))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        matcher: Py<TermMatcher>,
        folds: Vec<String>,
        entries: Vec<EntrySpec>,
        terms: Vec<String>,
        langs: Vec<String>,
        nodes: Vec<NodeSpec>,
        tags: Vec<TagSpecIn>,
        space_ranges: Vec<(u32, u32)>,
        abbreviations: Vec<String>,
    ) -> PyResult<Self> {
        let concepts = entries.iter().map(|e| e.0 as usize + 1).max().unwrap_or(0);
        if entries.iter().any(|e| e.1 as usize >= terms.len()) {
            return Err(PyValueError::new_err("an entry names an unknown term"));
        }
        if concepts > Mask::BITS as usize {
            return Err(PyValueError::new_err(format!(
                "at most {} concepts, got {concepts}",
                Mask::BITS
            )));
        }
        let mut parsed_nodes = Vec::with_capacity(nodes.len());
        for (index, (kind, concept, parts, within, node_concepts, threshold)) in
            nodes.into_iter().enumerate()
        {
            if parts.iter().any(|&p| p >= index)
                || node_concepts.iter().any(|&c| c as usize >= concepts)
                || (kind == 0 && concept as usize >= concepts)
            {
                return Err(PyValueError::new_err(format!(
                    "node {index}: parts must come first and concepts must exist"
                )));
            }
            parsed_nodes.push(match kind {
                0 => Node::Ref(concept),
                1 => Node::All(parts),
                2 => Node::Any(parts),
                3 => Node::NoneOf(parts),
                4 if !parts.is_empty() => Node::Near(parts, (within >= 0).then_some(within)),
                5 => Node::Weighted(node_concepts, threshold),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "node {index}: unknown kind {other} (or a near without parts)"
                    )))
                }
            });
        }
        let node_count = parsed_nodes.len();
        let mut parsed_tags = Vec::with_capacity(tags.len());
        for (threshold, title_factor, rules, vetoes, require) in tags {
            if require.is_some_and(|r| r >= node_count) {
                return Err(PyValueError::new_err("unknown require node"));
            }
            parsed_tags.push(TagSpec {
                threshold,
                title_factor,
                rules: rules
                    .into_iter()
                    .map(|r| rule_spec(r, node_count))
                    .collect::<PyResult<_>>()?,
                vetoes: vetoes
                    .into_iter()
                    .map(|r| rule_spec(r, node_count))
                    .collect::<PyResult<_>>()?,
                require,
            });
        }
        let scoring_needs = parsed_tags
            .iter()
            .flat_map(|tag| &tag.rules)
            .filter(|rule| rule.weight > 0.0)
            .map(|rule| rule.necessary.clone())
            .collect();
        if folds.len() != 0x10000 {
            return Err(PyValueError::new_err(
                "the fold table has one entry per BMP code point",
            ));
        }
        let mut multiple = FxHashMap::default();
        let mut single = Vec::with_capacity(folds.len());
        for (code, fold) in folds.into_iter().enumerate() {
            let chars: Vec<char> = fold.chars().collect();
            single.push(match chars[..] {
                [] => u32::MAX,
                [one] => one as u32,
                _ => {
                    let c = char::from_u32(code as u32)
                        .ok_or_else(|| PyValueError::new_err("a surrogate cannot have a fold"))?;
                    multiple.insert(c, chars);
                    MULTIPLE
                }
            });
        }
        Ok(TagEngine {
            matcher,
            folds: single,
            multiple,
            terms,
            entries: entries
                .into_iter()
                .map(
                    |(concept, term, lang, weight, article_language_only)| Entry {
                        concept,
                        term,
                        lang,
                        weight,
                        article_language_only,
                    },
                )
                .collect(),
            langs: langs
                .into_iter()
                .enumerate()
                .map(|(i, l)| (l, i as u32))
                .collect(),
            concepts,
            nodes: parsed_nodes,
            tags: parsed_tags,
            scoring_needs,
            space: CharRanges::new(space_ranges, "space_ranges")?,
            abbreviations: abbreviations.iter().map(|a| a.chars().collect()).collect(),
        })
    }

    /// `(normalize(text).text, normalize(text).offsets)` when the text folds character by character
    /// (offsets None when every character folds to one), else None: `tag` folds the same way. For tests.
    #[pyo3(name = "fold")]
    fn py_fold(&self, text: &str) -> Option<(String, Option<Vec<usize>>)> {
        self.fold(text)
            .map(|fold| (fold.text.into_iter().collect(), fold.offsets))
    }

    /// The whole tagging of an article from its original title and text: fold, match, decide. Returns
    /// `(True, decisions)` as `decide` does, except that the evidence's offsets are then the original
    /// ones too and it comes in `_evidence`'s final order (field, start, end, term), or
    /// `(False, None)` when a field has a character the fold table cannot fold on its own: then the
    /// caller normalises in Python and calls `decide`.
    #[pyo3(signature = (title, text, lang, explain))]
    fn tag(
        &self,
        title: &str,
        text: &str,
        lang: &str,
        explain: bool,
    ) -> PyResult<(bool, Option<Vec<Option<DecisionOut>>>)> {
        let (Some(title), Some(text)) = (self.fold(title), self.fold(text)) else {
            return Ok((false, None));
        };
        let title_hits = self.find(&title);
        let text_hits = self.find(&text);
        let mut decisions = self.decide_chars(
            &title.text,
            &text.text,
            title_hits,
            text_hits,
            lang,
            explain,
        );
        let fields = [&title, &text];
        for decision in decisions.iter_mut().flatten().flatten() {
            if let Some(evidence) = &mut decision.4 {
                for item in evidence.iter_mut() {
                    let (start, end) =
                        fields[item.1 as usize].original_span(item.2 as usize, item.3 as usize);
                    (item.2, item.3) = (start as u32, end as u32);
                }
                // `_evidence`'s order; stable, as Python's sort; term texts compare by code point
                // (UTF-8 bytes) in both.
                evidence.sort_by(|a, b| {
                    let term =
                        |e: &EvidenceOut| &self.terms[self.entries[e.0 as usize].term as usize];
                    (a.1, a.2, a.3, term(a)).cmp(&(b.1, b.2, b.3, term(b)))
                });
            }
        }
        Ok((true, decisions))
    }

    /// The decisions for one article, one per tag in order, from the folded title and text and their
    /// verified hits `(entries, start, end)`; None when no tag could score (and not `explain`): then
    /// every tag has the default decision (score 0, nothing matched).
    #[pyo3(signature = (title, text, title_hits, text_hits, lang, explain))]
    fn decide(
        &self,
        title: &str,
        text: &str,
        title_hits: FieldHits,
        text_hits: FieldHits,
        lang: &str,
        explain: bool,
    ) -> PyResult<Option<Vec<Option<DecisionOut>>>> {
        let known = |hits: &[(Vec<u32>, usize, usize)]| {
            hits.iter()
                .flat_map(|h| &h.0)
                .all(|&e| (e as usize) < self.entries.len())
        };
        if !known(&title_hits) || !known(&text_hits) {
            return Err(PyValueError::new_err("a hit names an unknown entry"));
        }
        let title: Vec<char> = title.chars().collect();
        let text: Vec<char> = text.chars().collect();
        Ok(self.decide_chars(&title, &text, title_hits, text_hits, lang, explain))
    }
}

impl TagEngine {
    /// `normalize.normalize` when the text folds character by character (see `folds`), else None.
    /// ASCII text is lowered and its hyphens become spaces, as in Python.
    fn fold(&self, text: &str) -> Option<Folded> {
        let original: Vec<char> = text.chars().collect();
        if text.is_ascii() {
            let text = original
                .iter()
                .map(|&c| {
                    if c == '-' {
                        ' '
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            return Some(Folded {
                original,
                text,
                offsets: None,
            });
        }
        let mut folded = Vec::with_capacity(original.len());
        let mut offsets: Option<Vec<usize>> = None;
        for (index, &c) in original.iter().enumerate() {
            match self.folds.get(c as usize).copied() {
                None | Some(u32::MAX) => return None,
                Some(MULTIPLE) => {
                    let chars = &self.multiple[&c];
                    let offsets = offsets.get_or_insert_with(|| (0..folded.len()).collect());
                    offsets.extend(std::iter::repeat_n(index, chars.len()));
                    folded.extend_from_slice(chars);
                }
                Some(code) => {
                    folded.push(char::from_u32(code)?);
                    if let Some(offsets) = &mut offsets {
                        offsets.push(index);
                    }
                }
            }
        }
        Some(Folded {
            original,
            text: folded,
            offsets,
        })
    }

    /// `Matcher.find` on a folded field.
    fn find(&self, field: &Folded) -> FieldHits {
        if field.text.is_empty() {
            return Vec::new();
        }
        let matcher = self.matcher.get();
        let folded: String = field.text.iter().collect();
        let (hits, exact) = matcher.raw_find(&folded);
        let mut wrong_case = Vec::new();
        for index in exact {
            let hit = &hits[index];
            let literal = matcher.exact_literal(hit).expect("an exact hit");
            let (start, end) = field.original_span(hit.start, hit.end);
            if field.original.get(start..end) != Some(literal) {
                wrong_case.push(index);
            }
        }
        hits.iter()
            .enumerate()
            .filter(|(index, _)| !wrong_case.contains(index))
            .map(|(_, hit)| (matcher.entries_of(hit).to_vec(), hit.start, hit.end))
            .collect()
    }

    /// The decisions from the folded fields' characters and their hits (see `decide`).
    fn decide_chars(
        &self,
        title: &[char],
        text: &[char],
        title_hits: FieldHits,
        text_hits: FieldHits,
        lang: &str,
        explain: bool,
    ) -> Option<Vec<Option<DecisionOut>>> {
        if !explain && !self.could_score(&title_hits, &text_hits) {
            return None;
        }
        let lang = self.langs.get(lang).copied().unwrap_or(u32::MAX);
        let mut document = Document {
            hits: Vec::new(),
            units: Vec::new(),
            all: Scope::new(TEXT, self.concepts),
            empty: Scope::new(TITLE, self.concepts),
            title: None,
            lang,
            memos: Vec::new(),
        };
        if !title_hits.is_empty() {
            self.add_hits(&mut document, TITLE, title, title_hits);
        }
        if !text_hits.is_empty() {
            self.add_hits(&mut document, TEXT, text, text_hits);
        }
        document.title = document
            .units
            .first()
            .filter(|u| u.field == TITLE)
            .map(|_| 0);
        document.memos = vec![Vec::new(); document.units.len() + 1];
        Some(
            self.tags
                .iter()
                .map(|tag| self.decide_tag(tag, &mut document, explain))
                .collect(),
        )
    }
}

impl TagEngine {
    /// Whether some positive rule of some tag could hold, judging by which concepts occur at all.
    fn could_score(
        &self,
        title_hits: &[(Vec<u32>, usize, usize)],
        text_hits: &[(Vec<u32>, usize, usize)],
    ) -> bool {
        let mut present: Mask = 0;
        for (entries, _, _) in title_hits.iter().chain(text_hits) {
            for &entry in entries {
                present |= 1 << self.entries[entry as usize].concept;
            }
        }
        self.scoring_needs
            .iter()
            .any(|needs| has_each(needs, present))
    }

    fn is_space(&self, c: char) -> bool {
        if c.is_ascii() {
            return matches!(
                c,
                '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' '
            );
        }
        self.space.contains(c)
    }

    /// `normalize.sentence_starts`: the regex `[.!?\n][.!?"'»”“)\]\n]*\s*`, scanned left to right.
    fn sentence_starts(&self, text: &[char]) -> Vec<usize> {
        let mut starts = vec![0];
        let length = text.len();
        let mut at = 0;
        while at < length {
            if !matches!(text[at], '.' | '!' | '?' | '\n') {
                at += 1;
                continue;
            }
            let mark = at;
            let mut end = at + 1;
            while end < length
                && matches!(
                    text[end],
                    '.' | '!' | '?' | '"' | '\'' | '»' | '”' | '“' | ')' | ']' | '\n'
                )
            {
                end += 1;
            }
            while end < length && self.is_space(text[end]) {
                end += 1;
            }
            at = end;
            if end >= length {
                break;
            }
            if !self.is_space(text[end - 1]) {
                continue; // "2.5", "u.s.", "?!" inside a token
            }
            if text[mark] == '.' {
                let word_start = text[..mark]
                    .iter()
                    .rposition(|&c| c == ' ')
                    .map_or(0, |i| i + 1);
                if self.is_abbreviation(&text[word_start..mark]) {
                    continue;
                }
            }
            starts.push(end);
        }
        starts
    }

    /// `normalize._is_abbreviation`.
    fn is_abbreviation(&self, word: &[char]) -> bool {
        let skip = word
            .iter()
            .take_while(|&&c| matches!(c, '(' | '"' | '\'' | '«' | '“'))
            .count();
        let word = &word[skip..];
        let word = match word.iter().rposition(|&c| c == '.') {
            Some(dot) => &word[dot + 1..],
            None => word,
        };
        (!word.is_empty() && word.len() <= 2) || self.abbreviations.contains(word)
    }

    /// `Tagger._add_hits`: position the hits (sentence and word numbers) and file them.
    fn add_hits(
        &self,
        document: &mut Document,
        field: u8,
        text: &[char],
        mut raw_hits: Vec<(Vec<u32>, usize, usize)>,
    ) {
        let mut sentences = if field == TITLE {
            vec![0]
        } else {
            self.sentence_starts(text)
        };
        sentences.push(text.len() + 1);
        let (mut sentence, mut next_sentence) = (0usize, sentences[1]);
        let (mut position, mut word) = (0usize, 0i64);
        let count = |from: usize, to: usize, c: char| {
            text.get(from..to)
                .map_or(0, |s| s.iter().filter(|&&x| x == c).count()) as i64
        };
        let has_newlines = text.contains(&'\n');
        raw_hits.sort_by_key(|hit| hit.1); // stable, as Python's sort
        let mut unit: Option<usize> = None; // the open unit of this field and `sentence`
        for (entries, start, end) in raw_hits {
            if start >= next_sentence {
                while start >= next_sentence {
                    sentence += 1;
                    next_sentence = sentences[sentence + 1];
                }
                unit = None;
            }
            if start > position {
                word += count(position, start, ' ');
                if has_newlines {
                    word += count(position, start, '\n');
                }
            }
            position = start;
            let last_word = if end > start + 3 {
                word + count(start, end, ' ')
            } else {
                word
            };
            for entry in entries {
                let info = &self.entries[entry as usize];
                if info.article_language_only && info.lang != document.lang {
                    continue; // a function word ("i", "z", "no") of another language
                }
                let index = document.hits.len() as u32;
                document.hits.push(Hit {
                    entry,
                    field,
                    start: start as u32,
                    end: end as u32,
                    sentence: sentence as u32,
                    word,
                    last_word,
                });
                document.all.add(info.concept, index);
                let open = *unit.get_or_insert_with(|| {
                    document.units.push(Scope::new(field, self.concepts));
                    document.units.len() - 1
                });
                document.units[open].add(info.concept, index);
            }
        }
    }

    fn lang_of(&self, document: &Document, hit: u32) -> u32 {
        self.entries[document.hits[hit as usize].entry as usize].lang
    }

    /// Evaluate a condition node in one scope (`memo` is that scope's memo).
    fn eval(
        &self,
        node: usize,
        scope: &Scope,
        hits: &[Hit],
        memo: &mut Vec<Option<Support>>,
    ) -> Support {
        if let Node::Ref(concept) = self.nodes[node] {
            return scope.get(concept).cloned();
        }
        if memo.is_empty() {
            memo.resize(self.nodes.len(), None);
        }
        if let Some(found) = &memo[node] {
            return found.clone();
        }
        let result = match &self.nodes[node] {
            Node::Ref(_) => unreachable!("answered above"),
            Node::All(parts) => {
                let mut support = Vec::new();
                let mut holds = true;
                for &part in parts {
                    match self.eval(part, scope, hits, memo) {
                        Some(found) => support.extend_from_slice(&found),
                        None => {
                            holds = false;
                            break;
                        }
                    }
                }
                holds.then(|| Rc::new(support))
            }
            Node::Any(parts) => {
                let mut union: Option<Vec<u32>> = None;
                for &part in parts {
                    if let Some(found) = self.eval(part, scope, hits, memo) {
                        union.get_or_insert_with(Vec::new).extend_from_slice(&found);
                    }
                }
                union.map(Rc::new)
            }
            Node::NoneOf(parts) => {
                let mut holds = true;
                for &part in parts {
                    if self.eval(part, scope, hits, memo).is_some() {
                        holds = false;
                        break;
                    }
                }
                holds.then(|| Rc::new(Vec::new()))
            }
            Node::Near(parts, within) => self.near(parts, *within, scope, hits, memo),
            Node::Weighted(concepts, threshold) => {
                let mut support = Vec::new();
                let mut weights: Vec<(u32, f64)> = Vec::new(); // term -> weight, first-seen order
                for &concept in concepts {
                    for &hit in scope.get(concept).map_or(&[][..], |h| &h[..]) {
                        support.push(hit);
                        let entry = &self.entries[hits[hit as usize].entry as usize];
                        match weights.iter_mut().find(|(term, _)| *term == entry.term) {
                            Some(slot) => slot.1 = entry.weight,
                            None => weights.push((entry.term, entry.weight)),
                        }
                    }
                }
                // Left to right, as Python 3.11's sum() adds floats.
                let total = weights.iter().fold(0.0, |sum, (_, weight)| sum + weight);
                (!weights.is_empty() && total >= *threshold).then(|| Rc::new(support))
            }
        };
        memo[node] = Some(result.clone());
        result
    }

    fn near(
        &self,
        parts: &[usize],
        within: Option<i64>,
        scope: &Scope,
        hits: &[Hit],
        memo: &mut Vec<Option<Support>>,
    ) -> Support {
        let mut part_hits = Vec::with_capacity(parts.len());
        for &part in parts {
            match self.eval(part, scope, hits, memo) {
                Some(found) if !found.is_empty() => part_hits.push(found),
                _ => return None,
            }
        }
        let mut support = Vec::new();
        let mut close: Vec<Vec<u32>> = Vec::with_capacity(part_hits.len() - 1);
        for &anchor in part_hits[0].iter() {
            let a = hits[anchor as usize];
            close.clear();
            for others in &part_hits[1..] {
                let near: Vec<u32> = others
                    .iter()
                    .copied()
                    .filter(|&h| {
                        let hit = &hits[h as usize];
                        hit.field == a.field
                            && match within {
                                None => hit.sentence == a.sentence,
                                Some(words) => {
                                    hit.word <= a.last_word + words
                                        && hit.last_word >= a.word - words
                                }
                            }
                    })
                    .collect();
                if near.is_empty() {
                    break;
                }
                close.push(near);
            }
            if close.len() == part_hits.len() - 1 {
                support.push(anchor);
                for near in &close {
                    support.extend_from_slice(near);
                }
            }
        }
        (!support.is_empty()).then(|| Rc::new(support))
    }

    /// `_rule_matches`: (unit or None, support) per place the rule holds, at most `limit`.
    fn rule_matches(
        &self,
        rule: &RuleSpec,
        document: &mut Document,
        limit: usize,
    ) -> Vec<(Option<usize>, Rc<Vec<u32>>)> {
        let mut found = Vec::new();
        let Document {
            hits,
            units,
            all,
            empty,
            title,
            memos,
            ..
        } = document;
        match rule.scope {
            ScopeKind::Sentence => {
                for (index, unit) in units.iter().enumerate() {
                    if !has_each(&rule.necessary, unit.mask) {
                        continue;
                    }
                    if let Some(support) = self.eval(rule.node, unit, hits, &mut memos[index]) {
                        found.push((Some(index), support));
                        if found.len() == limit {
                            break;
                        }
                    }
                }
            }
            ScopeKind::Title | ScopeKind::Document => {
                let (scope, memo_index) = match (rule.scope, *title) {
                    (ScopeKind::Document, _) => (&*all, units.len()),
                    (_, Some(unit)) => (&units[unit], unit),
                    // No title hits: an empty scope, memo-free (it is evaluated at most once per rule).
                    (_, None) => (&*empty, usize::MAX),
                };
                if has_each(&rule.necessary, scope.mask) {
                    let support = if memo_index == usize::MAX {
                        self.eval(rule.node, scope, hits, &mut Vec::new())
                    } else {
                        self.eval(rule.node, scope, hits, &mut memos[memo_index])
                    };
                    if let Some(support) = support {
                        found.push((None, support));
                    }
                }
            }
        }
        found
    }

    /// `_decide`, without the rounding (done in Python): None for the default decision.
    fn decide_tag(
        &self,
        tag: &TagSpec,
        document: &mut Document,
        explain: bool,
    ) -> Option<DecisionOut> {
        if !explain
            && !tag
                .rules
                .iter()
                .any(|rule| rule.weight > 0.0 && has_each(&rule.necessary, document.all.mask))
        {
            return None;
        }
        let mut score = 0.0;
        let mut rule_scores = Vec::new();
        let mut contributions: Vec<(f64, Rc<Vec<u32>>)> = Vec::new();
        for (index, rule) in tag.rules.iter().enumerate() {
            let matches = self.rule_matches(rule, document, rule.max_count);
            if matches.is_empty() {
                continue;
            }
            let mut rule_total = 0.0;
            let count = matches.len();
            for (unit, support) in matches {
                let in_title = unit.is_some_and(|u| document.units[u].field == TITLE);
                let factor = if in_title { tag.title_factor } else { 1.0 };
                let contribution = rule.weight * factor;
                rule_total += contribution;
                contributions.push((contribution, support));
            }
            score += rule_total;
            rule_scores.push((index, rule_total, count));
        }
        if contributions.is_empty() && !explain {
            return None;
        }
        let vetoed: Vec<usize> = (0..tag.vetoes.len())
            .filter(|&v| !self.rule_matches(&tag.vetoes[v], document, 1).is_empty())
            .collect();
        let requirement_met = match tag.require {
            None => true,
            Some(node) => {
                let memo = document.units.len();
                self.eval(
                    node,
                    &document.all,
                    &document.hits,
                    &mut document.memos[memo],
                )
                .is_some()
            }
        };
        // Python decides `applied` on the rounded score; the evidence is built for every tag that might
        // apply (a margin far above any rounding) and dropped there when it does not.
        let may_apply = vetoed.is_empty() && requirement_met && score >= tag.threshold - 0.001;
        let evidence = (explain || may_apply).then(|| self.evidence(&contributions, document));
        Some((score, rule_scores, vetoed, requirement_met, evidence))
    }

    /// `_evidence` and `_share`: each contribution split evenly over the distinct spans supporting it.
    fn evidence(
        &self,
        contributions: &[(f64, Rc<Vec<u32>>)],
        document: &Document,
    ) -> Vec<EvidenceOut> {
        let lang = document.lang;
        let span_of = |hit: u32| {
            let h = &document.hits[hit as usize];
            (h.field, h.start, h.end)
        };
        let mut shares: Vec<((u8, u32, u32), f64, u32)> = Vec::new(); // span, weight, hit shown
        let mut index: FxHashMap<(u8, u32, u32), usize> = FxHashMap::default();
        let mut spans: Vec<((u8, u32, u32), u32)> = Vec::new();
        for (contribution, support) in contributions {
            spans.clear();
            for &hit in support.iter() {
                let span = span_of(hit);
                match spans.iter_mut().find(|(s, _)| *s == span) {
                    None => spans.push((span, hit)),
                    Some(slot) => {
                        if self.lang_of(document, slot.1) != lang
                            && self.lang_of(document, hit) == lang
                        {
                            slot.1 = hit;
                        }
                    }
                }
            }
            if spans.is_empty() {
                continue;
            }
            let each = contribution / spans.len() as f64;
            for &(span, hit) in &spans {
                match index.get(&span) {
                    None => {
                        index.insert(span, shares.len());
                        shares.push((span, 0.0 + each, hit));
                    }
                    Some(&at) => {
                        let slot = &mut shares[at];
                        slot.1 += each;
                        if self.lang_of(document, slot.2) != lang
                            && self.lang_of(document, hit) == lang
                        {
                            slot.2 = hit;
                        }
                    }
                }
            }
        }
        shares
            .into_iter()
            .map(|((field, start, end), weight, hit)| {
                (document.hits[hit as usize].entry, field, start, end, weight)
            })
            .collect()
    }
}
