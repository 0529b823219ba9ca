//! Byte layouts shared with the WGSL kernels, and conversions between them and
//! arkworks types.
//!
//! - Fr and Fq elements: arkworks' four little-endian u64 Montgomery limbs, written
//!   as eight little-endian u32 words (32 bytes). No Montgomery conversion happens
//!   on the host: the GPU computes on the same representation.
//! - Affine G1 bases: x then y (64 bytes), the identity as (0, 0).
//! - Jacobian G1 points: X, Y, Z (96 bytes), exactly arkworks' `G1Projective`.
//!
//! Values read back are rebuilt with `new_unchecked`, which is sound because every
//! kernel returns fully reduced field elements (tested against arkworks).

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ff::BigInt;
use rayon::prelude::*;

/// Bytes of one field element on the GPU.
pub const FIELD_BYTES: usize = 32;
/// Bytes of one affine base.
pub const AFFINE_BYTES: usize = 64;
/// Bytes of one Jacobian point.
pub const JACOBIAN_BYTES: usize = 96;

/// Elements per rayon task in the conversions.
const PAR_CHUNK: usize = 1 << 12;

fn put_limbs(out: &mut [u8], limbs: &[u64; 4]) {
    for (dst, limb) in out.chunks_exact_mut(8).zip(limbs) {
        dst.copy_from_slice(&limb.to_le_bytes());
    }
}

fn get_limbs(bytes: &[u8]) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (limb, src) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(src);
        *limb = u64::from_le_bytes(word);
    }
    limbs
}

/// Field elements as GPU bytes (their Montgomery limbs, unchanged).
pub fn fr_bytes(values: &[Fr]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * FIELD_BYTES];
    out.par_chunks_mut(FIELD_BYTES * PAR_CHUNK)
        .zip(values.par_chunks(PAR_CHUNK))
        .for_each(|(dst, src)| {
            for (d, v) in dst.chunks_exact_mut(FIELD_BYTES).zip(src) {
                put_limbs(d, &v.0 .0);
            }
        });
    out
}

/// Writes field elements as GPU bytes into `out` (exactly `values.len()·32` bytes).
pub fn write_fr_bytes(out: &mut [u8], values: &[Fr]) {
    debug_assert_eq!(out.len(), values.len() * FIELD_BYTES);
    out.par_chunks_mut(FIELD_BYTES * PAR_CHUNK)
        .zip(values.par_chunks(PAR_CHUNK))
        .for_each(|(dst, src)| {
            for (d, v) in dst.chunks_exact_mut(FIELD_BYTES).zip(src) {
                put_limbs(d, &v.0 .0);
            }
        });
}

/// One field element as eight u32 words (for kernel parameters).
pub fn fr_words(value: &Fr) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (i, limb) in value.0 .0.iter().enumerate() {
        words[2 * i] = *limb as u32;
        words[2 * i + 1] = (*limb >> 32) as u32;
    }
    words
}

/// GPU bytes back to field elements.
pub fn fr_from_bytes(bytes: &[u8]) -> Vec<Fr> {
    bytes
        .par_chunks(FIELD_BYTES * PAR_CHUNK)
        .flat_map_iter(|chunk| {
            chunk
                .chunks_exact(FIELD_BYTES)
                .map(|b| Fr::new_unchecked(BigInt(get_limbs(b))))
        })
        .collect()
}

/// Affine bases as GPU bytes; the identity becomes (0, 0).
pub fn affine_bytes(points: &[G1Affine]) -> Vec<u8> {
    let mut out = vec![0u8; points.len() * AFFINE_BYTES];
    out.par_chunks_mut(AFFINE_BYTES * PAR_CHUNK)
        .zip(points.par_chunks(PAR_CHUNK))
        .for_each(|(dst, src)| {
            for (d, p) in dst.chunks_exact_mut(AFFINE_BYTES).zip(src) {
                if !p.infinity {
                    put_limbs(&mut d[..32], &p.x.0 .0);
                    put_limbs(&mut d[32..], &p.y.0 .0);
                }
            }
        });
    out
}

/// GPU bytes of Jacobian points back to arkworks points.
pub fn jacobian_from_bytes(bytes: &[u8]) -> Vec<G1Projective> {
    bytes
        .chunks_exact(JACOBIAN_BYTES)
        .map(|b| {
            let x = Fq::new_unchecked(BigInt(get_limbs(&b[..32])));
            let y = Fq::new_unchecked(BigInt(get_limbs(&b[32..64])));
            let z = Fq::new_unchecked(BigInt(get_limbs(&b[64..])));
            G1Projective::new_unchecked(x, y, z)
        })
        .collect()
}

/// Jacobian points as GPU bytes (for tests of the curve formulas).
pub fn jacobian_bytes(points: &[G1Projective]) -> Vec<u8> {
    let mut out = vec![0u8; points.len() * JACOBIAN_BYTES];
    for (d, p) in out.chunks_exact_mut(JACOBIAN_BYTES).zip(points) {
        put_limbs(&mut d[..32], &p.x.0 .0);
        put_limbs(&mut d[32..64], &p.y.0 .0);
        put_limbs(&mut d[64..], &p.z.0 .0);
    }
    out
}

/// Little-endian bytes of u32 words.
pub fn u32_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// u32 words of little-endian bytes (the length is a multiple of 4).
pub fn u32_from_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::{One, Zero};

    #[test]
    fn field_bytes_round_trip() {
        let values = vec![Fr::zero(), Fr::one(), -Fr::one(), Fr::from(12345u64)];
        assert_eq!(fr_from_bytes(&fr_bytes(&values)), values);
        let words = fr_words(&Fr::one());
        let bytes = fr_bytes(&[Fr::one()]);
        assert_eq!(u32_from_bytes(&bytes), words.to_vec());
    }

    #[test]
    fn points_round_trip() {
        let p = G1Projective::generator() * Fr::from(77u64);
        let q = G1Projective::zero();
        assert_eq!(jacobian_from_bytes(&jacobian_bytes(&[p, q])), vec![p, q]);
        let affine = [p.into_affine(), G1Affine::identity()];
        let bytes = affine_bytes(&affine);
        assert!(bytes[64..].iter().all(|b| *b == 0));
        assert_eq!(&bytes[..32], &fr_like(&affine[0].x.0 .0)[..]);
    }

    fn fr_like(limbs: &[u64; 4]) -> Vec<u8> {
        limbs.iter().flat_map(|l| l.to_le_bytes()).collect()
    }
}
