//! Precomputed tables for fixed bases (Dory's generators Γ₁, Γ₂), and the two
//! operations Dory's prover runs on them: one scalar times every base
//! (`v += β·Γ`) and an MSM (`E₁β = ⟨Γ₁, s₂⟩`, `E₂β = ⟨Γ₂, s₁⟩`).
//!
//! A scalar k is split by GLV into two ~128-bit halves and each half is
//! recoded in width-4 NAF; the digits are cut into [`CHUNKS`] runs of
//! [`SPACING`] positions. With the tables holding the odd multiples
//! {1, 3, 5, 7}·2^(SPACING·j)·P (and their endomorphism images) in affine form,
//! k·P needs only SPACING doublings and about 53 mixed additions, against ~128
//! doublings and ~52 additions (plus building and normalising a table) without
//! them: about 1.9x fewer field operations per G2 multiplication (by operation
//! count).
//!
//! Tables hold 32 affine points per base: 2 KiB per G1 base, 4 KiB per G2 base
//! (6 MiB for the 2^10 bases of a 2^20-entry opening). They are computed in
//! the process from the bases (never read from disk) and built only for the
//! prefix a layout uses; building one costs about 100 doublings and a dozen
//! additions, roughly 0.6 of a scalar multiplication (by operation count), and
//! an opening multiplies each base about twice.

use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::CurveGroup;
use ark_ff::{AdditiveGroup, BigInteger, PrimeField, Zero};
use rayon::prelude::*;

/// Digit runs per GLV half.
pub const CHUNKS: usize = 4;
/// NAF positions per run (4 runs of 33 cover the ≤ 129 digits of a GLV half).
pub const SPACING: usize = 33;
/// NAF width.
const WINDOW: usize = 4;
/// Odd multiples per sub-base.
const ODD: usize = 1 << (WINDOW - 2);
/// Affine points per base: two GLV halves × CHUNKS sub-bases × ODD multiples.
const PER_BASE: usize = 2 * CHUNKS * ODD;
/// Bases per rayon task when building tables or multiplying.
const TASK: usize = 32;

/// Fixed bases with their tables.
#[derive(Debug, Clone)]
pub struct FixedBases<P: GLVConfig> {
    points: Vec<Affine<P>>,
    tables: Vec<Affine<P>>,
}

impl<P: GLVConfig> Default for FixedBases<P> {
    fn default() -> Self {
        FixedBases {
            points: Vec::new(),
            tables: Vec::new(),
        }
    }
}

/// One addition of the shared schedule: table entry `index`, negated or not.
#[derive(Debug, Clone, Copy)]
struct Add {
    index: usize,
    negative: bool,
}

/// NAF digits of both GLV halves of `k`, signs folded in; `None` if a half has
/// more digits than the tables cover (never for BN254's decomposition, whose
/// halves have at most 128 bits).
fn recode<P: GLVConfig>(k: &P::ScalarField) -> Option<[Vec<i64>; 2]>
where
    P::ScalarField: PrimeField,
{
    let ((positive_1, k1), (positive_2, k2)) = P::scalar_decomposition(*k);
    let naf = |k: P::ScalarField, positive: bool| -> Option<Vec<i64>> {
        let mut d = k.into_bigint().find_wnaf(WINDOW)?;
        if !positive {
            d.iter_mut().for_each(|x| *x = -*x);
        }
        (d.len() <= CHUNKS * SPACING).then_some(d)
    };
    Some([naf(k1, positive_1)?, naf(k2, positive_2)?])
}

/// The additions at each step (step `SPACING - 1` first) for digits `naf`.
fn schedule(naf: &[Vec<i64>; 2]) -> Vec<Vec<Add>> {
    (0..SPACING)
        .rev()
        .map(|t| {
            let mut adds = Vec::new();
            for (half, digits) in naf.iter().enumerate() {
                for chunk in 0..CHUNKS {
                    let d = digits.get(chunk * SPACING + t).copied().unwrap_or(0);
                    if d != 0 {
                        adds.push(Add {
                            index: (half * CHUNKS + chunk) * ODD
                                + (d.unsigned_abs() as usize - 1) / 2,
                            negative: d < 0,
                        });
                    }
                }
            }
            adds
        })
        .collect()
}

impl<P> FixedBases<P>
where
    P: GLVConfig,
    P::ScalarField: PrimeField,
{
    /// Tables for `points`.
    pub fn new(points: &[Affine<P>]) -> Self {
        let mut bases = FixedBases::default();
        bases.extend(points);
        bases
    }

    /// Appends `points` (and their tables) after the bases held.
    pub fn extend(&mut self, points: &[Affine<P>]) {
        let tables: Vec<Affine<P>> = points
            .par_chunks(TASK)
            .flat_map_iter(|chunk| {
                let mut odd = Vec::with_capacity(chunk.len() * CHUNKS * ODD);
                for p in chunk {
                    let mut q = Projective::<P>::from(*p);
                    for chunk_index in 0..CHUNKS {
                        if chunk_index > 0 {
                            for _ in 0..SPACING {
                                q.double_in_place();
                            }
                        }
                        let double = q.double();
                        let mut m = q;
                        odd.push(m);
                        for _ in 1..ODD {
                            m += double;
                            odd.push(m);
                        }
                    }
                }
                let odd = Projective::normalize_batch(&odd);
                let half = CHUNKS * ODD;
                odd.chunks(half)
                    .flat_map(|own| {
                        let endo: Vec<Affine<P>> = own.iter().map(P::endomorphism_affine).collect();
                        own.iter().copied().chain(endo).collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.points.extend_from_slice(points);
        self.tables.extend(tables);
    }

    /// Number of bases.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether there are no bases.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The bases themselves.
    pub fn points(&self) -> &[Affine<P>] {
        &self.points
    }

    fn table(&self, i: usize) -> &[Affine<P>] {
        &self.tables[i * PER_BASE..(i + 1) * PER_BASE]
    }

    /// `[k·bases[i] for i < count]`.
    pub fn mul_same_scalar(&self, count: usize, k: &P::ScalarField) -> Vec<Projective<P>> {
        assert!(
            count <= self.len(),
            "FixedBases: {count} bases asked, {} held",
            self.len()
        );
        let Some(naf) = recode::<P>(k) else {
            let points: Vec<Projective<P>> =
                self.points[..count].iter().map(|p| (*p).into()).collect();
            return super::group_ops::mul_same_scalar(&points, k);
        };
        let steps = schedule(&naf);
        (0..count)
            .into_par_iter()
            .with_min_len(TASK)
            .map(|i| {
                let table = self.table(i);
                let mut acc = Projective::<P>::zero();
                for adds in &steps {
                    acc.double_in_place();
                    for add in adds {
                        if add.negative {
                            acc -= &table[add.index];
                        } else {
                            acc += &table[add.index];
                        }
                    }
                }
                acc
            })
            .collect()
    }

    /// `Σ_{i < scalars.len()} scalars[i]·bases[i]`.
    pub fn msm(&self, scalars: &[P::ScalarField]) -> Projective<P> {
        assert!(
            scalars.len() <= self.len(),
            "FixedBases: {} scalars for {} bases",
            scalars.len(),
            self.len()
        );
        let threads = rayon::current_num_threads().max(1);
        let task = scalars.len().div_ceil(threads).max(TASK);
        scalars
            .par_chunks(task)
            .enumerate()
            .map(|(c, chunk)| {
                let first = c * task;
                let mut slow = Projective::<P>::zero();
                let mut digits = Vec::with_capacity(chunk.len());
                for (j, k) in chunk.iter().enumerate() {
                    match recode::<P>(k) {
                        Some(naf) => digits.push((first + j, naf)),
                        None => slow += self.points[first + j] * k,
                    }
                }
                let mut acc = Projective::<P>::zero();
                for t in (0..SPACING).rev() {
                    acc.double_in_place();
                    for (i, naf) in &digits {
                        let table = self.table(*i);
                        for (half, d) in naf.iter().enumerate() {
                            for chunk_index in 0..CHUNKS {
                                let d = d.get(chunk_index * SPACING + t).copied().unwrap_or(0);
                                if d != 0 {
                                    let index = (half * CHUNKS + chunk_index) * ODD
                                        + (d.unsigned_abs() as usize - 1) / 2;
                                    if d < 0 {
                                        acc -= &table[index];
                                    } else {
                                        acc += &table[index];
                                    }
                                }
                            }
                        }
                    }
                }
                acc + slow
            })
            .reduce(Projective::<P>::zero, |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Projective, G2Projective};
    use ark_ff::One;
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn check<P>(points: Vec<Projective<P>>, rng: &mut ChaCha20Rng)
    where
        P: GLVConfig,
        P::ScalarField: PrimeField,
    {
        let affine = Projective::normalize_batch(&points);
        let mut bases = FixedBases::new(&affine[..points.len() / 2]);
        bases.extend(&affine[points.len() / 2..]);
        let mut scalars: Vec<P::ScalarField> = (0..points.len())
            .map(|_| P::ScalarField::rand(rng))
            .collect();
        scalars[0] = P::ScalarField::zero();
        scalars[1] = -P::ScalarField::one();
        for k in scalars.iter().take(4) {
            let got = bases.mul_same_scalar(points.len() - 1, k);
            for (p, g) in points.iter().zip(got) {
                assert_eq!(g, *p * k);
            }
        }
        for len in [0, 1, 5, points.len()] {
            let naive: Projective<P> = points[..len]
                .iter()
                .zip(&scalars)
                .map(|(p, k)| *p * k)
                .sum();
            assert_eq!(bases.msm(&scalars[..len]), naive);
        }
    }

    #[test]
    fn fixed_bases_match_naive() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut g1: Vec<G1Projective> = (0..70).map(|_| G1Projective::rand(&mut rng)).collect();
        g1[3] = G1Projective::zero();
        check(g1, &mut rng);
        let g2: Vec<G2Projective> = (0..40).map(|_| G2Projective::rand(&mut rng)).collect();
        check(g2, &mut rng);
        let _ = Fr::one();
    }
}
