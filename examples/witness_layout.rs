//! Prints a model's witness layout per op kind (entries, padded block sizes):
//! `cargo run --release --example witness_layout -- models/nanogpt/network.onnx [-v]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use zkinfer::layout::Slot;
use zkinfer::onnx::{import, ImportOptions};
use zkinfer::proof::{block_layouts, WeightVisibility};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = PathBuf::from(args.get(1).expect("a model path"));
    let verbose = args.iter().any(|a| a == "-v");
    let model = import(&path, &ImportOptions::default()).unwrap().model;
    let (witness, _) = block_layouts(&model, WeightVisibility::Public);
    let op_of_tensor = |t: usize| {
        model
            .nodes
            .iter()
            .find(|n| n.output == t)
            .map(|n| n.op.name())
            .unwrap_or("input")
    };
    // (op, what) -> (blocks, padded entries)
    let mut by: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    let mut total = 0usize;
    for &(slot, _, log_len) in &witness.blocks {
        let (op, what) = match slot {
            Slot::Tensor(t) => (op_of_tensor(t).to_string(), "tensor"),
            Slot::Remainder(n) => (model.nodes[n].op.name().to_string(), "remainder"),
            Slot::Limb(n, _) => (model.nodes[n].op.name().to_string(), "limbs"),
            Slot::Aux(n, _) => (model.nodes[n].op.name().to_string(), "aux"),
            Slot::Multiplicity(k) => (format!("{k:?}"), "multiplicity"),
        };
        let e = by.entry((op, what)).or_default();
        e.0 += 1;
        e.1 += 1 << log_len;
        total += 1 << log_len;
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1 .1));
    for ((op, what), (blocks, entries)) in rows {
        println!("{op:>14} {what:>12} {blocks:>5} blocks {entries:>9} entries");
    }
    let (chunk_vars, chunks) = zkinfer::proof::witness_chunks(&witness);
    println!(
        "total {total} entries in {} blocks, polynomial 2^{}, committed as {chunks} chunk(s) of 2^{chunk_vars}",
        witness.blocks.len(),
        witness.num_vars
    );
    if verbose {
        for (i, node) in model.nodes.iter().enumerate() {
            let ins: Vec<String> = node
                .inputs
                .iter()
                .map(|&t| format!("{}{:?}", t, model.tensors[t].shape))
                .collect();
            println!(
                "{i:>4} {:>12} {:<40} {} -> {}{:?}",
                node.op.name(),
                node.name,
                ins.join(", "),
                node.output,
                model.tensors[node.output].shape
            );
        }
    }
}
