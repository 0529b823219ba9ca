//! Structurally mutated ONNX models: a shipped model (first input byte picks
//! it) decoded into tract-onnx's protobuf types, edited by the rest of the
//! input read as 4-byte commands `[edit, a, b, c]` (change a dimension, an op
//! type, an attribute, an initializer's shape, type or data; drop, duplicate
//! or swap nodes; rewire an input or output; ...), encoded again and imported
//! as [`onnx_import`](onnx_import.rs) does. Reaches the importer's checks with
//! models that tract still parses, which byte-level mutation rarely does.
//! `fuzz_nohook!` as in `onnx_import`: panics the importer catches are errors.

use prost::Message;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{type_proto, AttributeProto, GraphProto, ModelProto, TensorProto};
use zkinfer::onnx::ImportOptions;
use zkinfer_fuzz::{import_and_run, write_scratch};

const MODELS: [&[u8]; 5] = [
    include_bytes!("../../../models/addsubmul0/network.onnx"),
    include_bytes!("../../../models/addsubmul1/network.onnx"),
    include_bytes!("../../../models/perceptron/network.onnx"),
    include_bytes!("../../../models/ffn_tanh/network.onnx"),
    include_bytes!("../../../models/authorization/network.onnx"),
];

/// Op types to swap in: the supported ones, their neighbours in tract, and a
/// few that must be rejected.
const OPS: [&str; 24] = [
    "Add",
    "Sub",
    "Mul",
    "Div",
    "MatMul",
    "Gemm",
    "Relu",
    "Tanh",
    "Sigmoid",
    "Max",
    "Min",
    "Reshape",
    "Flatten",
    "Unsqueeze",
    "Squeeze",
    "Transpose",
    "Identity",
    "Constant",
    "Neg",
    "Abs",
    "Softmax",
    "Conv",
    "Cast",
    "NoSuchOp",
];

/// Dimension and integer values: small ones, edge cases, and ones that overflow.
fn value(c: u8) -> i64 {
    match c {
        0..=200 => i64::from(c) - 8,
        201 => i64::MAX,
        202 => i64::MIN,
        203 => 1 << 31,
        204 => 1 << 32,
        205 => 1 << 62,
        206 => u32::MAX as i64,
        207 => -(1 << 31),
        _ => (i64::from(c) - 200) * 1000,
    }
}

fn pick<T>(items: &mut [T], i: u8) -> Option<&mut T> {
    let n = items.len();
    if n == 0 {
        None
    } else {
        items.get_mut(usize::from(i) % n)
    }
}

/// Every value name of the graph (inputs, initializers, node outputs).
fn names(g: &GraphProto) -> Vec<String> {
    let mut out: Vec<String> = g.input.iter().map(|v| v.name.clone()).collect();
    out.extend(g.initializer.iter().map(|t| t.name.clone()));
    out.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    out.push(String::new());
    out.push("missing".into());
    out
}

fn shape_dims(v: &mut tract_onnx::pb::ValueInfoProto) -> Option<&mut Vec<Dimension>> {
    match v.r#type.as_mut()?.value.as_mut()? {
        type_proto::Value::TensorType(t) => {
            Some(&mut t.shape.get_or_insert_with(Default::default).dim)
        }
    }
}

fn value_info(g: &mut GraphProto, which: u8) -> Option<&mut tract_onnx::pb::ValueInfoProto> {
    match which % 3 {
        0 => pick(&mut g.input, which / 3),
        1 => pick(&mut g.output, which / 3),
        _ => pick(&mut g.value_info, which / 3),
    }
}

fn edit_tensor(t: &mut TensorProto, b: u8, c: u8) {
    match b % 8 {
        0 => {
            if let Some(d) = pick(&mut t.dims, b / 8) {
                *d = value(c);
            }
        }
        1 => t.dims.push(value(c)),
        2 => {
            t.dims.pop();
        }
        3 => t.data_type = i32::from(c % 17),
        4 => {
            let keep = t.raw_data.len().min(usize::from(c) * 4);
            t.raw_data.truncate(keep);
            t.float_data.truncate(usize::from(c));
        }
        5 => {
            // Extreme values: NaN, infinities, huge, tiny.
            let v = [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                1e30,
                -1e30,
                1e-30,
                0.0,
                -0.0,
            ][usize::from(c % 8)];
            if t.raw_data.len() >= 4 {
                let at = (usize::from(c / 8) * 4) % (t.raw_data.len() / 4 * 4);
                t.raw_data[at..at + 4].copy_from_slice(&v.to_le_bytes());
            } else if let Some(x) = pick(&mut t.float_data, c / 8) {
                *x = v;
            }
        }
        6 => {
            t.data_location = Some(i32::from(c % 2));
            t.external_data
                .push(tract_onnx::pb::StringStringEntryProto {
                    key: "location".into(),
                    value: "missing.bin".into(),
                });
        }
        _ => t.dims.clear(),
    }
}

fn edit_attribute(a: &mut AttributeProto, b: u8, c: u8) {
    match b % 6 {
        0 => a.i = value(c),
        1 => a.f = value(c) as f32,
        2 => {
            if let Some(x) = pick(&mut a.ints, b / 6) {
                *x = value(c);
            } else {
                a.ints.push(value(c));
            }
        }
        3 => a.r#type = i32::from(c % 15),
        4 => {
            if let Some(t) = a.t.as_mut() {
                edit_tensor(t, b / 6, c);
            }
        }
        _ => {
            a.name = [
                "axis", "transA", "transB", "alpha", "beta", "perm", "value", "to",
            ][usize::from(c % 8)]
            .into()
        }
    }
}

fn apply(model: &mut ModelProto, [edit, a, b, c]: [u8; 4]) {
    if edit % 16 == 15 {
        if let Some(op) = pick(&mut model.opset_import, a) {
            op.version = value(c);
        }
        return;
    }
    let Some(g) = model.graph.as_mut() else {
        return;
    };
    match edit % 16 {
        // A dimension of an input, output or value_info.
        0 => {
            if let Some(dims) = value_info(g, a).and_then(shape_dims) {
                if let Some(d) = pick(dims, b) {
                    d.value = Some(if c == 255 {
                        dimension::Value::DimParam("N".into())
                    } else {
                        dimension::Value::DimValue(value(c))
                    });
                }
            }
        }
        // Add or remove a dimension.
        1 => {
            if let Some(dims) = value_info(g, a).and_then(shape_dims) {
                if b % 2 == 0 {
                    dims.pop();
                } else {
                    dims.push(Dimension {
                        denotation: String::new(),
                        value: Some(dimension::Value::DimValue(value(c))),
                    });
                }
            }
        }
        // The element type of an input or output.
        2 => {
            if let Some(v) = value_info(g, a) {
                if let Some(type_proto::Value::TensorType(t)) =
                    v.r#type.as_mut().and_then(|t| t.value.as_mut())
                {
                    t.elem_type = i32::from(b % 17);
                }
            }
        }
        // An op type.
        3 => {
            if let Some(n) = pick(&mut g.node, a) {
                n.op_type = OPS[usize::from(b) % OPS.len()].into();
            }
        }
        // Drop a node.
        4 => {
            if !g.node.is_empty() {
                let i = usize::from(a) % g.node.len();
                g.node.remove(i);
            }
        }
        // Duplicate a node (same outputs: a name defined twice).
        5 => {
            if let Some(n) = pick(&mut g.node, a).cloned() {
                let at = usize::from(b) % (g.node.len() + 1);
                g.node.insert(at, n);
            }
        }
        // Swap two nodes (topological order).
        6 => {
            let n = g.node.len();
            if n > 1 {
                g.node.swap(usize::from(a) % n, usize::from(b) % n);
            }
        }
        // Rewire a node input to another value.
        7 => {
            let all = names(g);
            if let Some(n) = pick(&mut g.node, a) {
                let name = all[usize::from(c) % all.len()].clone();
                match pick(&mut n.input, b) {
                    Some(i) if b % 5 != 4 => *i = name,
                    _ => n.input.push(name),
                }
            }
        }
        // Drop a node input.
        8 => {
            if let Some(n) = pick(&mut g.node, a) {
                if !n.input.is_empty() {
                    let i = usize::from(b) % n.input.len();
                    n.input.remove(i);
                }
            }
        }
        // Rename a node output or a graph output.
        9 => {
            let all = names(g);
            let name = all[usize::from(c) % all.len()].clone();
            if b % 2 == 0 {
                if let Some(n) = pick(&mut g.node, a) {
                    if let Some(o) = pick(&mut n.output, b / 2) {
                        *o = name;
                    }
                }
            } else if let Some(o) = pick(&mut g.output, a) {
                o.name = name;
            }
        }
        // Edit an attribute of a node.
        10 => {
            if let Some(n) = pick(&mut g.node, a) {
                match pick(&mut n.attribute, b) {
                    Some(attr) => edit_attribute(attr, b / 4, c),
                    None => n.attribute.push(AttributeProto {
                        name: "axis".into(),
                        r#type: 2,
                        i: value(c),
                        ..Default::default()
                    }),
                }
            }
        }
        // Remove an attribute.
        11 => {
            if let Some(n) = pick(&mut g.node, a) {
                if !n.attribute.is_empty() {
                    let i = usize::from(b) % n.attribute.len();
                    n.attribute.remove(i);
                }
            }
        }
        // Edit an initializer.
        12 => {
            if let Some(t) = pick(&mut g.initializer, a) {
                edit_tensor(t, b, c);
            }
        }
        // Add or remove a graph input or output.
        13 => match b % 4 {
            0 => {
                g.input.pop();
            }
            1 => {
                g.output.pop();
            }
            2 => {
                if let Some(v) = pick(&mut g.input, a).cloned() {
                    g.input.push(v);
                }
            }
            _ => {
                if let Some(v) = pick(&mut g.output, a).cloned() {
                    g.output.push(v);
                }
            }
        },
        // Turn an initializer into a graph input or drop it.
        _ => {
            if !g.initializer.is_empty() {
                let i = usize::from(a) % g.initializer.len();
                let t = g.initializer.remove(i);
                if b % 2 == 0 {
                    if let Some(mut v) = g.input.first().cloned() {
                        v.name = t.name;
                        g.input.push(v);
                    }
                }
            }
        }
    }
}

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        let Some((&which, edits)) = data.split_first() else {
            return;
        };
        let base = MODELS[usize::from(which) % MODELS.len()];
        let mut model = ModelProto::decode(base).expect("a shipped model decodes");
        for chunk in edits.chunks_exact(4).take(64) {
            apply(&mut model, chunk.try_into().expect("4 bytes"));
        }
        let path = write_scratch("network.onnx", &model.encode_to_vec());
        import_and_run(&path, &ImportOptions::default());
    });
}
