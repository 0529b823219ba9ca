// ---- Radix-2 NTT over Fr: powers tables, scaling, bit reversal, butterflies.
// A batch of polynomials of `size` = 2^log_size coefficients lies one after
// another in `data`.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read_write> data: array<array<u32, 8>>;
@group(0) @binding(2) var<storage, read> twiddles: array<array<u32, 8>>;
@group(0) @binding(3) var<storage, read> src: array<array<u32, 8>>;
@group(0) @binding(4) var<storage, read> table: array<array<u32, 8>>;
@group(0) @binding(5) var<storage, read_write> powers_out: array<array<u32, 8>>;
@group(0) @binding(6) var<storage, read> base_pows: array<array<u32, 8>>;

// powers_out[j] = factor · base^j, with base_pows[k] = base^(2^k).
// params: [count, bits, 0, 0, factor (8 words)]
@compute @workgroup_size(WG)
fn powers(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let j = global_index(wg, nwg, lid);
    if (j >= params[0]) {
        return;
    }
    var acc = array<u32, 8>(params[4], params[5], params[6], params[7],
                            params[8], params[9], params[10], params[11]);
    for (var k = 0u; k < params[1]; k = k + 1u) {
        if (((j >> k) & 1u) == 1u) {
            acc = fr_mul(acc, base_pows[k]);
        }
    }
    powers_out[j] = acc;
}

// data[i] = data[i] · table[i mod size].  params: [count, log_size]
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let mask = (1u << params[1]) - 1u;
    data[i] = fr_mul(data[i], table[i & mask]);
}

// data[poly·size + rev(j)] = src[poly·size + j].  params: [count, log_size ≥ 1]
@compute @workgroup_size(WG)
fn bit_reverse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let log_size = params[1];
    let mask = (1u << log_size) - 1u;
    let j = i & mask;
    let r = reverseBits(j) >> (32u - log_size);
    data[(i - j) + r] = src[i];
}

// One Cooley–Tukey stage on bit-reversed input: butterflies of half-width
// m = 2^log_half, twiddle ω_size^(pos·size/(2m)) from twiddles[e] = ω_size^e.
// params: [butterflies, log_size, log_half]
@compute @workgroup_size(WG)
fn butterfly(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = global_index(wg, nwg, lid);
    if (t >= params[0]) {
        return;
    }
    let log_size = params[1];
    let log_half = params[2];
    let half_size_mask = (1u << (log_size - 1u)) - 1u;
    let poly = t >> (log_size - 1u);
    let k = t & half_size_mask;
    let m = 1u << log_half;
    let group = k >> log_half;
    let pos = k & (m - 1u);
    let i0 = (poly << log_size) + (group << (log_half + 1u)) + pos;
    let i1 = i0 + m;
    let w = twiddles[pos << (log_size - 1u - log_half)];
    let u = data[i0];
    let v = fr_mul(data[i1], w);
    data[i0] = fr_add(u, v);
    data[i1] = fr_sub(u, v);
}
