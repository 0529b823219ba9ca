//! `MaxPool` over the spatial axes of `[C, H, W]` (or `[C, L]`) with strides
//! and padding (padded cells are not candidates):
//! `Y[c, o] = max_{taps k inside X} X[c, o·s − p + k]`.
//!
//! The op commits two auxiliary columns of shape `[KH, KW, C, OH, OW]`: the
//! differences `D[kh, kw, c, o] = Y[c, o] − C[kh, kw, c, o]`, where the
//! candidate `C` is the tap's input value, or `LOW = −2^(a−1)` (the least
//! activation) for a tap outside X, and a one-hot selector `S` of a tap that
//! attains the max. The proof shows:
//! - every candidate ≤ max: `D ∈ [0, 2^a)` (a range check), and `S ∈ {0, 1}`
//!   (a 1-bit range check);
//! - each position selects one tap: `Σ_k S_k = 1` on Y's whole padded
//!   hypercube, at a random point r of Y: the prover sends each `S_k(r)`, the
//!   verifier checks that they sum to 1, and after they are absorbed a random
//!   point s of the tap variables folds them into one claim `S(r ‖ s)`.
//!   Padded positions select tap 0, whose candidate is 0 there, so the next
//!   check forces Y's padding to zero like every committed tensor's;
//! - the selected tap is the max: `Σ_x S(x)·D(x) = 0` over the columns, a
//!   degree-2 sumcheck; every term is a product of small non-negative
//!   integers, so the field sum is 0 only if every term is;
//! - `D` is what it says: at a random point z of the columns,
//!   `D(z) = Y(z_y)·[k valid](z_k) − (Σ_x X(x)·M(x) + LOW·OOB(z))`, where
//!   `M(c, h, w) = eq(z_c, c)·A_h(h)·A_w(w)` gathers each tap's input (as in
//!   [`super::conv`]) and `OOB` is the indicator of taps outside X, both of
//!   which the verifier computes from per-dimension sums. A degree-2
//!   sumcheck over X's variables proves the gathered sum `g`.
//!
//! A tap outside X can only be selected when every real tap equals LOW, so
//! the max over real taps is proved. The output needs no range check of its
//! own: it equals a candidate.
//!
//! Message: values `[S(ρ), D(ρ), S_k(r) for each tap, D(z), Y(z_y), g, X(ρ')]`,
//! two sumchecks.
//!
//! With zero knowledge ([`crate::zk::ops`]) the same checks run on
//! commitments: the selected-difference sumcheck is committed (its claim is
//! the public 0, its final values `S(ρ)`, `D(ρ)` committed with one proof of
//! product); all taps' `S_k(r)` but the last are sent committed and the last
//! is derived as `1 − Σ` the others, which is the check that they sum to 1;
//! `Y(z_y)` and `g` are sent committed and `D(z)` is derived from them by the
//! relation the transparent verifier checks; the gather sumcheck is committed.
//! Message: commitments `[S_k(r) for all taps but the last, Y(z_y), g]`, two
//! committed sumchecks.

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use serde::{Deserialize, Serialize};

use super::conv::{Axis, Window};
use super::range::Bound;
use super::{
    claim, prove_inner_product, ExecError, Executed, OpError, OpMessage, OpProtocol, ProverContext,
    PublicInput,
};
use crate::layout::{
    dim_points, eq_prefix, less_than_mle, num_vars, pad, padded_dims, prefix_mle, Slot, SlotClaim,
};
use crate::model::{Model, Node};
use crate::pcs::poly::small_to_field;
use crate::sumcheck;
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, Opening, PedersenGens};

/// Most taps in a window (each sends one value).
pub const MAX_TAPS: usize = 49;

/// The max of each window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool(pub Window);

impl MaxPool {
    fn geometry(&self, model: &Model, node: &Node) -> Result<[Axis; 2], String> {
        if self.0.kernel.iter().any(|&k| k > MAX_TAPS) {
            return Err(format!(
                "kernel {:?} (at most {MAX_TAPS} taps)",
                self.0.kernel
            ));
        }
        let axes = self.0.check(model, node)?;
        let taps = axes[0].kernel * axes[1].kernel;
        if taps > MAX_TAPS {
            return Err(format!("{taps} taps per window (at most {MAX_TAPS})"));
        }
        // The proof reads X and Y in the layouts [C, H, W] and [C, OH, OW]:
        // the tensors' own shapes must have those padded layouts.
        let d = self.0.input.len();
        let layout_of = |t: usize, spatial: Vec<usize>| {
            super::conv::channels_and_spatial(&model.tensors[t].shape, d)
                .is_some_and(|(c, s)| c == self.0.channels && s == spatial)
        };
        let out: Vec<usize> = axes[2 - d..].iter().map(|a| a.output).collect();
        if !layout_of(node.inputs[0], self.0.input.clone()) || !layout_of(node.output, out) {
            return Err(format!(
                "input {:?} or output {:?} is not [channels, spatial…] of the window",
                model.tensors[node.inputs[0]].shape, model.tensors[node.output].shape
            ));
        }
        if num_vars(&self.d_shape(&axes)) > crate::model::MAX_TENSOR_VARS {
            return Err("its difference column is too large".into());
        }
        if axes
            .iter()
            .any(|a| a.pad >= a.kernel || a.pad + a.input <= (a.output - 1) * a.stride)
        {
            return Err("a window lies entirely in the padding".into());
        }
        Ok(axes)
    }

    /// `[KH, KW, C, OH, OW]`: the difference column's shape.
    fn d_shape(&self, axes: &[Axis; 2]) -> [usize; 5] {
        [
            axes[0].kernel,
            axes[1].kernel,
            self.0.channels,
            axes[0].output,
            axes[1].output,
        ]
    }
}

fn y_shape(c: usize, axes: &[Axis; 2]) -> [usize; 3] {
    [c, axes[0].output, axes[1].output]
}

fn x_shape(c: usize, axes: &[Axis; 2]) -> [usize; 3] {
    [c, axes[0].input, axes[1].input]
}

/// The least activation, the candidate of a tap outside X.
fn low(model: &Model) -> i64 {
    model.activation_range().start
}

/// `(Σ_valid eq, Σ_inside eq)` over the (tap, output) pairs of one axis.
fn pair_sums(axis: &Axis, ek: &[Fr], eo: &[Fr]) -> (Fr, Fr) {
    let (mut all, mut inside) = (Fr::zero(), Fr::zero());
    for (k, &wk) in ek.iter().enumerate() {
        for (o, &wo) in eo.iter().enumerate() {
            all += wk * wo;
            if axis.source(o, k).is_some() {
                inside += wk * wo;
            }
        }
    }
    (all, inside)
}

/// The verifier's (and prover's) view of the relation at z: the valid-tap
/// mask, the per-dimension gather weights and the out-of-bounds MLE.
struct AtZ {
    valid_taps: Fr,
    channel: Vec<Fr>,
    fold: [Vec<Fr>; 2],
    oob: Fr,
}

fn at_z(c: usize, axes: &[Axis; 2], d_shape: &[usize; 5], z: &[Fr]) -> AtZ {
    let p = dim_points(d_shape, z);
    let ek = [
        eq_prefix(p[0], axes[0].kernel),
        eq_prefix(p[1], axes[1].kernel),
    ];
    let eo = [
        eq_prefix(p[3], axes[0].output),
        eq_prefix(p[4], axes[1].output),
    ];
    let channel = eq_prefix(p[2], c);
    let sums = [0, 1].map(|i| pair_sums(&axes[i], &ek[i], &eo[i]));
    let v_c: Fr = channel.iter().sum();
    AtZ {
        valid_taps: less_than_mle(axes[0].kernel, p[0]) * less_than_mle(axes[1].kernel, p[1]),
        oob: v_c * (sums[0].0 * sums[1].0 - sums[0].1 * sums[1].1),
        fold: [0, 1].map(|i| axes[i].fold(&ek[i], &eo[i])),
        channel,
    }
}

impl OpProtocol for MaxPool {
    fn name(&self) -> &'static str {
        "MaxPool"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        1..=1
    }

    fn zk(&self) -> Option<&dyn ZkOpProtocol> {
        Some(self)
    }

    fn check(&self, model: &Model, node: &Node) -> Result<(), String> {
        self.geometry(model, node).map(|_| ())
    }

    fn execute(
        &self,
        model: &Model,
        node: &Node,
        inputs: &[&[i64]],
    ) -> Result<Executed, ExecError> {
        let axes = self.geometry(model, node).map_err(ExecError::Bad)?;
        let [ah, aw] = axes;
        let c_len = self.0.channels;
        let x = inputs[0];
        let low = low(model);
        let candidate = |c: usize, oh: usize, ow: usize, kh: usize, kw: usize| match (
            ah.source(oh, kh),
            aw.source(ow, kw),
        ) {
            (Some(h), Some(w)) => x[(c * ah.input + h) * aw.input + w],
            _ => low,
        };
        let mut output = Vec::with_capacity(c_len * ah.output * aw.output);
        for c in 0..c_len {
            for oh in 0..ah.output {
                for ow in 0..aw.output {
                    let mut best = low;
                    for kh in 0..ah.kernel {
                        for kw in 0..aw.kernel {
                            best = best.max(candidate(c, oh, ow, kh, kw));
                        }
                    }
                    output.push(best);
                }
            }
        }
        let d_shape = self.d_shape(&axes);
        let mut d = Vec::with_capacity(d_shape.iter().product());
        for kh in 0..ah.kernel {
            for kw in 0..aw.kernel {
                for c in 0..c_len {
                    for oh in 0..ah.output {
                        for ow in 0..aw.output {
                            let y = output[(c * ah.output + oh) * aw.output + ow];
                            d.push(y - candidate(c, oh, ow, kh, kw));
                        }
                    }
                }
            }
        }
        // The first tap attaining the max at each position, laid out padded;
        // padded positions select tap 0 (where D is 0), which is what forces
        // Y's padding to zero in the proof.
        let block = c_len * ah.output * aw.output;
        let y_shape = y_shape(c_len, &axes);
        let y_pad: usize = padded_dims(&y_shape).iter().product();
        let d_pad = padded_dims(&d_shape);
        let mut selector = vec![0i64; d_pad.iter().product()];
        selector[..y_pad].fill(1);
        for pos in 0..block {
            let k = (0..ah.kernel * aw.kernel)
                .find(|k| d[k * block + pos] == 0)
                .expect("the max is a candidate");
            let at = crate::layout::padded_index(pos, &y_shape, &padded_dims(&y_shape));
            selector[at] = 0;
            let (kh, kw) = (k / aw.kernel, k % aw.kernel);
            selector[(kh * d_pad[1] + kw) * y_pad + at] = 1;
        }
        Ok(Executed {
            output,
            remainder: None,
            aux: vec![pad(&d, &d_shape), selector],
        })
    }

    fn aux_vars(&self, model: &Model, n: usize) -> Vec<usize> {
        match self.geometry(model, &model.nodes[n]) {
            Ok(axes) => vec![num_vars(&self.d_shape(&axes)); 2],
            Err(_) => vec![0; 2],
        }
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        let bound = |k, bits| Bound {
            slot: Slot::Aux(n, k),
            offset: 0,
            bits,
            sign_bit: false,
        };
        vec![bound(0, model.activation_bits), bound(1, 1)]
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
        let axes = self.geometry(model, node).map_err(OpError::Shape)?;
        let c = self.0.channels;
        let (y_shape, d_shape, x_shape) =
            (y_shape(c, &axes), self.d_shape(&axes), x_shape(c, &axes));
        let y_vars = num_vars(&y_shape);
        let d_pad = padded_dims(&d_shape);
        let block = 1usize << y_vars;
        let d = ctx.padded_field(Slot::Aux(n, 0));
        let sel = ctx.padded_field(Slot::Aux(n, 1));

        // The selected tap is the max: Σ_x S(x)·D(x) = 0.
        let (sd, rho, sd_finals) = prove_inner_product(ctx, t, Fr::zero(), sel.clone(), d)?;
        t.append_scalar(b"maxpool/selector", &sd_finals[0]);
        t.append_scalar(b"maxpool/difference", &sd_finals[1]);

        // One tap per position: the selector's slices at a random point r of Y.
        let r = t.challenges(b"maxpool/point", y_vars);
        let eq_r = ctx.backend.eq_table(&r)?;
        let mut taps = Vec::with_capacity(axes[0].kernel * axes[1].kernel);
        for kh in 0..axes[0].kernel {
            for kw in 0..axes[1].kernel {
                let at = (kh * d_pad[1] + kw) * block;
                taps.push(ctx.backend.inner_product(&eq_r, &sel[at..at + block])?);
            }
        }
        for v in &taps {
            t.append_scalar(b"maxpool/tap", v);
        }
        let s = t.challenges(b"maxpool/taps", num_vars(&d_shape) - y_vars);

        // D = Y·valid − C at a random point z.
        let z = t.challenges(b"maxpool/relation", num_vars(&d_shape));
        let d_z = ctx.evaluate(Slot::Aux(n, 0), &z)?;
        let y_point = &z[..y_vars];
        let y_z = ctx.evaluate(Slot::Tensor(node.output), y_point)?;
        t.append_scalar(b"maxpool/relation_difference", &d_z);
        t.append_scalar(b"maxpool/output", &y_z);
        let weights = at_z(c, &axes, &d_shape, &z);
        let x_pad = padded_dims(&x_shape);
        let mut m = vec![Fr::zero(); x_pad.iter().product()];
        for (ci, &wc) in weights.channel.iter().enumerate() {
            for (h, &wh) in weights.fold[0].iter().enumerate() {
                for (w, &ww) in weights.fold[1].iter().enumerate() {
                    m[(ci * x_pad[1] + h) * x_pad[2] + w] = wc * wh * ww;
                }
            }
        }
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let gathered = ctx.backend.inner_product(&x, &m)?;
        t.append_scalar(b"maxpool/gathered", &gathered);
        let (sc, rho2, finals) = prove_inner_product(ctx, t, gathered, x, m)?;
        t.append_scalar(b"maxpool/input", &finals[0]);

        let mut values = vec![sd_finals[0], sd_finals[1]];
        values.extend(taps);
        values.extend([d_z, y_z, gathered, finals[0]]);
        let message = OpMessage {
            values,
            sumchecks: vec![sd, sc],
        };
        push_claims(
            node, n, &axes, &rho, &r, &s, &z, &rho2, y_vars, &message, claims,
        );
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
        let axes = self.geometry(model, node).map_err(OpError::Shape)?;
        let c = self.0.channels;
        let (y_shape, d_shape, x_shape) =
            (y_shape(c, &axes), self.d_shape(&axes), x_shape(c, &axes));
        let k = axes[0].kernel * axes[1].kernel;
        message.expect(k + 6, 2)?;
        let v = &message.values;
        let (sel_rho, d_rho) = (v[0], v[1]);
        let (taps, rest) = v[2..].split_at(k);
        let [d_z, y_z, gathered, x_rho] = [rest[0], rest[1], rest[2], rest[3]];
        let y_vars = num_vars(&y_shape);

        let (rho, reduced) =
            sumcheck::verify(t, Fr::zero(), num_vars(&d_shape), 2, &message.sumchecks[0])?;
        if sel_rho * d_rho != reduced {
            return Err(OpError::Check(
                "max-pool selected-difference sumcheck final value",
            ));
        }
        t.append_scalar(b"maxpool/selector", &sel_rho);
        t.append_scalar(b"maxpool/difference", &d_rho);

        let r = t.challenges(b"maxpool/point", y_vars);
        if taps.iter().sum::<Fr>() != Fr::one() {
            return Err(OpError::Check("max-pool selects one tap per position"));
        }
        for v in taps {
            t.append_scalar(b"maxpool/tap", v);
        }
        let s = t.challenges(b"maxpool/taps", num_vars(&d_shape) - y_vars);

        let z = t.challenges(b"maxpool/relation", num_vars(&d_shape));
        t.append_scalar(b"maxpool/relation_difference", &d_z);
        t.append_scalar(b"maxpool/output", &y_z);
        let weights = at_z(c, &axes, &d_shape, &z);
        let expected =
            y_z * weights.valid_taps - (gathered + small_to_field(low(model)) * weights.oob);
        if d_z != expected {
            return Err(OpError::Check(
                "max-pool differences do not match the output and the candidates",
            ));
        }
        t.append_scalar(b"maxpool/gathered", &gathered);
        let (rho2, reduced2) =
            sumcheck::verify(t, gathered, num_vars(&x_shape), 2, &message.sumchecks[1])?;
        let p = dim_points(&x_shape, &rho2);
        let m = prefix_mle(&weights.channel, p[0])
            * prefix_mle(&weights.fold[0], p[1])
            * prefix_mle(&weights.fold[1], p[2]);
        if x_rho * m != reduced2 {
            return Err(OpError::Check("max-pool gather sumcheck final value"));
        }
        t.append_scalar(b"maxpool/input", &x_rho);
        push_claims(
            node, n, &axes, &rho, &r, &s, &z, &rho2, y_vars, message, claims,
        );
        Ok(())
    }
}

/// `eq(s, k)` for each tap k in (kh, kw) order: the weights that fold the
/// taps' selector slices into `S(r ‖ s)` (s covers the tap variables, kw's
/// low, then kh's).
fn tap_weights(axes: &[Axis; 2], s: &[Fr]) -> Vec<Fr> {
    let kw_vars = padded_dims(&[axes[1].kernel])[0].trailing_zeros() as usize;
    let ew = eq_prefix(&s[..kw_vars], axes[1].kernel);
    let eh = eq_prefix(&s[kw_vars..], axes[0].kernel);
    let mut weights = Vec::with_capacity(axes[0].kernel * axes[1].kernel);
    for wh in &eh {
        for ww in &ew {
            weights.push(*wh * ww);
        }
    }
    weights
}

/// Claims: `S(ρ)`, `D(ρ)`, the folded selector `S(r ‖ s)`, `D(z)`, `Y(z_y)`
/// and `X(ρ')`.
#[allow(clippy::too_many_arguments)]
fn push_claims(
    node: &Node,
    n: usize,
    axes: &[Axis; 2],
    rho: &[Fr],
    r: &[Fr],
    s: &[Fr],
    z: &[Fr],
    rho2: &[Fr],
    y_vars: usize,
    message: &OpMessage,
    claims: &mut Vec<SlotClaim>,
) {
    let v = &message.values;
    let k = axes[0].kernel * axes[1].kernel;
    claim(claims, Slot::Aux(n, 1), rho, v[0]);
    claim(claims, Slot::Aux(n, 0), rho, v[1]);
    let folded: Fr = tap_weights(axes, s)
        .iter()
        .zip(&v[2..2 + k])
        .map(|(w, tap)| *w * tap)
        .sum();
    let point: Vec<Fr> = r.iter().chain(s).copied().collect();
    claim(claims, Slot::Aux(n, 1), &point, folded);
    claim(claims, Slot::Aux(n, 0), z, v[2 + k]);
    claim(
        claims,
        Slot::Tensor(node.output),
        &z[..y_vars],
        v[2 + k + 1],
    );
    claim(claims, Slot::Tensor(node.inputs[0]), rho2, v[2 + k + 3]);
}

/// The last tap's `S_k(r)` as an affine map of the others: `1 − Σ`.
fn last_tap(k: usize) -> Affine {
    affine(k - 1, |v| Fr::one() - v.iter().copied().sum::<Fr>())
}

/// `S(r ‖ s) = Σ_k eq(s, k)·S_k(r)` as an affine map of the sent taps
/// (all but the last, which is `1 − Σ` the others).
fn folded_selector(axes: &[Axis; 2], s: &[Fr]) -> Affine {
    let weights = tap_weights(axes, s);
    let k = weights.len();
    affine(k - 1, |v| {
        let last = Fr::one() - v.iter().copied().sum::<Fr>();
        weights[..k - 1]
            .iter()
            .zip(v)
            .map(|(w, tap)| *w * tap)
            .sum::<Fr>()
            + weights[k - 1] * last
    })
}

/// `D(z) = Y(z_y)·valid_taps(z) − (g + LOW·OOB(z))` as an affine map of the
/// sent `[Y(z_y), g]`.
fn difference_at_z(model: &Model, weights: &AtZ) -> Affine {
    let low = small_to_field(low(model));
    affine(2, |v| {
        v[0] * weights.valid_taps - (v[1] + low * weights.oob)
    })
}

/// The gather's `M(ρ')` from the weights at z.
fn gather_mle(weights: &AtZ, x_shape: &[usize], rho2: &[Fr]) -> Fr {
    let p = dim_points(x_shape, rho2);
    prefix_mle(&weights.channel, p[0])
        * prefix_mle(&weights.fold[0], p[1])
        * prefix_mle(&weights.fold[1], p[2])
}

impl ZkOpProtocol for MaxPool {
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
        let axes = self.geometry(model, node).map_err(OpError::Shape)?;
        let c = self.0.channels;
        let (y_shape, d_shape, x_shape) =
            (y_shape(c, &axes), self.d_shape(&axes), x_shape(c, &axes));
        let y_vars = num_vars(&y_shape);
        let d_pad = padded_dims(&d_shape);
        let block = 1usize << y_vars;
        let d = ctx.padded_field(Slot::Aux(n, 0));
        let sel = ctx.padded_field(Slot::Aux(n, 1));
        let product = crate::sumcheck::Expression::product(2)?;

        let sd = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            Opening::zero(),
            vec![sel.clone(), d],
            &product,
            &[false, false],
            zk.blinds,
        )?;

        let r = t.challenges(b"maxpool/point", y_vars);
        let eq_r = ctx.backend.eq_table(&r)?;
        let mut taps = Vec::with_capacity(axes[0].kernel * axes[1].kernel);
        for kh in 0..axes[0].kernel {
            for kw in 0..axes[1].kernel {
                let at = (kh * d_pad[1] + kw) * block;
                taps.push(ctx.backend.inner_product(&eq_r, &sel[at..at + block])?);
            }
        }
        let k = taps.len();
        let (tap_openings, mut commitments) = zk.send(t, b"maxpool/zk-taps", &taps[..k - 1]);
        if last_tap(k).open(&tap_openings).value != taps[k - 1] {
            return Err(OpError::Witness(
                "the max-pool selector does not pick one tap per position".into(),
            ));
        }
        let s = t.challenges(b"maxpool/taps", num_vars(&d_shape) - y_vars);
        let folded = folded_selector(&axes, &s).open(&tap_openings);

        let z = t.challenges(b"maxpool/relation", num_vars(&d_shape));
        let y_point = &z[..y_vars];
        let y_z = ctx.evaluate(Slot::Tensor(node.output), y_point)?;
        let weights = at_z(c, &axes, &d_shape, &z);
        let x_pad = padded_dims(&x_shape);
        let mut m = vec![Fr::zero(); x_pad.iter().product()];
        for (ci, &wc) in weights.channel.iter().enumerate() {
            for (h, &wh) in weights.fold[0].iter().enumerate() {
                for (w, &ww) in weights.fold[1].iter().enumerate() {
                    m[(ci * x_pad[1] + h) * x_pad[2] + w] = wc * wh * ww;
                }
            }
        }
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let gathered = ctx.backend.inner_product(&x, &m)?;
        let (relation, relation_c) = zk.send(t, b"maxpool/zk-relation", &[y_z, gathered]);
        commitments.extend(relation_c);
        let d_z = difference_at_z(model, &weights).open(&relation);
        let gather = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            relation[1],
            vec![x, m],
            &product,
            &[false, true],
            zk.blinds,
        )?;

        claim(claims, Slot::Aux(n, 1), &sd.point, sd.private_evals[0]);
        claim(claims, Slot::Aux(n, 0), &sd.point, sd.private_evals[1]);
        let point: Vec<Fr> = r.iter().chain(&s).copied().collect();
        claim(claims, Slot::Aux(n, 1), &point, folded);
        claim(claims, Slot::Aux(n, 0), &z, d_z);
        claim(claims, Slot::Tensor(node.output), y_point, relation[0]);
        claim(
            claims,
            Slot::Tensor(node.inputs[0]),
            &gather.point,
            gather.private_evals[0],
        );
        Ok(ZkOpMessage {
            values: commitments,
            sumchecks: vec![sd.proof, gather.proof],
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
        let axes = self.geometry(model, node).map_err(OpError::Shape)?;
        let c = self.0.channels;
        let (y_shape, d_shape, x_shape) =
            (y_shape(c, &axes), self.d_shape(&axes), x_shape(c, &axes));
        let k = axes[0].kernel * axes[1].kernel;
        message.expect(k + 1, 2)?;
        let v = &message.values;
        let (taps, relation) = v.split_at(k - 1);
        let y_vars = num_vars(&y_shape);
        let gens = PedersenGens::dory();
        let product = crate::sumcheck::Expression::product(2)?;
        let zero = ark_ec::CurveGroup::into_affine(gens.constant(Fr::zero()));

        let (rho, sd) = zk_sumcheck::verify(
            t,
            gens,
            &zero,
            num_vars(&d_shape),
            &product,
            &message.sumchecks[0],
            |_| vec![None, None],
        )?;

        let r = t.challenges(b"maxpool/point", y_vars);
        t.absorb_points(b"maxpool/zk-taps", taps);
        let s = t.challenges(b"maxpool/taps", num_vars(&d_shape) - y_vars);
        let folded = folded_selector(&axes, &s).commit(gens, taps);

        let z = t.challenges(b"maxpool/relation", num_vars(&d_shape));
        t.absorb_points(b"maxpool/zk-relation", relation);
        let weights = at_z(c, &axes, &d_shape, &z);
        let d_z = difference_at_z(model, &weights).commit(gens, relation);
        let (rho2, gather) = zk_sumcheck::verify(
            t,
            gens,
            &relation[1],
            num_vars(&x_shape),
            &product,
            &message.sumchecks[1],
            |rho2| vec![None, Some(gather_mle(&weights, &x_shape, rho2))],
        )?;

        claim(claims, Slot::Aux(n, 1), &rho, sd[0]);
        claim(claims, Slot::Aux(n, 0), &rho, sd[1]);
        let point: Vec<Fr> = r.iter().chain(&s).copied().collect();
        claim(claims, Slot::Aux(n, 1), &point, folded);
        claim(claims, Slot::Aux(n, 0), &z, d_z);
        claim(claims, Slot::Tensor(node.output), &z[..y_vars], relation[0]);
        claim(claims, Slot::Tensor(node.inputs[0]), &rho2, gather[0]);
        Ok(())
    }
}
