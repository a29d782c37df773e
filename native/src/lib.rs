//! Compiled versions of the Faust stage's hottest pure-Python loops.
//!
//! Optional by design: `streams` uses this module when it is installed and its own Python code
//! otherwise, and both must give identical results (workers with and without it share state).
//! `tests/unit/test_native.py` checks that on thousands of texts.

use aho_corasick::{AhoCorasick, MatchKind};
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rustc_hash::{FxHashMap, FxHashSet};

mod tagger;

const SHINGLE_SIZE: usize = 3;

/// One-permutation MinHash with optimal densification over word 3-shingles: the compiled twin of
/// `streams.neardup.python_signature`. Holds the per-token hash cache, as the Python code does.
#[pyclass(module = "newswatch_native")]
struct MinHasher {
    num_bins: usize,
    bin_shift: u32,
    value_shift: u32,
    probes: Vec<Vec<usize>>,
    cache: FxHashMap<Box<str>, [u64; 3]>,
    cache_limit: usize,
}

/// A token's three 64-bit hashes, one per shingle position: blake2b-192, little-endian thirds.
fn token_hashes(token: &str) -> [u64; 3] {
    let mut hasher = Blake2bVar::new(24).expect("24 is a valid blake2b digest size");
    hasher.update(token.as_bytes());
    let mut digest = [0u8; 24];
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer has the digest's size");
    let word = |i: usize| u64::from_le_bytes(digest[i * 8..i * 8 + 8].try_into().unwrap());
    [word(0), word(1), word(2)]
}

impl MinHasher {
    fn hashes(&mut self, token: &str) -> [u64; 3] {
        if let Some(found) = self.cache.get(token) {
            return *found;
        }
        if self.cache.len() >= self.cache_limit {
            self.cache.clear();
        }
        let value = token_hashes(token);
        self.cache.insert(token.into(), value);
        value
    }

    /// (values, distinct shingles) for the tokens' hashes; empty values when there is no token.
    fn values(&self, mut tokens: Vec<[u64; 3]>) -> (Vec<u32>, usize) {
        if tokens.is_empty() {
            return (Vec::new(), 0);
        }
        while tokens.len() < SHINGLE_SIZE {
            tokens.push([0, 0, 0]);
        }
        let mut shingles: Vec<u64> = tokens
            .windows(SHINGLE_SIZE)
            .map(|w| w[0][0] ^ w[1][1] ^ w[2][2])
            .collect();
        shingles.sort_unstable();
        shingles.dedup();
        // Minimum per bin: the shingles are sorted, so the first one seen in a bin is its minimum.
        let mut filled: Vec<Option<u32>> = vec![None; self.num_bins];
        for &h in &shingles {
            let bin = (h >> self.bin_shift) as usize;
            if filled[bin].is_none() {
                filled[bin] = Some((h >> self.value_shift) as u32);
            }
        }
        let values = (0..self.num_bins)
            .map(|i| filled[i].unwrap_or_else(|| self.borrowed(i, &filled)))
            .collect();
        (values, shingles.len())
    }

    /// An empty bin's value: the first filled bin of its probe sequence, else the next filled bin
    /// to the right (cyclically), exactly as `streams.neardup._densify`.
    fn borrowed(&self, bin: usize, filled: &[Option<u32>]) -> u32 {
        for &probe in &self.probes[bin] {
            if let Some(value) = filled[probe] {
                return value;
            }
        }
        (1..self.num_bins)
            .find_map(|step| filled[(bin + step) % self.num_bins])
            .expect("at least one bin is filled")
    }
}

#[pymethods]
impl MinHasher {
    #[new]
    #[pyo3(signature = (num_bins, bin_bits, value_shift, probes, cache_limit))]
    fn new(
        num_bins: usize,
        bin_bits: u32,
        value_shift: u32,
        probes: Vec<Vec<usize>>,
        cache_limit: usize,
    ) -> PyResult<Self> {
        if num_bins != 1usize << bin_bits || bin_bits == 0 || bin_bits >= 64 {
            return Err(PyValueError::new_err(format!(
                "num_bins ({num_bins}) must be 2 ** bin_bits ({bin_bits})"
            )));
        }
        if value_shift + 32 > 64 - bin_bits {
            return Err(PyValueError::new_err(format!(
                "value_shift {value_shift} leaves fewer than 32 bits below the bin bits"
            )));
        }
        if probes.len() != num_bins || probes.iter().flatten().any(|&p| p >= num_bins) {
            return Err(PyValueError::new_err(
                "probes must hold one sequence of bin numbers per bin",
            ));
        }
        Ok(MinHasher {
            num_bins,
            bin_shift: 64 - bin_bits,
            value_shift,
            probes,
            cache: FxHashMap::default(),
            cache_limit: cache_limit.max(1),
        })
    }

    /// `(values, shingles)` for a list of word tokens: `values` is a tuple of `num_bins` ints
    /// (empty when there are no tokens), `shingles` the number of distinct 3-shingles.
    fn signature<'py>(
        &mut self,
        py: Python<'py>,
        tokens: &Bound<'py, PyList>,
    ) -> PyResult<(Bound<'py, PyTuple>, usize)> {
        let mut hashes = Vec::with_capacity(tokens.len());
        for token in tokens.iter() {
            let token = token.cast::<PyString>()?;
            hashes.push(self.hashes(token.to_str()?));
        }
        let (values, shingles) = self.values(hashes);
        Ok((PyTuple::new(py, values)?, shingles))
    }

    /// Entries in the token-hash cache (for tests and memory figures).
    fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

/// Python's idea of a word character (`str.isalnum()` or "_", i.e. the regex `\w`), given by Python
/// itself as ranges of code points, so both sides agree whatever Unicode version each one knows.
struct WordChars(CharRanges);

impl WordChars {
    fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            return c.is_ascii_alphanumeric() || c == '_';
        }
        self.0.contains(c)
    }
}

struct GazetteerVariant {
    entry: usize,
    exact: Option<Vec<char>>,
    needs_capital: bool,
    stem: bool,
}

/// The gazetteer's matcher: the compiled twin of `streams.gazetteer.matcher.Gazetteer.python_spans`.
#[pyclass(module = "newswatch_native", frozen)]
struct SpanFinder {
    automaton: AhoCorasick,
    variants: Vec<Vec<GazetteerVariant>>,
    word: WordChars,
    stem_max_suffix: usize,
}

type VariantSpec = (usize, Option<String>, bool, bool);

#[pymethods]
impl SpanFinder {
    /// `keys`: (folded key, its variants as (entry, exact text or None, needs capital, stem)).
    #[new]
    #[pyo3(signature = (keys, word_ranges, stem_max_suffix))]
    fn new(
        keys: Vec<(String, Vec<VariantSpec>)>,
        word_ranges: Vec<(u32, u32)>,
        stem_max_suffix: usize,
    ) -> PyResult<Self> {
        let automaton = overlapping_automaton(&keys, "variants")?;
        let variants = keys
            .into_iter()
            .map(|(_, found)| {
                found
                    .into_iter()
                    .map(|(entry, exact, needs_capital, stem)| GazetteerVariant {
                        entry,
                        exact: exact.map(|text| text.chars().collect()),
                        needs_capital,
                        stem,
                    })
                    .collect()
            })
            .collect();
        Ok(SpanFinder {
            automaton,
            variants,
            word: WordChars(CharRanges::new(word_ranges, "word_ranges")?),
            stem_max_suffix,
        })
    }

    /// `(start, end, entry)` of every match in `folded` (offsets in characters), leftmost-longest.
    /// `original` is the text before folding, of the same length in characters.
    fn spans(&self, original: &str, folded: &str) -> PyResult<Vec<(usize, usize, usize)>> {
        let chars: Vec<char> = folded.chars().collect();
        let original: Vec<char> = original.chars().collect();
        if chars.len() != original.len() {
            return Err(PyValueError::new_err(format!(
                "the folded text has {} characters and the original {}: they must be equal",
                chars.len(),
                original.len()
            )));
        }
        let limit = chars.len();
        let is_word = |i: usize| self.word.contains(chars[i]);
        let mut candidates: Vec<(usize, std::cmp::Reverse<usize>, usize)> = Vec::new();
        for (start, end, pattern) in char_matches(&self.automaton, folded) {
            if start > 0 && is_word(start - 1) {
                continue; // inside a word ("us" in "discuss")
            }
            for variant in &self.variants[pattern] {
                let mut stop = end;
                if variant.stem {
                    while stop < limit && stop - end < self.stem_max_suffix && is_word(stop) {
                        stop += 1;
                    }
                }
                if stop < limit && is_word(stop) {
                    continue;
                }
                if let Some(exact) = &variant.exact {
                    if original[start..end] != exact[..] {
                        continue;
                    }
                }
                if variant.needs_capital && !original[start].is_uppercase() {
                    continue;
                }
                candidates.push((start, std::cmp::Reverse(stop), variant.entry));
                break;
            }
        }
        candidates.sort_unstable();
        let mut spans = Vec::new();
        let mut covered_until = 0;
        for (start, std::cmp::Reverse(stop), entry) in candidates {
            if start >= covered_until {
                covered_until = stop;
                spans.push((start, stop, entry));
            }
        }
        Ok(spans)
    }
}

/// An automaton that finds every occurrence of every key, overlapping ones included, as
/// pyahocorasick's `iter` does. `keys` pair each key with what a match of it must be checked against.
fn overlapping_automaton<T>(keys: &[(String, Vec<T>)], what: &str) -> PyResult<AhoCorasick> {
    if keys
        .iter()
        .any(|(key, found)| key.is_empty() || found.is_empty())
    {
        return Err(PyValueError::new_err(format!(
            "every key must be non-empty and have {what}"
        )));
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(keys.iter().map(|(key, _)| key.as_str()))
        .map_err(|e| PyValueError::new_err(format!("cannot build the automaton: {e}")))
}

/// `(start, end, key index)` of every match in `text`, in characters (the automaton counts bytes,
/// Python counts characters).
fn char_matches<'a>(
    automaton: &'a AhoCorasick,
    text: &'a str,
) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
    let char_at: Option<Vec<usize>> = (!text.is_ascii()).then(|| {
        let mut table = vec![0; text.len() + 1];
        for (index, (offset, c)) in text.char_indices().enumerate() {
            table[offset..offset + c.len_utf8()].fill(index);
        }
        table[text.len()] = text.chars().count();
        table
    });
    automaton.find_overlapping_iter(text).map(move |m| {
        let to_char = |offset: usize| char_at.as_ref().map_or(offset, |table| table[offset]);
        (to_char(m.start()), to_char(m.end()), m.pattern().as_usize())
    })
}

/// Sorted `[start, end)` code point ranges of a character class Python computed (see `streams.native`).
pub(crate) struct CharRanges(Vec<(u32, u32)>);

impl CharRanges {
    fn new(ranges: Vec<(u32, u32)>, name: &str) -> PyResult<Self> {
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) || ranges.iter().any(|r| r.0 >= r.1) {
            return Err(PyValueError::new_err(format!(
                "{name} must be sorted, non-empty, non-overlapping [start, end) ranges"
            )));
        }
        Ok(CharRanges(ranges))
    }

    fn contains(&self, c: char) -> bool {
        let code = c as u32;
        match self.0.binary_search_by(|&(start, _)| start.cmp(&code)) {
            Ok(_) => true,
            Err(0) => false,
            Err(after) => code < self.0[after - 1].1,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Edge {
    Word,
    Prefix,
    Inflect,
    Digits,
}

struct Piece {
    key: Vec<char>,
    starts_inside_word: bool,
    edge: Edge,
    endings: FxHashSet<Box<[char]>>,
    digits: usize,
}

struct Check {
    pieces: Vec<Piece>,
    exact_case: Option<Py<PyString>>,
    exact_chars: Option<Vec<char>>,
    entries: Py<PyTuple>,
    entry_ids: Vec<u32>,
    whole_word: bool,
}

/// (key, starts inside a word, edge: 0 word 1 prefix 2 inflect 3 digits, endings, digits)
type PieceSpec = (String, bool, u8, Vec<String>, usize);
/// (pieces, exact-case literal or None, the entries tuple a hit carries, whole word)
type CheckSpec = (Vec<PieceSpec>, Option<Py<PyString>>, Py<PyTuple>, bool);

/// The tagger's term matcher: the compiled twin of `streams.tagging.matcher.Matcher.python_hits`.
#[pyclass(module = "newswatch_native", frozen)]
pub(crate) struct TermMatcher {
    automaton: AhoCorasick,
    checks: Vec<Vec<Check>>,
    word: WordChars,
    digit: CharRanges,
}

type Hits = (Vec<(Py<PyTuple>, usize, usize)>, Vec<(usize, Py<PyString>)>);

/// A verified match in Rust terms: which check (key, index) matched, and where.
#[derive(Clone, Copy)]
pub(crate) struct RawHit {
    pattern: u32,
    check: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Position of the first space at or after `from` (Python's `text.find(" ", from)`).
fn find_space(text: &[char], from: usize) -> Option<usize> {
    text.get(from..)?
        .iter()
        .position(|&c| c == ' ')
        .map(|i| from + i)
}

impl TermMatcher {
    fn is_digits(&self, chars: &[char]) -> bool {
        !chars.is_empty()
            && chars
                .iter()
                .all(|&c| c.is_ascii_digit() || (!c.is_ascii() && self.digit.contains(c)))
    }

    /// Where the word ends if what follows the key satisfies the piece (`end` is after the key).
    fn piece_end(&self, piece: &Piece, text: &[char], end: usize) -> Option<usize> {
        if piece.edge == Edge::Word {
            return if text[end - 1] == ' ' {
                Some(end - 1)
            } else if text.get(end) == Some(&' ') {
                Some(end)
            } else {
                None
            };
        }
        let word_end = find_space(text, end)?;
        match piece.edge {
            Edge::Prefix => Some(word_end),
            Edge::Inflect => piece
                .endings
                .contains(&text[end..word_end])
                .then_some(word_end),
            _ => {
                let digits_end = end + piece.digits;
                (word_end == digits_end && self.is_digits(&text[end..digits_end]))
                    .then_some(digits_end)
            }
        }
    }

    /// The following pieces of a phrase, in place, one space apart; the end of the phrase.
    fn rest_of_phrase(
        &self,
        pieces: &[Piece],
        text: &[char],
        mut position: usize,
    ) -> Option<usize> {
        for piece in &pieces[1..] {
            let from = position + 1;
            if text.get(from..from + piece.key.len()) != Some(&piece.key[..]) {
                return None;
            }
            position = self.piece_end(piece, text, from + piece.key.len())?;
        }
        Some(position)
    }
}

#[pymethods]
impl TermMatcher {
    #[new]
    #[pyo3(signature = (keys, word_ranges, digit_ranges))]
    fn new(
        py: Python<'_>,
        keys: Vec<(String, Vec<CheckSpec>)>,
        word_ranges: Vec<(u32, u32)>,
        digit_ranges: Vec<(u32, u32)>,
    ) -> PyResult<Self> {
        let automaton = overlapping_automaton(&keys, "checks")?;
        let mut all_checks = Vec::with_capacity(keys.len());
        for (key, specs) in keys {
            let mut checks = Vec::with_capacity(specs.len());
            for (pieces, exact_case, entries, whole_word) in specs {
                let mut parsed = Vec::with_capacity(pieces.len());
                for (piece_key, starts_inside_word, edge, endings, digits) in pieces {
                    let edge = match edge {
                        0 => Edge::Word,
                        1 => Edge::Prefix,
                        2 => Edge::Inflect,
                        3 => Edge::Digits,
                        other => {
                            return Err(PyValueError::new_err(format!(
                                "key {key:?}: unknown edge code {other}"
                            )))
                        }
                    };
                    parsed.push(Piece {
                        key: piece_key.chars().collect(),
                        starts_inside_word,
                        edge,
                        endings: endings.iter().map(|e| e.chars().collect()).collect(),
                        digits,
                    });
                }
                if parsed.is_empty() {
                    return Err(PyValueError::new_err(format!(
                        "key {key:?}: a check without pieces"
                    )));
                }
                let exact_chars = match &exact_case {
                    Some(literal) => Some(literal.bind(py).to_str()?.chars().collect()),
                    None => None,
                };
                let entry_ids = entries.bind(py).extract()?;
                checks.push(Check {
                    pieces: parsed,
                    exact_case,
                    exact_chars,
                    entries,
                    entry_ids,
                    whole_word,
                });
            }
            all_checks.push(checks);
        }
        Ok(TermMatcher {
            automaton,
            checks: all_checks,
            word: WordChars(CharRanges::new(word_ranges, "word_ranges")?),
            digit: CharRanges::new(digit_ranges, "digit_ranges")?,
        })
    }

    /// `(hits, exact)` for a folded text: hits are `(entries, start, end)` in its coordinates, in the
    /// automaton's order (by end, longest key first); `exact` is `(hit index, literal)` for the hits
    /// whose case the caller must still check against the original text.
    fn find(&self, py: Python<'_>, folded: &str) -> PyResult<Hits> {
        let (hits, exact) = self.raw_find(folded);
        let exact = exact
            .into_iter()
            .map(|index| {
                let literal = self.check(&hits[index]).exact_case.as_ref();
                (index, literal.expect("an exact hit").clone_ref(py))
            })
            .collect();
        let hits = hits
            .iter()
            .map(|hit| (self.check(hit).entries.clone_ref(py), hit.start, hit.end))
            .collect();
        Ok((hits, exact))
    }
}

impl TermMatcher {
    fn check(&self, hit: &RawHit) -> &Check {
        &self.checks[hit.pattern as usize][hit.check as usize]
    }

    /// The entries (indexes into the Python matcher's entries) a hit stands for.
    pub(crate) fn entries_of(&self, hit: &RawHit) -> &[u32] {
        &self.check(hit).entry_ids
    }

    /// The literal whose case a hit must match in the original text.
    pub(crate) fn exact_literal(&self, hit: &RawHit) -> Option<&[char]> {
        self.check(hit).exact_chars.as_deref()
    }

    /// `find` in Rust terms: the hits in folded-text coordinates and the indexes of the hits whose case
    /// is still to check against the original text.
    pub(crate) fn raw_find(&self, folded: &str) -> (Vec<RawHit>, Vec<usize>) {
        // The words-only text (every character but a letter, digit, "_" or space becomes a space),
        // runs of the folded text's own spaces collapsed to one, padded with a space at each end;
        // `origin` maps its characters back to the folded text when something was collapsed.
        let collapse = folded.contains("  ");
        let mut padded = String::with_capacity(folded.len() + 2);
        let mut chars = Vec::with_capacity(folded.len() + 2);
        let mut origin = Vec::new();
        let mut push = |c: char| {
            padded.push(c);
            chars.push(c);
        };
        push(' ');
        let mut after_space = false;
        for (index, c) in folded.chars().enumerate() {
            if c == ' ' {
                if collapse && after_space {
                    continue;
                }
                after_space = true;
                push(' ');
            } else {
                after_space = false;
                push(if self.word.contains(c) { c } else { ' ' });
            }
            if collapse {
                origin.push(index);
            }
        }
        push(' ');
        let (mut hits, exact) = self.scan(&padded, &chars);
        if collapse {
            for hit in &mut hits {
                hit.start = origin[hit.start];
                hit.end = origin[hit.end - 1] + 1;
            }
        }
        (hits, exact)
    }
}

impl TermMatcher {
    /// The verified matches in the padded text (`chars` are its characters), in words-only coordinates.
    fn scan(&self, text: &str, chars: &[char]) -> (Vec<RawHit>, Vec<usize>) {
        // pyahocorasick's order: by end position, and at one position the longest key first.
        let mut found: Vec<(usize, std::cmp::Reverse<usize>, usize)> =
            char_matches(&self.automaton, text)
                .map(|(start, end, pattern)| (end, std::cmp::Reverse(end - start), pattern))
                .collect();
        found.sort_unstable();
        let mut hits = Vec::new();
        let mut exact = Vec::new();
        for (end, std::cmp::Reverse(length), pattern) in found {
            let start = end - length;
            for (index, check) in self.checks[pattern].iter().enumerate() {
                let hit = |start: usize, end: usize| RawHit {
                    pattern: pattern as u32,
                    check: index as u32,
                    start,
                    end,
                };
                if check.whole_word {
                    hits.push(hit(start, end - 2));
                    continue;
                }
                let first = &check.pieces[0];
                let word_start = if first.starts_inside_word {
                    chars[..start]
                        .iter()
                        .rposition(|&c| c == ' ')
                        .map_or(0, |i| i + 1)
                } else {
                    start + 1
                };
                let Some(mut word_end) = self.piece_end(first, chars, end) else {
                    continue;
                };
                if check.pieces.len() > 1 {
                    match self.rest_of_phrase(&check.pieces, chars, word_end) {
                        Some(phrase_end) => word_end = phrase_end,
                        None => continue,
                    }
                }
                if check.exact_case.is_some() {
                    exact.push(hits.len());
                }
                hits.push(hit(word_start - 1, word_end - 1));
            }
        }
        (hits, exact)
    }
}

const ROWS_PER_BAND: usize = 4;

/// The near-duplicate story index: every known story's signature, and its LSH band keys pointing
/// to the first story that claimed them. The compiled twin of `streams.story_index.PythonStoryIndex`'s
/// band dict plus `streams.neardup.link`'s candidate verification, in ~1.6 KB a story instead of
/// ~4.5 KB of Python strings, and one call an article instead of 32 dict lookups.
#[pyclass(module = "newswatch_native")]
struct StoryBands {
    num_bins: usize,
    min_shingles: usize,
    ids: Vec<Box<str>>,
    signatures: Vec<Box<[u32]>>,
    by_id: FxHashMap<Box<str>, u32>,
    bands: Vec<FxHashMap<[u32; ROWS_PER_BAND], u32>>,
}

impl StoryBands {
    fn usable(&self, values: &[u32], shingles: usize) -> bool {
        values.len() == self.num_bins && shingles >= self.min_shingles
    }

    fn band_rows(values: &[u32]) -> impl Iterator<Item = [u32; ROWS_PER_BAND]> + '_ {
        values
            .chunks_exact(ROWS_PER_BAND)
            .map(|rows| rows.try_into().expect("chunks of ROWS_PER_BAND"))
    }

    /// Point every band of `values` that no story claimed yet to `story` (Python's `setdefault`).
    fn claim_free_bands(&mut self, story: u32, values: &[u32]) {
        for (band, rows) in Self::band_rows(values).enumerate() {
            self.bands[band].entry(rows).or_insert(story);
        }
    }

    fn insert_story(&mut self, story_id: &str, values: Vec<u32>, shingles: usize) -> bool {
        if self.by_id.contains_key(story_id) {
            return false;
        }
        let story = u32::try_from(self.ids.len()).expect("fewer than 2**32 stories");
        let usable = self.usable(&values, shingles);
        self.ids.push(story_id.into());
        self.by_id.insert(story_id.into(), story);
        if usable {
            self.claim_free_bands(story, &values);
        }
        // Unusable signatures are never compared (no band points to them): keep only the id.
        self.signatures.push(if usable {
            values.into_boxed_slice()
        } else {
            Box::default()
        });
        true
    }
}

#[pymethods]
impl StoryBands {
    #[new]
    #[pyo3(signature = (num_bins, rows_per_band, min_shingles))]
    fn new(num_bins: usize, rows_per_band: usize, min_shingles: usize) -> PyResult<Self> {
        if rows_per_band != ROWS_PER_BAND
            || num_bins == 0
            || !num_bins.is_multiple_of(ROWS_PER_BAND)
        {
            return Err(PyValueError::new_err(format!(
                "StoryBands needs {ROWS_PER_BAND} rows per band and a multiple of {ROWS_PER_BAND} bins \
                 (got {rows_per_band} and {num_bins})"
            )));
        }
        Ok(StoryBands {
            num_bins,
            min_shingles,
            ids: Vec::new(),
            signatures: Vec::new(),
            by_id: FxHashMap::default(),
            bands: (0..num_bins / ROWS_PER_BAND)
                .map(|_| FxHashMap::default())
                .collect(),
        })
    }

    /// Index a story's founding signature; False when the story is known already.
    fn add_story(&mut self, story_id: &str, values: Vec<u32>, shingles: usize) -> bool {
        self.insert_story(story_id, values, shingles)
    }

    /// `add_story` for a signature as `streams.neardup.encode_signature` packs it (native-endian u32s).
    fn add_packed_story(
        &mut self,
        story_id: &str,
        packed: &[u8],
        shingles: usize,
    ) -> PyResult<bool> {
        if !packed.len().is_multiple_of(4) {
            return Err(PyValueError::new_err(format!(
                "a packed signature of {} bytes is not a whole number of 32-bit values",
                packed.len()
            )));
        }
        let values = packed
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("chunks of 4")))
            .collect();
        Ok(self.insert_story(story_id, values, shingles))
    }

    /// A duplicate's bands that no story claimed yet now lead to its story (known already).
    fn add_bands(&mut self, story_id: &str, values: Vec<u32>) -> PyResult<()> {
        let Some(&story) = self.by_id.get(story_id) else {
            return Err(PyValueError::new_err(format!("unknown story {story_id:?}")));
        };
        if values.len() == self.num_bins {
            self.claim_free_bands(story, &values);
        }
        Ok(())
    }

    fn founded(&self, story_id: &str) -> bool {
        self.by_id.contains_key(story_id)
    }

    /// The most similar story among those sharing a band with `values`, and the estimated Jaccard
    /// similarity (share of equal bins); None without a candidate above 0. Ties go to the smaller
    /// story id. Exactly `streams.neardup.link`'s choice.
    fn best(&self, values: Vec<u32>) -> Option<(String, f64)> {
        if values.len() != self.num_bins {
            return None;
        }
        let mut best: Option<(u32, usize)> = None;
        let mut seen: Vec<u32> = Vec::new();
        for (band, rows) in Self::band_rows(&values).enumerate() {
            let Some(&story) = self.bands[band].get(&rows) else {
                continue;
            };
            if seen.contains(&story) {
                continue;
            }
            seen.push(story);
            let theirs = &self.signatures[story as usize];
            let equal = values
                .iter()
                .zip(theirs.iter())
                .filter(|(a, b)| a == b)
                .count();
            let better = match best {
                None => equal > 0,
                Some((current, score)) => {
                    equal > score
                        || (equal == score && self.ids[story as usize] < self.ids[current as usize])
                }
            };
            if better {
                best = Some((story, equal));
            }
        }
        best.map(|(story, equal)| {
            (
                self.ids[story as usize].to_string(),
                equal as f64 / self.num_bins as f64,
            )
        })
    }

    fn __len__(&self) -> usize {
        self.ids.len()
    }

    /// Band keys held (for tests and memory figures).
    fn band_count(&self) -> usize {
        self.bands.iter().map(|b| b.len()).sum()
    }
}

#[pymodule]
fn newswatch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MinHasher>()?;
    m.add_class::<SpanFinder>()?;
    m.add_class::<TermMatcher>()?;
    m.add_class::<StoryBands>()?;
    m.add_class::<tagger::TagEngine>()?;
    Ok(())
}
