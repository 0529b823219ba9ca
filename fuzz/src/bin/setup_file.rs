//! Dory setup files: `DorySetup::read_file` (what `load_or_derive` does with a
//! cached file). The input is a setup file; the target rewrites its payload
//! checksum (bytes 88..152) so that mutations reach the decoders, writes it to
//! a scratch file and reads it back for the public seed, at the size the file
//! states when that is at most 2^8 (else 2^2, which the header then
//! contradicts).

use zkinfer::pcs::setup::DEFAULT_SEED;
use zkinfer::pcs::DorySetup;
use zkinfer_fuzz::{fix_setup_checksum, write_scratch};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut bytes = data.to_vec();
        fix_setup_checksum(&mut bytes);
        let stated = bytes
            .get(8..16)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .filter(|&log| log <= 8)
            .unwrap_or(2) as usize;
        let path = write_scratch("setup.bin", &bytes);
        if let Ok(setup) = DorySetup::read_file(&path, DEFAULT_SEED, stated) {
            assert_eq!(setup.log_generators, stated);
        }
    });
}
