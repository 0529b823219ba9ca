//! Verifying-key files: `keys::vk_from_bytes`, and `keys::read_vk_over_public_setup`
//! (what `zkinfer verify --vk` does), then the verifier with that key on the
//! shipped `perceptron` seed proofs. The input is a key file without its
//! trailing Blake2b-512 checksum, which the target appends (a fuzzer cannot
//! find one by itself), so mutations reach the header, the model validation,
//! the Dory verifier setup and the verifier.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use zkinfer::keys::{self, cache::Setups};
use zkinfer::proof::{self, ModelProof};
use zkinfer_fuzz::{with_checksum, work_dir, write_scratch};

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
        static SETUPS: OnceLock<Mutex<Setups>> = OnceLock::new();
        let file = with_checksum(data);
        let parsed = keys::vk_from_bytes(Path::new("fuzz.vk"), &file);
        let path = write_scratch("vk.bin", &file);
        let mut setups = SETUPS
            .get_or_init(|| Mutex::new(Setups::new(work_dir().join("setups"))))
            .lock()
            .expect("setups");
        let public = keys::read_vk_over_public_setup(&path, &mut setups);
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
