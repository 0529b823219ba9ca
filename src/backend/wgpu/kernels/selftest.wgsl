// ---- Test kernels: field and curve formulas on given inputs, checked against
// arkworks by the wgpu backend's tests.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> field_a: array<array<u32, 8>>;
@group(0) @binding(2) var<storage, read> field_b: array<array<u32, 8>>;
@group(0) @binding(3) var<storage, read_write> field_out: array<array<u32, 8>>;
@group(0) @binding(4) var<storage, read> jac_p: array<Jac>;
@group(0) @binding(5) var<storage, read> jac_q: array<Jac>;
@group(0) @binding(6) var<storage, read> aff_q: array<Aff>;
@group(0) @binding(7) var<storage, read_write> jac_out: array<Jac>;

// field_out[5i..5i+5] = a + b, a − b, a·b, from_mont(a), −a.  params: [count]
@compute @workgroup_size(WG)
fn fr_ops(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let a = field_a[i];
    let b = field_b[i];
    field_out[5u * i] = fr_add(a, b);
    field_out[5u * i + 1u] = fr_sub(a, b);
    field_out[5u * i + 2u] = fr_mul(a, b);
    field_out[5u * i + 3u] = fr_from_mont(a);
    field_out[5u * i + 4u] = fr_neg(a);
}

@compute @workgroup_size(WG)
fn fq_ops(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let a = field_a[i];
    let b = field_b[i];
    field_out[5u * i] = fq_add(a, b);
    field_out[5u * i + 1u] = fq_sub(a, b);
    field_out[5u * i + 2u] = fq_mul(a, b);
    field_out[5u * i + 3u] = fq_from_mont(a);
    field_out[5u * i + 4u] = fq_neg(a);
}

// jac_out[4i..4i+4] = 2P, P + Q, P + q (affine; P when q is the identity), k·P
// with k = params[1 + i].  params: [count, k_0, k_1, …]
@compute @workgroup_size(WG)
fn g1_ops(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    let p = jac_p[i];
    jac_out[4u * i] = jac_double(p);
    jac_out[4u * i + 1u] = jac_add(p, jac_q[i]);
    let q = aff_q[i];
    if (aff_is_identity(q)) {
        jac_out[4u * i + 2u] = p;
    } else {
        jac_out[4u * i + 2u] = jac_add_affine(p, q.x, q.y);
    }
    jac_out[4u * i + 3u] = jac_mul_u32(p, params[1u + i]);
}
