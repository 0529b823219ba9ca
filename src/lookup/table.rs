//! Lookup tables: which rows exist, how a query finds its row, and how the
//! verifier evaluates a table column's MLE.
//!
//! Range and ReLU tables have closed-form MLEs the verifier evaluates in O(log n);
//! function tables (≤ 2^16 rows given by their values) are evaluated directly.

use std::collections::HashMap;

use ark_bn254::Fr;
use ark_ff::Zero;

use super::LookupError;
use crate::pcs::poly::small_to_field;
use crate::transcript::ProofTranscript;

/// Largest function table (rows).
pub const MAX_FUNCTION_ROWS: usize = 1 << 16;
/// Largest range table (bits).
pub const MAX_RANGE_BITS: u32 = 24;

/// A lookup table. Rows are tuples of `arity()` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Single values `0, 1, …, 2^bits − 1`.
    UnsignedRange { bits: u32 },
    /// Single values `−2^(bits−1), …, 2^(bits−1) − 1` (row i holds i − 2^(bits−1)).
    SignedRange { bits: u32 },
    /// Pairs `(x, max(x, 0))` for x in the signed range of `bits` bits.
    Relu { bits: u32 },
    /// Arbitrary rows given by their values: `columns[c][i]` is column c of row i.
    /// The number of rows must be a power of two ≤ 2^16.
    Function { columns: Vec<Vec<i64>> },
}

impl Table {
    /// Checks the table's parameters.
    pub fn validate(&self) -> Result<(), LookupError> {
        let bad = |reason: String| Err(LookupError::BadTable(reason));
        match self {
            Table::UnsignedRange { bits } | Table::SignedRange { bits } | Table::Relu { bits } => {
                if *bits == 0 || *bits > MAX_RANGE_BITS {
                    return bad(format!("{bits} bits; expected 1..={MAX_RANGE_BITS}"));
                }
            }
            Table::Function { columns } => {
                let Some(first) = columns.first() else {
                    return bad("a function table needs at least one column".into());
                };
                let rows = first.len();
                if rows == 0 || !rows.is_power_of_two() || rows > MAX_FUNCTION_ROWS {
                    return bad(format!(
                        "{rows} rows; a function table needs a power of two up to {MAX_FUNCTION_ROWS}"
                    ));
                }
                if columns.iter().any(|c| c.len() != rows) {
                    return bad("function table columns differ in length".into());
                }
            }
        }
        Ok(())
    }

    /// Values per row.
    pub fn arity(&self) -> usize {
        match self {
            Table::UnsignedRange { .. } | Table::SignedRange { .. } => 1,
            Table::Relu { .. } => 2,
            Table::Function { columns } => columns.len(),
        }
    }

    /// log2 of the number of rows.
    pub fn num_vars(&self) -> usize {
        match self {
            Table::UnsignedRange { bits } | Table::SignedRange { bits } | Table::Relu { bits } => {
                *bits as usize
            }
            Table::Function { columns } => columns[0].len().trailing_zeros() as usize,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        1 << self.num_vars()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Row `i`, column `c`, as an integer.
    pub fn value(&self, c: usize, i: usize) -> i64 {
        match self {
            Table::UnsignedRange { .. } => i as i64,
            Table::SignedRange { bits } => i as i64 - (1i64 << (bits - 1)),
            Table::Relu { bits } => {
                let x = i as i64 - (1i64 << (bits - 1));
                if c == 0 {
                    x
                } else {
                    x.max(0)
                }
            }
            Table::Function { columns } => columns[c][i],
        }
    }

    /// Column `c` as field elements (the prover's view).
    pub fn column(&self, c: usize) -> Vec<Fr> {
        (0..self.len())
            .map(|i| small_to_field(self.value(c, i)))
            .collect()
    }

    /// The MLE of column `c` at `point` (`point.len() == num_vars()`).
    pub fn evaluate_column(&self, c: usize, point: &[Fr]) -> Fr {
        // Σ_j 2^j r_j: the MLE of the row index.
        let index_mle = |r: &[Fr]| {
            r.iter()
                .enumerate()
                .map(|(j, x)| Fr::from(1u64 << j) * x)
                .sum::<Fr>()
        };
        match self {
            Table::UnsignedRange { .. } => index_mle(point),
            Table::SignedRange { bits } => index_mle(point) - Fr::from(1u64 << (bits - 1)),
            Table::Relu { bits } => {
                let offset = Fr::from(1u64 << (bits - 1));
                if c == 0 {
                    index_mle(point) - offset
                } else {
                    // Rows with the top bit set hold x = low bits ≥ 0; the others 0.
                    let k = *bits as usize;
                    point[k - 1] * index_mle(&point[..k - 1])
                }
            }
            Table::Function { columns } => {
                // Direct evaluation: Σ_i eq(point, i)·T[i].
                let eq = crate::backend::cpu::multilinear::eq_table(point, 1 << 12);
                eq.iter()
                    .zip(&columns[c])
                    .filter(|(_, &t)| t != 0)
                    .map(|(e, &t)| *e * small_to_field(t))
                    .sum()
            }
        }
    }

    /// The row holding `tuple`, if any.
    fn row_of(&self, tuple: &[i64], index: Option<&HashMap<Vec<i64>, usize>>) -> Option<usize> {
        match self {
            Table::UnsignedRange { bits } => {
                (tuple[0] >= 0 && tuple[0] < 1i64 << bits).then_some(tuple[0] as usize)
            }
            Table::SignedRange { bits } => {
                let half = 1i64 << (bits - 1);
                (-half..half)
                    .contains(&tuple[0])
                    .then_some((tuple[0] + half) as usize)
            }
            Table::Relu { bits } => {
                let half = 1i64 << (bits - 1);
                ((-half..half).contains(&tuple[0]) && tuple[1] == tuple[0].max(0))
                    .then_some((tuple[0] + half) as usize)
            }
            Table::Function { .. } => index.and_then(|m| m.get(tuple).copied()),
        }
    }

    /// How often each row is queried. `queries[c][j]` is column c of query j.
    /// A query that is not a row is an error naming it.
    pub fn multiplicities(&self, queries: &[Vec<i64>]) -> Result<Vec<u64>, LookupError> {
        self.validate()?;
        if queries.len() != self.arity() {
            return Err(LookupError::Arity {
                table: self.arity(),
                queries: queries.len(),
            });
        }
        let n = queries[0].len();
        if queries.iter().any(|q| q.len() != n) {
            return Err(LookupError::BadQueries(
                "query columns differ in length".into(),
            ));
        }
        let index = match self {
            Table::Function { .. } => {
                let mut map = HashMap::with_capacity(self.len());
                for i in 0..self.len() {
                    let row: Vec<i64> = (0..self.arity()).map(|c| self.value(c, i)).collect();
                    map.entry(row).or_insert(i);
                }
                Some(map)
            }
            _ => None,
        };
        let mut counts = vec![0u64; self.len()];
        let mut tuple = vec![0i64; self.arity()];
        for j in 0..n {
            for (c, column) in queries.iter().enumerate() {
                tuple[c] = column[j];
            }
            match self.row_of(&tuple, index.as_ref()) {
                Some(i) => counts[i] += 1,
                None => {
                    return Err(LookupError::NotInTable {
                        query: j,
                        values: tuple.clone(),
                    })
                }
            }
        }
        Ok(counts)
    }

    /// Multiplicities over several query sets (summed): one vector per table.
    pub fn multiplicities_of_sets(&self, sets: &[Vec<Vec<i64>>]) -> Result<Vec<u64>, LookupError> {
        let mut total = vec![0u64; self.len()];
        for set in sets {
            for (t, m) in total.iter_mut().zip(self.multiplicities(set)?) {
                *t += m;
            }
        }
        Ok(total)
    }

    /// Absorbs a description that fixes the table.
    pub fn absorb(&self, transcript: &mut ProofTranscript) {
        match self {
            Table::UnsignedRange { bits } => {
                transcript.append_message(b"lookup/table", b"unsigned-range");
                transcript.append_u64(b"lookup/bits", *bits as u64);
            }
            Table::SignedRange { bits } => {
                transcript.append_message(b"lookup/table", b"signed-range");
                transcript.append_u64(b"lookup/bits", *bits as u64);
            }
            Table::Relu { bits } => {
                transcript.append_message(b"lookup/table", b"relu");
                transcript.append_u64(b"lookup/bits", *bits as u64);
            }
            Table::Function { columns } => {
                transcript.append_message(b"lookup/table", b"function");
                let mut bytes = Vec::with_capacity(8 * columns.len() * columns[0].len());
                for column in columns {
                    for v in column {
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
                transcript.append_u64(b"lookup/arity", columns.len() as u64);
                transcript.append_message(b"lookup/rows", &bytes);
            }
        }
    }
}

/// `Σ_c β^c · values[c]`.
pub fn fold(values: &[Fr], beta: Fr) -> Fr {
    values
        .iter()
        .rev()
        .fold(Fr::zero(), |acc, v| acc * beta + v)
}
