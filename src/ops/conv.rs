//! `Conv`: 1-D and 2-D convolution with strides, dilations, zero padding,
//! groups (depthwise included) and an optional bias, rescaled:
//! `Y[oc, o] = rescale(Σ_{j,k} W[oc, j, k]·X[q(oc)·ICg + j, o·s − p + k·d] + 2^s·bias[oc])`
//! with `q(oc) = oc / OCg` the group of output channel oc (`ICg`, `OCg`: input
//! and output channels per group), positions outside X reading zero.
//!
//! Shapes: X `[IC, H, W]` (or `[IC, L]`), W `[OC, ICg, KH, KW]` (or
//! `[OC, ICg, K]`), Y `[OC, OH, OW]`, bias `[OC]`; a leading channel count of 1
//! may be absent (the IR drops leading 1s, which does not change the padded
//! layout). 1-D convolutions are handled as 2-D ones with a trivial height.
//!
//! No im2col is committed: the committed witness of a conv is its output Y,
//! its remainder R and their range-check limbs, the same as a MatMul of the
//! same output size. Two sumchecks relate Y to X and W:
//! 1. At a random point `r = (r_o, r_oc)` of Y the prover sends `Y(r)`, `R(r)`
//!    and `bias(r_oc)`; the verifier derives the accumulator (rescale identity,
//!    minus the bias term). A degree-3 sumcheck over W's variables x = (oc, j, k)
//!    proves `Σ_x eq(r_oc, oc)·W(x)·H(x) = Acc(r)`, where
//!    `H(oc, j, k) = Σ_o eq(r_o, o)·X[q(oc)·ICg + j, o·s − p + k·d]` (a table the
//!    size of W). It ends at ρ with `W(ρ)` (a claim on the weights) and `H(ρ)`.
//! 2. `H(ρ)` is a linear function of X: `H(ρ) = Σ_x X(x)·M(x)` with
//!    `M(ic, h, w) = C(ic)·A_h(h)·A_w(w)`, `C(ic) = Σ_{oc: q(oc) = ic/ICg} eq(ρ_oc, oc)·eq(ρ_j, ic mod ICg)`
//!    and `A_h(h) = Σ_{kh, oh: oh·s − p + kh·d = h} eq(ρ_kh, kh)·eq(r_oh, oh)`
//!    (likewise A_w). A degree-2 sumcheck over X's variables ends at ρ' with
//!    `X(ρ')` (a claim) and `M(ρ')`, which the verifier computes itself in
//!    `O(IC + OC + OH·KH + OW·KW)` because M factors over the dimensions.
//!
//! Message: values `[Y(r), R(r), bias(r_oc) (with a bias), W(ρ), H(ρ), X(ρ')]`,
//! two sumchecks. With zero knowledge ([`crate::zk::ops`]): commitments to the
//! first two or three, and the two sumchecks committed.

use ark_bn254::Fr;
use ark_ff::Zero;
use serde::{Deserialize, Serialize};

use super::index_map::MAX_ENTRIES;
use super::range::Bound;
use super::{
    accumulator, claim, pow2, prove_inner_product, rescale_all, ExecError, Executed, OpError,
    OpMessage, OpProtocol, ProverContext, PublicInput,
};
use crate::layout::{
    dim_points, dim_ranges, eq_prefix, less_than_mle, num_vars, padded_dims, prefix_mle, Slot,
    SlotClaim,
};
use crate::model::{Model, Node};
use crate::sumcheck::{self, eq_eval, Expression};
use crate::transcript::ProofTranscript;
use crate::zk::ops::{
    affine, Affine, CommittedSlotClaim, OpenedSlotClaim, ZkOpMessage, ZkOpProtocol, ZkProver,
};
use crate::zk::sumcheck as zk_sumcheck;
use crate::zk::{Challenger, PedersenGens};

/// Convolution attributes, one entry per spatial dimension (1 or 2 of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// Zero padding `(before, after)`.
    pub pads: Vec<(usize, usize)>,
    pub groups: usize,
}

/// A sliding window along one spatial dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    pub input: usize,
    pub kernel: usize,
    pub output: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Padding before the first input position.
    pub pad: usize,
}

impl Axis {
    /// A dimension of size 1 that every window covers once (1-D as 2-D).
    pub const TRIVIAL: Axis = Axis {
        input: 1,
        kernel: 1,
        output: 1,
        stride: 1,
        dilation: 1,
        pad: 0,
    };

    /// Output length for an input length, or `None` when the window does not fit.
    pub fn output_len(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        (before, after): (usize, usize),
    ) -> Option<usize> {
        let span = dilation
            .checked_mul(kernel.checked_sub(1)?)?
            .checked_add(1)?;
        let total = input.checked_add(before)?.checked_add(after)?;
        (total >= span && stride > 0).then(|| (total - span) / stride + 1)
    }

    /// The input position output `o`'s tap `k` reads, if inside the input.
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        let p = (o * self.stride + k * self.dilation).checked_sub(self.pad)?;
        (p < self.input).then_some(p)
    }

    /// `A(h) = Σ_{k, o: source(o, k) = h} ek[k]·eo[o]` for every input position h.
    pub fn fold(&self, ek: &[Fr], eo: &[Fr]) -> Vec<Fr> {
        let mut a = vec![Fr::zero(); self.input];
        for (o, &wo) in eo.iter().enumerate().take(self.output) {
            for (k, &wk) in ek.iter().enumerate().take(self.kernel) {
                if let Some(h) = self.source(o, k) {
                    a[h] += wk * wo;
                }
            }
        }
        a
    }
}

/// A pooling window over the spatial axes of a logical `[channels, spatial…]`
/// input (1 or 2 spatial axes), with strides and padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub channels: usize,
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<(usize, usize)>,
}

impl Window {
    /// The axes, height first (a 1-D window has a trivial height).
    pub fn axes(&self) -> Option<[Axis; 2]> {
        let d = self.input.len();
        if !(1..=2).contains(&d)
            || self.kernel.len() != d
            || self.strides.len() != d
            || self.pads.len() != d
        {
            return None;
        }
        let mut axes = [Axis::TRIVIAL; 2];
        for i in 0..d {
            let output = Axis::output_len(
                self.input[i],
                self.kernel[i],
                self.strides[i],
                1,
                self.pads[i],
            )?;
            axes[2 - d + i] = Axis {
                input: self.input[i],
                kernel: self.kernel[i],
                output,
                stride: self.strides[i],
                dilation: 1,
                pad: self.pads[i].0,
            };
        }
        Some(axes)
    }

    /// Checks the geometry and that the node's input and output hold
    /// `[channels, spatial…]` entries; returns the axes.
    pub fn check(&self, model: &Model, node: &Node) -> Result<[Axis; 2], String> {
        if self.channels == 0
            || self
                .input
                .iter()
                .chain(&self.kernel)
                .chain(&self.strides)
                .any(|&v| v == 0 || v > MAX_ENTRIES)
        {
            return Err(format!(
                "window over {} channels of {:?} with kernel {:?} and strides {:?}",
                self.channels, self.input, self.kernel, self.strides
            ));
        }
        let axes = self.axes().ok_or_else(|| {
            format!(
                "kernel {:?}, strides {:?}, pads {:?} do not fit spatial shape {:?}",
                self.kernel, self.strides, self.pads, self.input
            )
        })?;
        let mut input = vec![self.channels];
        input.extend(&self.input);
        super::index_map::check_len(model, node.inputs[0], &input, "input")?;
        let out = [self.channels, axes[0].output, axes[1].output];
        super::index_map::check_len(model, node.output, &out, "output")?;
        Ok(axes)
    }
}

/// The `(channels, spatial dims)` of a shape whose last `spatial` dimensions
/// are spatial and whose leading ones are one channel dimension (possibly
/// absent or 1).
pub fn channels_and_spatial(shape: &[usize], spatial: usize) -> Option<(usize, Vec<usize>)> {
    let lead = shape.len().checked_sub(spatial)?;
    let leading = &shape[..lead];
    if leading.iter().filter(|&&d| d != 1).count() > 1 {
        return None;
    }
    Some((leading.iter().product(), shape[lead..].to_vec()))
}

/// Everything the op needs about one node's shapes.
#[derive(Debug, Clone)]
struct Geometry {
    ic: usize,
    oc: usize,
    icg: usize,
    ocg: usize,
    /// Height then width (a 1-D conv has a trivial height).
    axes: [Axis; 2],
    has_bias: bool,
}

impl Geometry {
    fn y_shape(&self) -> [usize; 3] {
        [self.oc, self.axes[0].output, self.axes[1].output]
    }
    fn w_shape(&self) -> [usize; 4] {
        [self.oc, self.icg, self.axes[0].kernel, self.axes[1].kernel]
    }
    fn x_shape(&self) -> [usize; 3] {
        [self.ic, self.axes[0].input, self.axes[1].input]
    }
    /// The group of output channel `oc`.
    fn group(&self, oc: usize) -> usize {
        oc / self.ocg
    }
}

impl Conv {
    fn geometry(&self, model: &Model, node: &Node) -> Result<Geometry, String> {
        let d = self.strides.len();
        if !(1..=2).contains(&d) || self.dilations.len() != d || self.pads.len() != d {
            return Err(format!(
                "{d} spatial dimensions with {} dilations and {} pads (1-D and 2-D convolutions are supported)",
                self.dilations.len(),
                self.pads.len()
            ));
        }
        if self.strides.iter().chain(&self.dilations).any(|&v| v == 0) || self.groups == 0 {
            return Err("zero stride, dilation or group count".into());
        }
        if self
            .strides
            .iter()
            .chain(&self.dilations)
            .any(|&v| v > MAX_ENTRIES)
        {
            return Err("stride or dilation out of range".into());
        }
        let shape = |i: usize| &model.tensors[node.inputs[i]].shape;
        let w = shape(1);
        if w.len() != 2 + d {
            return Err(format!(
                "kernel shape {w:?} is not [OC, IC/groups, kernel…] with {d} spatial dimensions"
            ));
        }
        let (oc, icg, kernel) = (w[0], w[1], &w[2..]);
        let (ic, input) = channels_and_spatial(shape(0), d)
            .ok_or_else(|| format!("input shape {:?} is not [channels, spatial…]", shape(0)))?;
        let y = &model.tensors[node.output].shape;
        let (y_oc, output) = channels_and_spatial(y, d)
            .ok_or_else(|| format!("output shape {y:?} is not [channels, spatial…]"))?;
        if ic == 0 || oc == 0 || kernel.contains(&0) {
            return Err(format!("empty input, kernel {w:?} or output"));
        }
        if ic % self.groups != 0 || oc % self.groups != 0 || ic / self.groups != icg {
            return Err(format!(
                "{ic} input and {oc} output channels with {} groups and a kernel for {icg} input channels per group",
                self.groups
            ));
        }
        if y_oc != oc {
            return Err(format!("output has {y_oc} channels, the kernel {oc}"));
        }
        let mut axes = [Axis::TRIVIAL; 2];
        for i in 0..d {
            let out = Axis::output_len(
                input[i],
                kernel[i],
                self.strides[i],
                self.dilations[i],
                self.pads[i],
            )
            .ok_or_else(|| format!("kernel does not fit spatial dimension {i}"))?;
            // The verifier's window weights cost output × kernel per axis.
            if out
                .checked_mul(kernel[i])
                .is_none_or(|work| work > MAX_ENTRIES)
            {
                return Err(format!(
                    "spatial dimension {i}: output × kernel is too large"
                ));
            }
            if out != output[i] {
                return Err(format!(
                    "output spatial dimension {i} is {}, the convolution gives {out}",
                    output[i]
                ));
            }
            axes[2 - d + i] = Axis {
                input: input[i],
                kernel: kernel[i],
                output: out,
                stride: self.strides[i],
                dilation: self.dilations[i],
                pad: self.pads[i].0,
            };
        }
        let has_bias = node.inputs.len() == 3;
        if has_bias {
            let b = shape(2);
            if b.iter().product::<usize>() != oc || b.iter().filter(|&&x| x != 1).count() > 1 {
                return Err(format!("bias shape {b:?} is not [{oc}]"));
            }
        }
        Ok(Geometry {
            ic,
            oc,
            icg,
            ocg: oc / self.groups,
            axes,
            has_bias,
        })
    }
}

/// Row-major index helpers for the canonical shapes.
fn x_index(g: &Geometry, ic: usize, h: usize, w: usize) -> usize {
    (ic * g.axes[0].input + h) * g.axes[1].input + w
}

/// `H` of step 1 over W's padded hypercube (see the module docs).
fn h_table(g: &Geometry, x: &[i64], eo: [&[Fr]; 2]) -> Vec<Fr> {
    let [ah, aw] = g.axes;
    let pw = padded_dims(&g.w_shape());
    // G[q][j][kh][kw], then broadcast over each group's output channels.
    let groups = g.ic / g.icg;
    let mut gq = vec![Fr::zero(); groups * g.icg * ah.kernel * aw.kernel];
    for q in 0..groups {
        for j in 0..g.icg {
            let ic = q * g.icg + j;
            for kh in 0..ah.kernel {
                for kw in 0..aw.kernel {
                    let mut acc = Fr::zero();
                    for oh in 0..ah.output {
                        let Some(h) = ah.source(oh, kh) else { continue };
                        let mut row = Fr::zero();
                        for (ow, &weight) in eo[1].iter().enumerate().take(aw.output) {
                            if let Some(w) = aw.source(ow, kw) {
                                let v = x[x_index(g, ic, h, w)];
                                if v != 0 {
                                    row += weight * crate::pcs::poly::small_to_field(v);
                                }
                            }
                        }
                        acc += eo[0][oh] * row;
                    }
                    gq[((q * g.icg + j) * ah.kernel + kh) * aw.kernel + kw] = acc;
                }
            }
        }
    }
    let mut table = vec![Fr::zero(); pw.iter().product()];
    for oc in 0..g.oc {
        let q = g.group(oc);
        for j in 0..g.icg {
            for kh in 0..ah.kernel {
                for kw in 0..aw.kernel {
                    let at = ((oc * pw[1] + j) * pw[2] + kh) * pw[3] + kw;
                    table[at] = gq[((q * g.icg + j) * ah.kernel + kh) * aw.kernel + kw];
                }
            }
        }
    }
    table
}

/// `C(ic)` of step 2 for every input channel.
fn channel_weights(g: &Geometry, rho_oc: &[Fr], rho_j: &[Fr]) -> Vec<Fr> {
    let e_oc = eq_prefix(rho_oc, g.oc);
    let e_j = eq_prefix(rho_j, g.icg);
    let groups = g.ic / g.icg;
    let per_group: Vec<Fr> = (0..groups)
        .map(|q| e_oc[q * g.ocg..(q + 1) * g.ocg].iter().sum())
        .collect();
    (0..g.ic)
        .map(|ic| per_group[ic / g.icg] * e_j[ic % g.icg])
        .collect()
}

impl OpProtocol for Conv {
    fn name(&self) -> &'static str {
        "Conv"
    }

    fn arity(&self) -> std::ops::RangeInclusive<usize> {
        2..=3
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
        let g = self.geometry(model, node).map_err(ExecError::Bad)?;
        let [ah, aw] = g.axes;
        let (x, w) = (inputs[0], inputs[1]);
        let s = model.scale_bits;
        let mut acc = Vec::with_capacity(g.oc * ah.output * aw.output);
        for oc in 0..g.oc {
            let q = g.group(oc);
            let bias = inputs.get(2).map_or(0, |b| (b[oc] as i128) << s);
            for oh in 0..ah.output {
                for ow in 0..aw.output {
                    let mut sum = bias;
                    for j in 0..g.icg {
                        for kh in 0..ah.kernel {
                            let Some(h) = ah.source(oh, kh) else { continue };
                            for kw in 0..aw.kernel {
                                let Some(wi) = aw.source(ow, kw) else {
                                    continue;
                                };
                                let weight =
                                    w[((oc * g.icg + j) * ah.kernel + kh) * aw.kernel + kw];
                                sum +=
                                    weight as i128 * x[x_index(&g, q * g.icg + j, h, wi)] as i128;
                            }
                        }
                    }
                    acc.push(sum);
                }
            }
        }
        rescale_all(acc, s)
    }

    fn rescales(&self) -> bool {
        true
    }

    fn bounds(&self, model: &Model, n: usize) -> Vec<Bound> {
        Bound::rescale(model, n)
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
        let g = self.geometry(model, node).map_err(OpError::Shape)?;
        let (y_shape, w_shape) = (g.y_shape(), g.w_shape());
        let r = t.challenges(b"conv/point", num_vars(&y_shape));
        let r_dims = dim_points(&y_shape, &r);
        let output = ctx.evaluate(Slot::Tensor(node.output), &r)?;
        let remainder = ctx.evaluate(Slot::Remainder(n), &r)?;
        let bias = match node.inputs.get(2) {
            Some(&b) => Some(ctx.evaluate(Slot::Tensor(b), r_dims[0])?),
            None => None,
        };
        absorb_head(t, output, remainder, bias);
        let claim1 = inner_claim(model, node, &g, &r, output, remainder, bias);

        // Step 1: Σ_x eq(r_oc, oc)·W(x)·H(x) over W's variables.
        let eo = [
            eq_prefix(r_dims[1], g.axes[0].output),
            eq_prefix(r_dims[2], g.axes[1].output),
        ];
        let x_values = &ctx.witness.values[node.inputs[0]];
        let h = h_table(&g, x_values, [&eo[0], &eo[1]]);
        let pw = padded_dims(&w_shape);
        let per_oc = pw[1] * pw[2] * pw[3];
        let e_oc = ctx.backend.eq_table(r_dims[0])?;
        let e: Vec<Fr> = (0..pw[0] * per_oc).map(|i| e_oc[i / per_oc]).collect();
        let w = ctx.padded_field(Slot::Tensor(node.inputs[1]));
        let out1 = sumcheck::prove(
            ctx.backend,
            t,
            claim1,
            vec![e, w, h],
            &Expression::product(3)?,
        )?;
        let (w_rho, h_rho) = (out1.final_evals[1], out1.final_evals[2]);
        t.append_scalar(b"conv/weight", &w_rho);
        t.append_scalar(b"conv/windows", &h_rho);

        // Step 2: H(ρ) = Σ_x X(x)·M(x) over X's variables.
        let m = m_table(&g, &out1.point, &r_dims);
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let (sumcheck2, rho2, finals) = prove_inner_product(ctx, t, h_rho, x, m)?;
        t.append_scalar(b"conv/input", &finals[0]);

        let mut values = vec![output, remainder];
        values.extend(bias);
        values.extend([w_rho, h_rho, finals[0]]);
        let message = OpMessage {
            values,
            sumchecks: vec![out1.proof, sumcheck2],
        };
        push_claims(node, n, &g, &r, &out1.point, &rho2, &message, claims);
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
        let g = self.geometry(model, node).map_err(OpError::Shape)?;
        message.expect(5 + g.has_bias as usize, 2)?;
        let v = &message.values;
        let (output, remainder) = (v[0], v[1]);
        let bias = g.has_bias.then_some(v[2]);
        let [w_rho, h_rho, x_rho] = [v[v.len() - 3], v[v.len() - 2], v[v.len() - 1]];
        let (y_shape, w_shape, x_shape) = (g.y_shape(), g.w_shape(), g.x_shape());
        let r = t.challenges(b"conv/point", num_vars(&y_shape));
        let r_dims = dim_points(&y_shape, &r);
        absorb_head(t, output, remainder, bias);
        let claim1 = inner_claim(model, node, &g, &r, output, remainder, bias);

        let (rho, reduced) =
            sumcheck::verify(t, claim1, num_vars(&w_shape), 3, &message.sumchecks[0])?;
        let rho_oc = &rho[dim_ranges(&w_shape)[0].clone()];
        if eq_eval(r_dims[0], rho_oc) * w_rho * h_rho != reduced {
            return Err(OpError::Check("convolution weight sumcheck final value"));
        }
        t.append_scalar(b"conv/weight", &w_rho);
        t.append_scalar(b"conv/windows", &h_rho);

        let vars2 = num_vars(&x_shape);
        let (rho2, reduced2) = sumcheck::verify(t, h_rho, vars2, 2, &message.sumchecks[1])?;
        let m = m_at(&g, &rho, &r_dims, &rho2);
        if x_rho * m != reduced2 {
            return Err(OpError::Check("convolution input sumcheck final value"));
        }
        t.append_scalar(b"conv/input", &x_rho);
        push_claims(node, n, &g, &r, &rho, &rho2, message, claims);
        Ok(())
    }
}

fn absorb_head(t: &mut ProofTranscript, output: Fr, remainder: Fr, bias: Option<Fr>) {
    t.append_scalar(b"conv/output", &output);
    t.append_scalar(b"conv/remainder", &remainder);
    if let Some(b) = bias {
        t.append_scalar(b"conv/bias", &b);
    }
}

/// The accumulator at r without the bias term.
fn inner_claim(
    model: &Model,
    node: &Node,
    g: &Geometry,
    r: &[Fr],
    output: Fr,
    remainder: Fr,
    bias: Option<Fr>,
) -> Fr {
    let y_shape = g.y_shape();
    let acc = accumulator(
        model,
        &model.tensors[node.output].shape,
        r,
        output,
        remainder,
    );
    match bias {
        Some(b) => {
            let r_dims = dim_points(&y_shape, r);
            let valid_spatial = less_than_mle(g.axes[0].output, r_dims[1])
                * less_than_mle(g.axes[1].output, r_dims[2]);
            acc - pow2(model.scale_bits) * b * valid_spatial
        }
        None => acc,
    }
}

/// The per-dimension weights of step 2 from step 1's point ρ (W's variables)
/// and the output point's spatial parts.
fn step2_weights(g: &Geometry, rho: &[Fr], r_dims: &[&[Fr]]) -> (Vec<Fr>, [Vec<Fr>; 2]) {
    let rho_dims = dim_points(&g.w_shape(), rho);
    let c = channel_weights(g, rho_dims[0], rho_dims[1]);
    let a = [0, 1].map(|i| {
        let axis = g.axes[i];
        (
            eq_prefix(rho_dims[2 + i], axis.kernel),
            eq_prefix(r_dims[1 + i], axis.output),
        )
    });
    let folded = [0, 1].map(|i| g.axes[i].fold(&a[i].0, &a[i].1));
    (c, folded)
}

/// M over X's padded hypercube (prover).
fn m_table(g: &Geometry, rho: &[Fr], r_dims: &[&[Fr]]) -> Vec<Fr> {
    let (c, [ah, aw]) = step2_weights(g, rho, r_dims);
    let px = padded_dims(&g.x_shape());
    let mut m = vec![Fr::zero(); px.iter().product()];
    for (ic, &ci) in c.iter().enumerate() {
        for (h, &hh) in ah.iter().enumerate() {
            let ch = ci * hh;
            for (w, &ww) in aw.iter().enumerate() {
                m[(ic * px[1] + h) * px[2] + w] = ch * ww;
            }
        }
    }
    m
}

/// M's MLE at ρ' (verifier), factored over the dimensions.
fn m_at(g: &Geometry, rho: &[Fr], r_dims: &[&[Fr]], rho2: &[Fr]) -> Fr {
    let (c, [ah, aw]) = step2_weights(g, rho, r_dims);
    let p = dim_points(&g.x_shape(), rho2);
    prefix_mle(&c, p[0]) * prefix_mle(&ah, p[1]) * prefix_mle(&aw, p[2])
}

#[allow(clippy::too_many_arguments)]
fn push_claims(
    node: &Node,
    n: usize,
    g: &Geometry,
    r: &[Fr],
    rho: &[Fr],
    rho2: &[Fr],
    message: &OpMessage,
    claims: &mut Vec<SlotClaim>,
) {
    let v = &message.values;
    let bias = g.has_bias.then(|| v[2]);
    let head = ConvHead {
        output: v[0],
        remainder: v[1],
        bias,
    };
    push_claims_of(
        node,
        n,
        g,
        r,
        rho,
        rho2,
        head,
        v[v.len() - 3],
        v[v.len() - 1],
        claims,
    );
}

/// The values at Y's point r: the output, the remainder and the bias.
struct ConvHead<V> {
    output: V,
    remainder: V,
    bias: Option<V>,
}

#[allow(clippy::too_many_arguments)]
fn push_claims_of<V>(
    node: &Node,
    n: usize,
    g: &Geometry,
    r: &[Fr],
    rho: &[Fr],
    rho2: &[Fr],
    head: ConvHead<V>,
    w_rho: V,
    x_rho: V,
    claims: &mut Vec<SlotClaim<V>>,
) {
    claim(claims, Slot::Tensor(node.output), r, head.output);
    claim(claims, Slot::Remainder(n), r, head.remainder);
    if let (Some(&b), Some(bias)) = (node.inputs.get(2), head.bias) {
        let r_oc = &r[dim_ranges(&g.y_shape())[0].clone()];
        claim(claims, Slot::Tensor(b), r_oc, bias);
    }
    claim(claims, Slot::Tensor(node.inputs[1]), rho, w_rho);
    claim(claims, Slot::Tensor(node.inputs[0]), rho2, x_rho);
}

/// With zero knowledge: the same two sumchecks on committed values. The
/// message commits `[Y(r), R(r), bias(r_oc)]`; the first committed sumcheck
/// ends in committed `W(ρ)` and `H(ρ)` (one proof of product), and `H(ρ)`'s
/// commitment is the second sumcheck's claim, which ends in a committed
/// `X(ρ')` (M is public).
impl ZkOpProtocol for Conv {
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
        let g = self.geometry(model, node).map_err(OpError::Shape)?;
        let (y_shape, w_shape) = (g.y_shape(), g.w_shape());
        let r = t.challenges(b"conv/point", num_vars(&y_shape));
        let r_dims = dim_points(&y_shape, &r);
        let mut values = vec![
            ctx.evaluate(Slot::Tensor(node.output), &r)?,
            ctx.evaluate(Slot::Remainder(n), &r)?,
        ];
        if let (Some(&b), true) = (node.inputs.get(2), g.has_bias) {
            values.push(ctx.evaluate(Slot::Tensor(b), r_dims[0])?);
        }
        let (openings, commitments) = zk.send(t, b"conv/zk-head", &values);
        let claim1 = zk_inner_claim(model, node, &g, &r).open(&openings);

        let eo = [
            eq_prefix(r_dims[1], g.axes[0].output),
            eq_prefix(r_dims[2], g.axes[1].output),
        ];
        let h = h_table(&g, &ctx.witness.values[node.inputs[0]], [&eo[0], &eo[1]]);
        let pw = padded_dims(&w_shape);
        let per_oc = pw[1] * pw[2] * pw[3];
        let e_oc = ctx.backend.eq_table(r_dims[0])?;
        let e: Vec<Fr> = (0..pw[0] * per_oc).map(|i| e_oc[i / per_oc]).collect();
        let w = ctx.padded_field(Slot::Tensor(node.inputs[1]));
        let out1 = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            claim1,
            vec![e, w, h],
            &Expression::product(3)?,
            &[true, false, false],
            zk.blinds,
        )?;
        let m = m_table(&g, &out1.point, &r_dims);
        let x = ctx.padded_field(Slot::Tensor(node.inputs[0]));
        let out2 = zk_sumcheck::prove(
            ctx.backend,
            t,
            zk.gens,
            out1.private_evals[1],
            vec![x, m],
            &Expression::product(2)?,
            &[false, true],
            zk.blinds,
        )?;
        let head = ConvHead {
            output: openings[0],
            remainder: openings[1],
            bias: openings.get(2).copied(),
        };
        push_claims_of(
            node,
            n,
            &g,
            &r,
            &out1.point,
            &out2.point,
            head,
            out1.private_evals[0],
            out2.private_evals[0],
            claims,
        );
        Ok(ZkOpMessage {
            values: commitments,
            sumchecks: vec![out1.proof, out2.proof],
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
        let g = self.geometry(model, node).map_err(OpError::Shape)?;
        message.expect(2 + g.has_bias as usize, 2)?;
        let (y_shape, w_shape, x_shape) = (g.y_shape(), g.w_shape(), g.x_shape());
        let r = t.challenges(b"conv/point", num_vars(&y_shape));
        let r_dims = dim_points(&y_shape, &r);
        let v = &message.values;
        t.absorb_points(b"conv/zk-head", v);
        let gens = PedersenGens::dory();
        let claim1 = zk_inner_claim(model, node, &g, &r).commit(gens, v);
        let oc_range = dim_ranges(&w_shape)[0].clone();
        let (rho, finals1) = zk_sumcheck::verify(
            t,
            gens,
            &claim1,
            num_vars(&w_shape),
            &Expression::product(3)?,
            &message.sumchecks[0],
            |rho| vec![Some(eq_eval(r_dims[0], &rho[oc_range])), None, None],
        )?;
        let (rho2, finals2) = zk_sumcheck::verify(
            t,
            gens,
            &finals1[1],
            num_vars(&x_shape),
            &Expression::product(2)?,
            &message.sumchecks[1],
            |rho2| vec![None, Some(m_at(&g, &rho, &r_dims, rho2))],
        )?;
        let head = ConvHead {
            output: v[0],
            remainder: v[1],
            bias: v.get(2).copied(),
        };
        push_claims_of(
            node, n, &g, &r, &rho, &rho2, head, finals1[0], finals2[0], claims,
        );
        Ok(())
    }
}

/// [`inner_claim`] as an affine map of the sent `[Y(r), R(r), bias(r_oc)]`.
fn zk_inner_claim(model: &Model, node: &Node, g: &Geometry, r: &[Fr]) -> Affine {
    let has_bias = g.has_bias;
    affine(2 + has_bias as usize, |v| {
        inner_claim(model, node, g, r, v[0], v[1], has_bias.then(|| v[2]))
    })
}
