//! Ops whose output entries are sums of input entries chosen by the shapes
//! alone: transposes, reshapes, slices, concatenations, zero padding, sum
//! reductions and sum pooling. Each such op implements [`IndexMap`] (its
//! shapes and its terms `Y[o] += X_k[i]`) in its own file; the protocol,
//! written once here, serves them all.
//!
//! At a random point r of Y, `Y(r) = Σ_k Σ_x X_k(x)·M_k(x)` with
//! `M_k(x) = Σ_{terms (o, k, i): pad(i) = x} eq(r, pad(o))`. The prover sends
//! each input's share `c_k`; the verifier claims `Y(r) = Σ_k c_k`, and one
//! degree-2 sumcheck per input proves `c_k = Σ_x X_k(x)·M_k(x)`, ending at ρ_k
//! with `X_k(ρ_k)` (a claim) and `M_k(ρ_k) = Σ_terms eq(r, pad(o))·eq(ρ_k, pad(i))`,
//! which the verifier computes itself from per-dimension tables in
//! `O(terms · rank)`. Padding stays zero: terms only touch real entries.
//! Maps that add several entries (reductions, pooling) range-check their
//! output into the activation range; pure rearrangements copy bounded values.
//! A map may also add constants the model fixes (`Y[o] += c`, a masked
//! fill): the verifier evaluates their MLE `C(r)` itself, in `O(entries · rank)`,
//! and claims `Y(r) = Σ_k c_k + C(r)`.
//!
//! Message: values `[c_1 … c_K, X_1(ρ_1) … X_K(ρ_K)]`, K sumchecks. With
//! zero knowledge ([`crate::zk::ops`]): commitments to the shares, and K
//! committed sumchecks whose final values are the `X_k(ρ_k)` (M_k is public,
//! so no proof of product).

use ark_bn254::Fr;
use ark_ff::Zero;

use super::range::Bound;
use super::{
    claim, prove_inner_product, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext,
    PublicInput,
};
use crate::layout::{num_vars, padded_dims, padded_index, EqWeights, Slot, SlotClaim};
use crate::model::{Model, Node};
use crate::pcs::poly::small_to_field;
use crate::sumcheck::Expression;
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, Opening, PedersenGens};

/// Most entries of any operand or output of an index-map op: the verifier's
/// work is proportional to the terms (entries times window size for pooling).
pub const MAX_ENTRIES: usize = 1 << 24;

/// An op whose output entries are sums of input entries.
pub trait IndexMap: Send + Sync {
    /// The op's name in errors.
    fn name(&self) -> &'static str;

    /// Allowed number of inputs.
    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    /// Checks the node's shapes and attributes (the output shape included).
    fn check(&self, model: &Model, node: &Node) -> Result<(), String>;

    /// Calls `term(o, k, i)` for every term `Y[o] += X_k[i]` (row-major,
    /// unpadded indices). Called only on nodes that passed [`IndexMap::check`].
    fn terms(&self, model: &Model, node: &Node, term: &mut dyn FnMut(usize, usize, usize));

    /// Whether an output entry may be the sum of several input entries (then
    /// the output is range-checked).
    fn sums(&self) -> bool {
        false
    }

    /// Whether the output is range-checked into the activation range: when
    /// entries are sums ([`IndexMap::sums`]), or when the op exists for the
    /// bound (`InputRange`).
    fn range_checks_output(&self) -> bool {
        self.sums()
    }

    /// Calls `constant(o, c)` for every constant `Y[o] += c` the model fixes
    /// (row-major, unpadded `o`; each entry at most once). None by default.
    fn constants(&self, _model: &Model, _node: &Node, _constant: &mut dyn FnMut(usize, i64)) {}
}

/// Row-major coordinates of index `i` of `shape`.
pub fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = i % shape[d];
        i /= shape[d];
    }
    c
}

/// Row-major index of coordinates `c` of `shape`.
pub fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(shape).fold(0, |acc, (&x, &d)| acc * d + x)
}

/// Checks that tensor `t` has `expected` entries: layout ops read their
/// operands in row-major order under a logical shape they carry, which may
/// differ from the IR shape by size-1 dimensions.
pub fn check_len(model: &Model, t: usize, expected: &[usize], what: &str) -> Result<(), String> {
    let tensor = &model.tensors[t];
    let want = expected
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ENTRIES)
        .ok_or_else(|| format!("{what} shape {expected:?} is too large"))?;
    if tensor.len() != want {
        return Err(format!(
            "{what} `{}` has shape {:?}, the op expects {want} entries ({expected:?})",
            tensor.name, tensor.shape
        ));
    }
    Ok(())
}

fn shape(model: &Model, t: usize) -> &[usize] {
    &model.tensors[t].shape
}

/// `M_k` of every input over its padded hypercube (prover).
fn m_tables(model: &Model, node: &Node, map: &dyn IndexMap, r: &[Fr]) -> Vec<Vec<Fr>> {
    let y = EqWeights::new(shape(model, node.output), r);
    let padded: Vec<Vec<usize>> = node
        .inputs
        .iter()
        .map(|&t| padded_dims(shape(model, t)))
        .collect();
    let mut tables: Vec<Vec<Fr>> = padded
        .iter()
        .map(|p| vec![Fr::zero(); p.iter().product()])
        .collect();
    map.terms(model, node, &mut |o, k, i| {
        let at = padded_index(i, shape(model, node.inputs[k]), &padded[k]);
        tables[k][at] += y.at(o);
    });
    tables
}

/// `M_k(ρ_k)` for every input (verifier).
fn m_values(model: &Model, node: &Node, map: &dyn IndexMap, r: &[Fr], rhos: &[Vec<Fr>]) -> Vec<Fr> {
    let y = EqWeights::new(shape(model, node.output), r);
    let xs: Vec<EqWeights> = node
        .inputs
        .iter()
        .zip(rhos)
        .map(|(&t, rho)| EqWeights::new(shape(model, t), rho))
        .collect();
    let mut values = vec![Fr::zero(); node.inputs.len()];
    map.terms(model, node, &mut |o, k, i| {
        values[k] += y.at(o) * xs[k].at(i)
    });
    values
}

/// `M_k(ρ_k)` for input `k` alone (the zero-knowledge verifier needs each
/// before the next input's sumcheck).
fn m_value(model: &Model, node: &Node, map: &dyn IndexMap, r: &[Fr], k: usize, rho: &[Fr]) -> Fr {
    let y = EqWeights::new(shape(model, node.output), r);
    let x = EqWeights::new(shape(model, node.inputs[k]), rho);
    let mut value = Fr::zero();
    map.terms(model, node, &mut |o, j, i| {
        if j == k {
            value += y.at(o) * x.at(i)
        }
    });
    value
}

/// `C(r)`: the MLE of the map's constants at the output point r (zero when
/// it has none).
fn constants_at(model: &Model, node: &Node, map: &dyn IndexMap, r: &[Fr]) -> Fr {
    let mut y: Option<EqWeights> = None;
    let mut value = Fr::zero();
    map.constants(model, node, &mut |o, c| {
        let y = y.get_or_insert_with(|| EqWeights::new(shape(model, node.output), r));
        value += y.at(o) * small_to_field(c);
    });
    value
}

impl<T: IndexMap> OpProtocol for T {
    fn name(&self) -> &'static str {
        IndexMap::name(self)
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        IndexMap::arity(self)
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        // The verifier walks every term: bound its work by the shapes.
        for &t in node.inputs.iter().chain([&node.output]) {
            if model.tensors[t].len() > MAX_ENTRIES {
                return Err(format!(
                    "`{}` has {} entries; {} ops take tensors of at most {MAX_ENTRIES}",
                    model.tensors[t].name,
                    model.tensors[t].len(),
                    IndexMap::name(self)
                ));
            }
        }
        IndexMap::check(self, model, node)
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let len: usize = shape(model, node.output).iter().product();
        let mut output = vec![0i64; len];
        let mut overflow = false;
        self.terms(
            model,
            node,
            &mut |o, k, i| match output[o].checked_add(inputs[k][i]) {
                Some(v) => output[o] = v,
                None => overflow = true,
            },
        );
        self.constants(model, node, &mut |o, c| match output[o].checked_add(c) {
            Some(v) => output[o] = v,
            None => overflow = true,
        });
        if overflow {
            return Err(ExecError::Overflow);
        }
        Ok(Executed {
            output,
            remainder: None,
            aux: Vec::new(),
        })
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        if self.range_checks_output() {
            vec![Bound::activation(
                model,
                Slot::Tensor(model.nodes[n].output),
            )]
        } else {
            Vec::new()
        }
    }

    fn prove(
        &self,
        ctx: &ProverContext<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<OpMessage, OpError> {
        let model = ctx.model;
        let node = &model.nodes[n];
        let r = t.challenges(b"index_map/point", num_vars(shape(model, node.output)));
        let tables = m_tables(model, node, self, &r);
        let inputs: Vec<Vec<Fr>> = node
            .inputs
            .iter()
            .map(|&i| ctx.padded_field(Slot::Tensor(i)))
            .collect();
        let shares: Vec<Fr> = inputs
            .iter()
            .zip(&tables)
            .map(|(x, m)| ctx.backend.inner_product(x, m))
            .collect::<Result<_, _>>()?;
        for c in &shares {
            t.append_scalar(b"index_map/share", c);
        }
        let mut values = shares.clone();
        let mut sumchecks = Vec::with_capacity(shares.len());
        let mut points = Vec::with_capacity(shares.len());
        for ((x, m), &c) in inputs.into_iter().zip(tables).zip(&shares) {
            let (sc, rho, finals) = prove_inner_product(ctx, t, c, x, m)?;
            t.append_scalar(b"index_map/input", &finals[0]);
            values.push(finals[0]);
            sumchecks.push(sc);
            points.push(rho);
        }
        let message = OpMessage { values, sumchecks };
        let constant = constants_at(model, node, self, &r);
        push_claims(node, &r, constant, &points, &message, claims);
        Ok(message)
    }

    fn verify(
        &self,
        model: &Model,
        _public: PublicInput<'_>,
        n: usize,
        message: &OpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<SlotClaim>,
    ) -> Result<(), OpError> {
        let node = &model.nodes[n];
        let k = node.inputs.len();
        message.expect(2 * k, k)?;
        let r = t.challenges(b"index_map/point", num_vars(shape(model, node.output)));
        let (shares, inputs) = message.values.split_at(k);
        for c in shares {
            t.append_scalar(b"index_map/share", c);
        }
        let mut points = Vec::with_capacity(k);
        for (j, (&c, &x)) in shares.iter().zip(inputs).enumerate() {
            let vars = num_vars(shape(model, node.inputs[j]));
            // M_j(ρ_j) is only known once ρ_j is: check the sumcheck with the
            // claimed product first, then M_j below, before anything is absorbed.
            let (rho, reduced) = crate::sumcheck::verify(t, c, vars, 2, &message.sumchecks[j])?;
            points.push((rho, reduced));
            t.append_scalar(b"index_map/input", &x);
        }
        let rhos: Vec<Vec<Fr>> = points.iter().map(|(rho, _)| rho.clone()).collect();
        let ms = m_values(model, node, self, &r, &rhos);
        for ((x, m), (_, reduced)) in inputs.iter().zip(&ms).zip(&points) {
            if *x * m != *reduced {
                return Err(OpError::Check("index-map sumcheck final value"));
            }
        }
        let constant = constants_at(model, node, self, &r);
        push_claims(node, &r, constant, &rhos, message, claims);
        Ok(())
    }
}

fn push_claims(
    node: &Node,
    r: &[Fr],
    constant: Fr,
    points: &[Vec<Fr>],
    message: &OpMessage,
    claims: &mut Vec<SlotClaim>,
) {
    let k = node.inputs.len();
    let (shares, inputs) = message.values.split_at(k);
    claim(
        claims,
        Slot::Tensor(node.output),
        r,
        shares.iter().copied().sum::<Fr>() + constant,
    );
    for ((&t, rho), &x) in node.inputs.iter().zip(points).zip(inputs) {
        claim(claims, Slot::Tensor(t), rho, x);
    }
}

impl<T: IndexMap> ZkOpProtocol for T {
    fn prove_zk(
        &self,
        ctx: &ProverContext<'_>,
        zk: &mut ZkProver<'_>,
        n: usize,
        t: &mut ProofTranscript,
        claims: &mut Vec<OpenedSlotClaim>,
    ) -> Result<ZkOpMessage, OpError> {
        let model = ctx.model;
        let node = &model.nodes[n];
        let r = t.challenges(b"index_map/point", num_vars(shape(model, node.output)));
        let tables = m_tables(model, node, self, &r);
        let inputs: Vec<Vec<Fr>> = node
            .inputs
            .iter()
            .map(|&i| ctx.padded_field(Slot::Tensor(i)))
            .collect();
        let shares: Vec<Fr> = inputs
            .iter()
            .zip(&tables)
            .map(|(x, m)| ctx.backend.inner_product(x, m))
            .collect::<Result<_, _>>()?;
        let (openings, commitments) = zk.send(t, b"index_map/zk-shares", &shares);
        let output = openings.iter().fold(
            Opening::constant(constants_at(model, node, self, &r)),
            |acc, o| acc + *o,
        );
        claim(claims, Slot::Tensor(node.output), &r, output);
        let mut sumchecks = Vec::with_capacity(shares.len());
        for (k, ((x, m), share)) in inputs.into_iter().zip(tables).zip(openings).enumerate() {
            let out = zk_sumcheck::prove(
                ctx.backend,
                t,
                zk.gens,
                share,
                vec![x, m],
                &Expression::product(2)?,
                &[false, true],
                zk.blinds,
            )?;
            claim(
                claims,
                Slot::Tensor(node.inputs[k]),
                &out.point,
                out.private_evals[0],
            );
            sumchecks.push(out.proof);
        }
        Ok(ZkOpMessage {
            values: commitments,
            sumchecks,
        })
    }

    fn verify_zk(
        &self,
        model: &Model,
        _public: PublicInput<'_>,
        n: usize,
        message: &ZkOpMessage,
        t: &mut ProofTranscript,
        claims: &mut Vec<CommittedSlotClaim>,
    ) -> Result<(), OpError> {
        let node = &model.nodes[n];
        let k = node.inputs.len();
        message.expect(k, k)?;
        let r = t.challenges(b"index_map/point", num_vars(shape(model, node.output)));
        t.absorb_points(b"index_map/zk-shares", &message.values);
        let gens = PedersenGens::dory();
        let constant = constants_at(model, node, self, &r);
        let output =
            affine(k, |v| v.iter().copied().sum::<Fr>() + constant).commit(gens, &message.values);
        claim(claims, Slot::Tensor(node.output), &r, output);
        for (j, (share, proof)) in message.values.iter().zip(&message.sumchecks).enumerate() {
            let vars = num_vars(shape(model, node.inputs[j]));
            let (rho, finals) = zk_sumcheck::verify(
                t,
                gens,
                share,
                vars,
                &Expression::product(2)?,
                proof,
                |rho| vec![None, Some(m_value(model, node, self, &r, j, rho))],
            )?;
            claim(claims, Slot::Tensor(node.inputs[j]), &rho, finals[0]);
        }
        Ok(())
    }
}
