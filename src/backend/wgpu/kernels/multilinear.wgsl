// ---- Multilinear kernels over Fr (eq-table, bind, inner product; the sumcheck
// round is sumcheck.wgsl, generated per degree).
// Every binding number is used by one variable only, so each entry point's
// automatic layout holds exactly the buffers it touches.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> eq_low: array<array<u32, 8>>;
@group(0) @binding(2) var<storage, read> eq_high: array<array<u32, 8>>;
@group(0) @binding(3) var<storage, read_write> out: array<array<u32, 8>>;
@group(0) @binding(4) var<storage, read> pairs: array<array<u32, 8>>;
@group(0) @binding(5) var<storage, read> lo_half: array<array<u32, 8>>;
@group(0) @binding(6) var<storage, read> hi_half: array<array<u32, 8>>;
@group(0) @binding(7) var<storage, read> vec_a: array<array<u32, 8>>;
@group(0) @binding(8) var<storage, read> vec_b: array<array<u32, 8>>;

var<workgroup> red: array<array<u32, 8>, WG>;

fn param_fr(at: u32) -> array<u32, 8> {
    return array<u32, 8>(params[at], params[at + 1u], params[at + 2u], params[at + 3u],
                         params[at + 4u], params[at + 5u], params[at + 6u], params[at + 7u]);
}

// Sums red[0..WG) into red[0]; every thread of the workgroup must call it.
fn reduce_workgroup(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            red[lid] = fr_add(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
}

// out[i] = low[(offset + i) mod 2^low_bits] · high[(offset + i) >> low_bits].
// params: [count, low_bits, offset]
@compute @workgroup_size(WG)
fn eq_product(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let x = params[2] + i;
    let low_bits = params[1];
    let mask = (1u << low_bits) - 1u;
    out[i] = fr_mul(eq_low[x & mask], eq_high[x >> low_bits]);
}

// out[i] = v[2i] + r·(v[2i+1] − v[2i]).  params: [count, r (8 words)]
@compute @workgroup_size(WG)
fn bind_low(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let a = pairs[2u * i];
    let b = pairs[2u * i + 1u];
    out[i] = fr_add(a, fr_mul(param_fr(1u), fr_sub(b, a)));
}

// out[i] = lo[i] + r·(hi[i] − lo[i]).  params: [count, r (8 words)]
@compute @workgroup_size(WG)
fn bind_high(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let a = lo_half[i];
    out[i] = fr_add(a, fr_mul(param_fr(1u), fr_sub(hi_half[i], a)));
}

// One partial sum Σ a[i]·b[i] per workgroup (grid-stride over i < count).
// params: [count]
@compute @workgroup_size(WG)
fn inner_product(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let count = params[0];
    let total = nwg.x * nwg.y * WG;
    var acc = FR_ZERO;
    for (var i = global_index(wg, nwg, lid); i < count; i = i + total) {
        acc = fr_add(acc, fr_mul(vec_a[i], vec_b[i]));
    }
    red[lid] = acc;
    workgroupBarrier();
    reduce_workgroup(lid);
    if (lid == 0u) {
        out[wg.y * nwg.x + wg.x] = red[0];
    }
}
