// ---- One sumcheck round over Fr, for a degree fixed when the module is built:
// POINTS = degree + 1 is a constant (prepended by shaders.rs), so every loop over
// the evaluation points t has constant bounds and the per-thread arrays can live
// in registers once the driver unrolls them.
//
// Partial sums, for t = 0..POINTS: Σ_pairs Σ_terms coeff · Π_factors
// (v[2p] + t·(v[2p+1] − v[2p])), one row of POINTS values per workgroup.
// `mles` holds the MLEs one after another, `stride` elements apart; `terms`
// lists, per term, its factor count and then its factor indices.
// params: [pairs, stride, degree (unused: POINTS − 1), num_terms]

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<array<u32, 8>>;
@group(0) @binding(9) var<storage, read> mles: array<array<u32, 8>>;
@group(0) @binding(10) var<storage, read> terms: array<u32>;
@group(0) @binding(11) var<storage, read> coeffs: array<array<u32, 8>>;

var<workgroup> red: array<array<u32, 8>, WG>;

@compute @workgroup_size(WG)
fn sumcheck_round(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let pairs_count = params[0];
    let stride = params[1];
    let num_terms = params[3];
    let total = nwg.x * nwg.y * WG;
    var acc: array<array<u32, 8>, POINTS>;
    for (var t = 0u; t < POINTS; t = t + 1u) {
        acc[t] = FR_ZERO;
    }
    for (var p = global_index(wg, nwg, lid); p < pairs_count; p = p + total) {
        var cursor = 0u;
        for (var term = 0u; term < num_terms; term = term + 1u) {
            let factors = terms[cursor];
            cursor = cursor + 1u;
            var prod: array<array<u32, 8>, POINTS>;
            let coeff = coeffs[term];
            for (var t = 0u; t < POINTS; t = t + 1u) {
                prod[t] = coeff;
            }
            for (var f = 0u; f < factors; f = f + 1u) {
                let base = terms[cursor] * stride + 2u * p;
                cursor = cursor + 1u;
                let a = mles[base];
                let d = fr_sub(mles[base + 1u], a);
                var v = a;
                for (var t = 0u; t < POINTS; t = t + 1u) {
                    prod[t] = fr_mul(prod[t], v);
                    v = fr_add(v, d);
                }
            }
            for (var t = 0u; t < POINTS; t = t + 1u) {
                acc[t] = fr_add(acc[t], prod[t]);
            }
        }
    }
    let row = (wg.y * nwg.x + wg.x) * POINTS;
    for (var t = 0u; t < POINTS; t = t + 1u) {
        red[lid] = acc[t];
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s = s >> 1u) {
            if (lid < s) {
                red[lid] = fr_add(red[lid], red[lid + s]);
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            out[row + t] = red[0];
        }
        workgroupBarrier();
    }
}
