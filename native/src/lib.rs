//! Compiled versions of the Faust stage's hottest pure-Python loops.
//!
//! Optional by design: `streams` uses this module when it is installed and its own Python code
//! otherwise, and both must give identical results (workers with and without it share state).
//! `tests/unit/test_native.py` checks that on thousands of texts.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;

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
            let token = token.downcast::<PyString>()?;
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

#[pymodule]
fn newswatch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MinHasher>()?;
    Ok(())
}
