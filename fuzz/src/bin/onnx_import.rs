//! ONNX files as bytes: `onnx::import` (tract-onnx parses, types and
//! declutters; zkinfer lowers to its quantized IR) of a scratch file holding
//! the input, then, for an imported model, integer inference on a zero input
//! and tract's f32 reference. `fuzz_nohook!`: the importer turns panics inside
//! tract into errors (`catch_unwind`), so only an uncaught panic is a crash.

use zkinfer::onnx::{self, ImportOptions};
use zkinfer_fuzz::{import_and_run, write_scratch};

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        let path = write_scratch("network.onnx", data);
        import_and_run(&path, &ImportOptions::default());
        let _ = onnx::model_name(&path);
    });
}
