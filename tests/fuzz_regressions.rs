//! Inputs on which `fuzz/`'s AFL++ targets found a panic or an abort, each
//! answered with an error now. Files are in `tests/fuzz_regressions/`, as the
//! targets read them (see the "Fuzzing" section of the README).

use std::path::{Path, PathBuf};

use blake2::{Blake2b512, Digest};
use zkinfer::keys;
use zkinfer::onnx::{self, ImportOptions};
use zkinfer::pcs::setup::DEFAULT_SEED;
use zkinfer::pcs::DorySetup;

fn regression(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(name)
}

/// A `pk_decode` input: setup-size byte, then a proving-key file without its
/// checksum (the target appends it). The header's format version is set to
/// the current one first (and the header length after the magic adjusted to
/// its digits), so that each file keeps reaching the check it guards after a
/// format bump.
fn pk_decode(name: &str) -> Result<(), String> {
    let mut data = std::fs::read(regression(name)).expect("regression file");
    let at = data
        .windows(10)
        .position(|w| w == b"\"version\":")
        .expect("a key header")
        + 10;
    let digits = data[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let version = keys::KEY_FORMAT_VERSION.to_string();
    data.splice(at..at + digits, version.bytes());
    // Byte 0 is the setup size, then the 8-byte magic, then the header length.
    let len_at = 1 + 8;
    let header_len = u64::from_le_bytes(data[len_at..len_at + 8].try_into().expect("8 bytes"));
    let header_len = header_len + version.len() as u64 - digits as u64;
    data[len_at..len_at + 8].copy_from_slice(&header_len.to_le_bytes());
    let (&log, body) = data.split_first().expect("non-empty");
    let setup = DorySetup::derive(DEFAULT_SEED, 1 + usize::from(log % 8)).expect("setup");
    let mut file = body.to_vec();
    file.extend_from_slice(&Blake2b512::digest(body));
    keys::pk_from_bytes(Path::new(name), &file, setup.into())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The row-commitment count of a proving key was handed to arkworks' `Vec`
/// decoder, which allocated that many points first: "capacity overflow"
/// panics and multi-terabyte allocations.
#[test]
fn pk_row_count_is_checked_before_allocating() {
    for name in [
        "pk-rows-count-capacity-overflow.bin",
        "pk-rows-count-huge-allocation.bin",
    ] {
        let err = pk_decode(name).expect_err(name);
        assert!(err.contains("row commitment"), "{name}: {err}");
    }
}

/// A proving key whose node read an activation no node wrote (the fuzzer
/// rewired `sub` to write the output): it loaded, and inference indexed the
/// activation's empty values.
#[test]
fn pk_whose_node_reads_an_unwritten_tensor_is_rejected() {
    let err = pk_decode("pk-node-reads-unwritten-tensor.bin").expect_err("accepted");
    assert!(err.contains("invalid model"), "{err}");
}

/// The same for a weight without values (a committed verifying key's model
/// has none; a proving key's must), made by hand after the case above.
#[test]
fn pk_without_weight_values_is_rejected() {
    let err = pk_decode("pk-weights-missing.bin").expect_err("accepted");
    assert!(err.contains("weight"), "{err}");
}

/// ONNX files from `onnx_import` and `onnx_mutate`: tract-onnx panics on some
/// (a graph output naming no value, an out-of-range axis), and others imported
/// to IR models that do not validate (operands that do not broadcast, tensors
/// of 2^32+ elements).
#[test]
fn malformed_onnx_models_are_errors() {
    for name in [
        "onnx-output-names-no-value.onnx",
        "onnx-tract-expand-index.onnx",
        "onnx-tract-smallvec-index.onnx",
        "onnx-add-operands-do-not-broadcast.onnx",
        "onnx-input-too-large.onnx",
        "onnx-input-too-large-4d.onnx",
        // A dimension near 2^64: the element count overflowed in lowering.
        "onnx-shape-product-overflows.onnx",
    ] {
        let result = onnx::import(&regression(name), &ImportOptions::default());
        assert!(result.is_err(), "{name} imported");
    }
}
