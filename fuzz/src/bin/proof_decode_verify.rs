//! Proof files: `ModelProof::from_bytes_deferred`, then the verifier
//! (`proof::verify_with_checks`) against the verifying key of the shipped
//! `perceptron` model: committed weights (first byte 0 mod 3), public weights
//! (1 mod 3), or hidden weights (2 mod 3: either kind of file through
//! `AnyProof` and the zero-knowledge verifier); the rest of the input is the
//! proof file. Also `ModelProof::from_bytes`.
//! Any outcome but a panic is fine; a decoded proof that re-encodes differently
//! is a bug (the encoding is canonical).

use std::sync::OnceLock;

use zkinfer::keys::cache::PreparedModel;
use zkinfer::proof::{self, ModelProof, WeightVisibility};
use zkinfer::zk::model::AnyProof;
use zkinfer_fuzz::prepared;

fn model(visibility: WeightVisibility) -> &'static PreparedModel {
    static COMMITTED: OnceLock<PreparedModel> = OnceLock::new();
    static PUBLIC: OnceLock<PreparedModel> = OnceLock::new();
    static HIDDEN: OnceLock<PreparedModel> = OnceLock::new();
    let cell = match visibility {
        WeightVisibility::Committed => &COMMITTED,
        WeightVisibility::Public => &PUBLIC,
        WeightVisibility::Hidden => &HIDDEN,
    };
    cell.get_or_init(|| prepared("perceptron", visibility))
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&selector, bytes)) = data.split_first() else {
            return;
        };
        let visibility = match selector % 3 {
            0 => WeightVisibility::Committed,
            1 => WeightVisibility::Public,
            _ => WeightVisibility::Hidden,
        };
        let vk = &model(visibility).keys.pk.vk;
        if visibility == WeightVisibility::Hidden {
            // Either kind of file against a key with hidden weights.
            if let Ok((decoded, checks)) = AnyProof::from_bytes_deferred(bytes) {
                assert_eq!(
                    decoded.to_bytes(),
                    bytes,
                    "a decoded proof re-encodes to other bytes"
                );
                let _ = zkinfer::zk::model::verify_any(vk, decoded.input(), &decoded, checks);
            }
            return;
        }
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
