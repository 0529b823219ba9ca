//! ONNX files as bytes: `onnx::import` (tract-onnx parses, types and
//! declutters; zkinfer lowers to its quantized IR) of a scratch file holding
//! the input, then, for an imported model, integer inference on a zero input
//! and tract's f32 reference.

use zkinfer::onnx::{self, ImportOptions};
use zkinfer_fuzz::{import_and_run, write_scratch};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let path = write_scratch("network.onnx", data);
        import_and_run(&path, &ImportOptions::default());
        let _ = onnx::model_name(&path);
    });
}
