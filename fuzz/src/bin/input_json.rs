//! Input files in ezkl's `{"input_data": [[...]]}` form: `quant::read_input_json`
//! (bytes from a file, so also invalid UTF-8) and `quant::parse_input_json`,
//! then quantization of what parsed.

use std::path::Path;

use zkinfer::quant;
use zkinfer_fuzz::write_scratch;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let path = write_scratch("input.json", data);
        let from_file = quant::read_input_json(&path);
        if let Ok(text) = std::str::from_utf8(data) {
            let parsed = quant::parse_input_json(text, Path::new("input.json"));
            assert_eq!(parsed.is_ok(), from_file.is_ok());
            if let Ok(values) = parsed {
                for scale in [0, 8, 16, 30] {
                    let q = quant::quantize_input(&values, scale);
                    assert_eq!(q.len(), values.len());
                }
            }
        }
    });
}
