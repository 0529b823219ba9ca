//! Where every committed column of a model's proof lives: the witness
//! polynomial's blocks (the input, node outputs, rescale remainders, range-check
//! limbs, lookup multiplicities) and the model polynomial's (the weights). The
//! ops say what they need ([`crate::ops::OpProtocol`]); this module only places it.

use crate::layout::{num_vars, BlockLayout, Slot, TableKind};
use crate::model::{Model, TensorKind};
use crate::ops::{self, range};

/// The tables a model needs, in a fixed order.
pub fn tables_used(model: &Model) -> Vec<TableKind> {
    let mut tables = Vec::new();
    for (n, node) in model.nodes.iter().enumerate() {
        // Every range check goes through the byte table.
        if range::range_check(model, n).is_some() && !tables.contains(&TableKind::Byte) {
            tables.push(TableKind::Byte);
        }
        if let Some(kind) = ops::protocol(&node.op).table() {
            if !tables.contains(&kind) {
                tables.push(kind);
            }
        }
    }
    tables.sort();
    tables
}

/// The witness polynomial's layout: every input, every node output, every rescale
/// remainder and auxiliary column, every committed range-check limb and every
/// table's multiplicities.
pub fn witness_layout(model: &Model, table_vars: impl Fn(TableKind) -> usize) -> BlockLayout {
    let mut slots: Vec<(Slot, usize)> = model
        .inputs
        .iter()
        .map(|&t| (Slot::Tensor(t), num_vars(&model.tensors[t].shape)))
        .collect();
    for (n, node) in model.nodes.iter().enumerate() {
        let vars = num_vars(&model.tensors[node.output].shape);
        slots.push((Slot::Tensor(node.output), vars));
        let protocol = ops::protocol(&node.op);
        if protocol.rescales() {
            slots.push((Slot::Remainder(n), vars));
        }
        for (k, aux_vars) in protocol.aux_vars(model, n).into_iter().enumerate() {
            slots.push((Slot::Aux(n, k), aux_vars));
        }
    }
    for check in range::range_checks(model) {
        for slot in check.inputs() {
            if matches!(slot, Slot::Limb(..)) {
                slots.push((slot, check.vars));
            }
        }
    }
    for table in tables_used(model) {
        slots.push((Slot::Multiplicity(table), table_vars(table)));
    }
    BlockLayout::new(slots)
}

/// The model polynomial's layout: every weight tensor.
pub fn model_layout(model: &Model) -> BlockLayout {
    let slots = model
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, TensorKind::Weight { .. }))
        .map(|(i, t)| (Slot::Tensor(i), num_vars(&t.shape)))
        .collect();
    BlockLayout::new(slots)
}
