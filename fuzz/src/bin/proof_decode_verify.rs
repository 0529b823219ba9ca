//! Proof files: `ModelProof::from_bytes_deferred`, then the verifier
//! (`proof::verify_with_checks`) against the verifying key of the shipped
//! `perceptron` model, committed weights (first byte even) or public weights
//! (odd); the rest of the input is the proof file. Also `ModelProof::from_bytes`.
//! Any outcome but a panic is fine; a decoded proof that re-encodes differently
//! is a bug (the encoding is canonical).

use std::sync::OnceLock;

use zkinfer::keys::cache::PreparedModel;
use zkinfer::proof::{self, ModelProof, WeightVisibility};
use zkinfer_fuzz::prepared;

fn model(visibility: WeightVisibility) -> &'static PreparedModel {
    static COMMITTED: OnceLock<PreparedModel> = OnceLock::new();
    static PUBLIC: OnceLock<PreparedModel> = OnceLock::new();
    let cell = match visibility {
        WeightVisibility::Committed => &COMMITTED,
        WeightVisibility::Public => &PUBLIC,
    };
    cell.get_or_init(|| prepared("perceptron", visibility))
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&selector, bytes)) = data.split_first() else {
            return;
        };
        let visibility = if selector % 2 == 0 {
            WeightVisibility::Committed
        } else {
            WeightVisibility::Public
        };
        let vk = &model(visibility).keys.pk.vk;
        let strict = ModelProof::from_bytes(bytes);
        match ModelProof::from_bytes_deferred(bytes) {
            Ok((decoded, checks)) => {
                assert_eq!(
                    decoded.to_bytes(),
                    bytes,
                    "a decoded proof re-encodes to other bytes"
                );
                let _ = proof::verify_with_checks(vk, &decoded.input, &decoded, checks);
            }
            Err(_) => assert!(
                strict.is_err(),
                "strict decoding accepts what deferred rejects"
            ),
        }
    });
}
