//! Verifying-key files: `keys::vk_from_bytes`, and `keys::read_vk_over_public_setup`
//! (what `zkinfer verify --vk` does), then the verifier with that key on the
//! shipped `perceptron` seed proofs. The input is a key file without its
//! trailing Blake2b-512 checksum, which the target appends (a fuzzer cannot
//! find one by itself), so mutations reach the header, the model validation,
//! the Dory verifier setup and the verifier.

use std::path::Path;
use std::sync::OnceLock;

use zkinfer::keys;
use zkinfer::proof::{self, ModelProof};
use zkinfer_fuzz::{with_checksum, write_scratch};

/// The committed and public seed proofs (after their selector byte), when they
/// still decode.
fn proofs() -> &'static [ModelProof] {
    static PROOFS: OnceLock<Vec<ModelProof>> = OnceLock::new();
    PROOFS.get_or_init(|| {
        [
            &include_bytes!("../../corpus/proof_decode_verify/perceptron-committed.proof")[1..],
            &include_bytes!("../../corpus/proof_decode_verify/perceptron-public.proof")[1..],
        ]
        .iter()
        .filter_map(|b| ModelProof::from_bytes(b).ok())
        .collect()
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let file = with_checksum(data);
        let parsed = keys::vk_from_bytes(Path::new("fuzz.vk"), &file);
        let path = write_scratch("vk.bin", &file);
        let public = keys::read_vk_over_public_setup(&path);
        assert!(
            parsed.is_ok() || public.is_err(),
            "accepted over the public setup only"
        );
        if let Ok(vk) = parsed {
            let _ = keys::vk_to_bytes(&vk);
        }
        if let Ok(vk) = public {
            for p in proofs() {
                let _ = proof::verify(&vk, &p.input, p);
            }
        }
    });
}
