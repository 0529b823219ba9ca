//! Proving-key files: `keys::pk_from_bytes` over the public Dory setup. The
//! first input byte is the setup size (2^(1 + b % 8) generators, which must
//! match the key's header); the rest is a key file without its trailing
//! Blake2b-512 checksum, which the target appends. A key that parses is
//! re-encoded and its model run on a zero input.

use std::path::Path;

use zkinfer::keys;
use zkinfer_fuzz::{public_setup, run_small, with_checksum};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&log, body)) = data.split_first() else {
            return;
        };
        let setup = public_setup(1 + usize::from(log % 8));
        let file = with_checksum(body);
        if let Ok(pk) = keys::pk_from_bytes(Path::new("fuzz.pk"), &file, setup) {
            run_small(&pk.model);
            let _ = keys::pk_to_bytes(&pk);
        }
    });
}
