//! The conformance suite must fail on broken backends: each test plants one
//! realistic bug in an otherwise correct backend (the CPU one) and demands that
//! the matching check panics. This keeps the suite from decaying into checks
//! that cannot fail.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ff::{BigInteger, PrimeField};
use zkinfer::backend::{
    conformance, Backend, BackendError, BackendResult, BindSide, Capabilities, CpuBackend,
    DeviceInfo, ProductTerm, SmallScalars,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Full-scalar MSM drops the top 64-bit limb of every scalar.
    MsmG1TruncatedScalars,
    /// Small-scalar MSM ignores signs.
    MsmSmallIgnoresSign,
    /// G2 MSM skips the last point.
    MsmG2SkipsLast,
    /// Batched MSM returns its rows in reverse order.
    MsmBatchReversedRows,
    /// Small batched MSM loses its last row.
    MsmSmallBatchDropsRow,
    /// NTT ignores the coset.
    NttIgnoresCoset,
    /// NTT accepts a non-power-of-two size by reporting a different error.
    NttWrongError,
    /// INTT forgets the 1/n factor.
    InttUnscaled,
    /// eq-table with the variable order reversed.
    EqTableReversed,
    /// High binding done as low binding.
    BindHighAsLow,
    /// Inner product skips the last entry.
    InnerProductSkipsLast,
    /// Sumcheck round ignores term coefficients.
    SumcheckIgnoresCoeff,
    /// `fr_scale_add` computes `left + right·scalar`.
    FrScaleAddSwapped,
}

struct Faulty {
    cpu: CpuBackend,
    fault: Fault,
}

impl Faulty {
    fn new(fault: Fault) -> Self {
        Faulty {
            cpu: CpuBackend::default(),
            fault,
        }
    }
}

impl Backend for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn device(&self) -> DeviceInfo {
        self.cpu.device()
    }
    fn capabilities(&self) -> Capabilities {
        self.cpu.capabilities()
    }
    fn synchronize(&self) -> BackendResult<()> {
        Ok(())
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<G1Projective> {
        if self.fault == Fault::MsmG1TruncatedScalars {
            let truncated: Vec<Fr> = scalars
                .iter()
                .map(|s| {
                    let mut limbs = s.into_bigint();
                    limbs.0[3] = 0;
                    Fr::from_le_bytes_mod_order(&limbs.to_bytes_le())
                })
                .collect();
            return self.cpu.msm_g1(bases, &truncated);
        }
        self.cpu.msm_g1(bases, scalars)
    }

    fn msm_g1_small(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<G1Projective> {
        if self.fault == Fault::MsmSmallIgnoresSign {
            let abs: Vec<i64> = (0..values.len())
                .map(|i| values.get(i).unsigned_abs().min(i64::MAX as u64) as i64)
                .collect();
            return self.cpu.msm_g1_small(bases, SmallScalars::I64(&abs));
        }
        self.cpu.msm_g1_small(bases, values)
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> BackendResult<G2Projective> {
        if self.fault == Fault::MsmG2SkipsLast && bases.len() == scalars.len() && !bases.is_empty()
        {
            let n = bases.len() - 1;
            return self.cpu.msm_g2(&bases[..n], &scalars[..n]);
        }
        self.cpu.msm_g2(bases, scalars)
    }

    fn msm_g1_batch(&self, bases: &[G1Affine], scalars: &[Fr]) -> BackendResult<Vec<G1Projective>> {
        let mut rows = self.cpu.msm_g1_batch(bases, scalars)?;
        if self.fault == Fault::MsmBatchReversedRows {
            rows.reverse();
        }
        Ok(rows)
    }

    fn msm_g1_small_batch(
        &self,
        bases: &[G1Affine],
        values: SmallScalars<'_>,
    ) -> BackendResult<Vec<G1Projective>> {
        let mut rows = self.cpu.msm_g1_small_batch(bases, values)?;
        if self.fault == Fault::MsmSmallBatchDropsRow {
            rows.pop();
        }
        Ok(rows)
    }

    fn ntt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        match self.fault {
            Fault::NttIgnoresCoset => self.cpu.ntt(values, size, None),
            Fault::NttWrongError if size != 0 && !size.is_power_of_two() => {
                Err(BackendError::Unsupported {
                    op: "ntt",
                    reason: "size".into(),
                })
            }
            _ => self.cpu.ntt(values, size, coset),
        }
    }

    fn intt(&self, values: &mut [Fr], size: usize, coset: Option<Fr>) -> BackendResult<()> {
        self.cpu.intt(values, size, coset)?;
        if self.fault == Fault::InttUnscaled {
            let n = Fr::from(size as u64);
            values.iter_mut().for_each(|v| *v *= n);
        }
        Ok(())
    }

    fn eq_table(&self, point: &[Fr]) -> BackendResult<Vec<Fr>> {
        if self.fault == Fault::EqTableReversed {
            let reversed: Vec<Fr> = point.iter().rev().copied().collect();
            return self.cpu.eq_table(&reversed);
        }
        self.cpu.eq_table(point)
    }

    fn bind(&self, values: &mut Vec<Fr>, r: Fr, side: BindSide) -> BackendResult<()> {
        let side = if self.fault == Fault::BindHighAsLow {
            BindSide::Low
        } else {
            side
        };
        self.cpu.bind(values, r, side)
    }

    fn inner_product(&self, a: &[Fr], b: &[Fr]) -> BackendResult<Fr> {
        if self.fault == Fault::InnerProductSkipsLast && a.len() == b.len() && !a.is_empty() {
            let n = a.len() - 1;
            return self.cpu.inner_product(&a[..n], &b[..n]);
        }
        self.cpu.inner_product(a, b)
    }

    fn sumcheck_round(
        &self,
        mles: &[&[Fr]],
        terms: &[ProductTerm],
        degree: usize,
    ) -> BackendResult<Vec<Fr>> {
        if self.fault == Fault::SumcheckIgnoresCoeff {
            let ones: Vec<ProductTerm> = terms
                .iter()
                .map(|t| ProductTerm::product(t.factors.clone()))
                .collect();
            return self.cpu.sumcheck_round(mles, &ones, degree);
        }
        self.cpu.sumcheck_round(mles, terms, degree)
    }

    fn fr_scale_add(&self, left: &mut [Fr], right: &[Fr], scalar: &Fr) {
        if self.fault == Fault::FrScaleAddSwapped {
            left.iter_mut()
                .zip(right)
                .for_each(|(l, r)| *l += *r * scalar);
            return;
        }
        self.cpu.fr_scale_add(left, right, scalar)
    }
}

fn assert_caught(fault: Fault, check: fn(&Faulty)) {
    let backend = Faulty::new(fault);
    let outcome = catch_unwind(AssertUnwindSafe(|| check(&backend)));
    assert!(outcome.is_err(), "the suite did not detect {fault:?}");
}

#[test]
fn detects_msm_faults() {
    assert_caught(Fault::MsmG1TruncatedScalars, conformance::check_msm_g1);
    assert_caught(Fault::MsmSmallIgnoresSign, conformance::check_msm_g1_small);
    assert_caught(Fault::MsmG2SkipsLast, conformance::check_msm_g2);
    assert_caught(Fault::MsmBatchReversedRows, conformance::check_msm_g1_batch);
    assert_caught(
        Fault::MsmSmallBatchDropsRow,
        conformance::check_msm_g1_small_batch,
    );
}

#[test]
fn detects_ntt_faults() {
    assert_caught(Fault::NttIgnoresCoset, conformance::check_ntt);
    assert_caught(Fault::NttWrongError, conformance::check_ntt);
    assert_caught(Fault::InttUnscaled, conformance::check_intt);
}

#[test]
fn detects_multilinear_faults() {
    assert_caught(Fault::EqTableReversed, conformance::check_eq_table);
    assert_caught(Fault::BindHighAsLow, conformance::check_bind);
    assert_caught(
        Fault::InnerProductSkipsLast,
        conformance::check_inner_product,
    );
    assert_caught(
        Fault::SumcheckIgnoresCoeff,
        conformance::check_sumcheck_round,
    );
    assert_caught(Fault::FrScaleAddSwapped, conformance::check_scale_ops);
}

/// The faulty wrapper itself is correct when no fault is planted in the
/// primitive being checked (so the detections above are the planted bugs).
#[test]
fn unrelated_fault_passes() {
    conformance::check_inner_product(&Faulty::new(Fault::NttIgnoresCoset));
    conformance::check_ntt(&Faulty::new(Fault::InnerProductSkipsLast));
}
