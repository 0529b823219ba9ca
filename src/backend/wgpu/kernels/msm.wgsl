// ---- Pippenger MSM over G1 for a group of `rows` MSMs over the same `cols` bases.
//
// Pipeline (one dispatch each, all in one submission; msm.rs drives it):
//  1. msm_count:   signed-digit recoding of every scalar (window c bits, W windows),
//                  counting the points of every bucket key (row, window, |digit|).
//  2. scan:        exclusive prefix sums of the counts → each key's first slot.
//  3. msm_scatter: the same recoding; every point index (sign in bit 31) is written
//                  into its key's slots (a slot per atomic increment: no races).
//  4. msm_segment_counts + scan: every key's points are cut into segments of
//                  max(seg_min, ⌈√count⌉) points, so one heavy bucket (many equal
//                  scalars) is summed by many threads.
//  5. msm_segment_sums: one thread per segment adds its affine points (mixed adds).
//  6. msm_bucket_sums: one thread per key adds its segments.
//  7. msm_bucket_chunks: running sums over chunks of each window's buckets give
//                  Σ digit·bucket per chunk; msm_reduce_points folds the chunks of
//                  a window into the window's sum. The host combines the windows.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read> scalars: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts_atomic: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> cursor_atomic: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> entries: array<u32>;
@group(0) @binding(5) var<storage, read> counts: array<u32>;
@group(0) @binding(6) var<storage, read> offsets: array<u32>;
@group(0) @binding(7) var<storage, read_write> segment_counts: array<u32>;
@group(0) @binding(8) var<storage, read> segment_offsets: array<u32>;
@group(0) @binding(9) var<storage, read> bases: array<Aff>;
@group(0) @binding(10) var<storage, read_write> segment_sums: array<Jac>;
@group(0) @binding(11) var<storage, read> segment_sums_in: array<Jac>;
@group(0) @binding(12) var<storage, read_write> points_out: array<Jac>;
@group(0) @binding(13) var<storage, read> points_in: array<Jac>;

// params layout, shared by every MSM kernel.
const P_ROWS: u32 = 0u;          // MSMs in this group
const P_COLS: u32 = 1u;          // points per MSM
const P_WINDOWS: u32 = 2u;       // W
const P_C: u32 = 3u;             // window bits c (2..=16)
const P_KIND: u32 = 4u;          // scalar encoding: 0 Fr (Montgomery), 1 i64, 2 i32
const P_SEG_MIN: u32 = 5u;       // smallest segment length
const P_KEYS: u32 = 6u;          // rows · W · 2^(c−1)
const P_COUNT: u32 = 7u;         // threads that have work in this dispatch
const P_CHUNK: u32 = 8u;         // buckets per chunk in msm_bucket_chunks
const P_GROUP: u32 = 9u;         // points folded per thread in msm_reduce_points
const P_BASE_OFFSET: u32 = 10u;  // index in `bases` of this column chunk's first point

struct Magnitude {
    w: array<u32, 8>,
    negative: bool,
}

// The scalar of thread t as a canonical magnitude and a sign.
fn load_magnitude(t: u32) -> Magnitude {
    var m: Magnitude;
    m.w = FR_ZERO;
    m.negative = false;
    let kind = params[P_KIND];
    if (kind == 0u) {
        let b = 8u * t;
        let mont = array<u32, 8>(scalars[b], scalars[b + 1u], scalars[b + 2u], scalars[b + 3u],
                                 scalars[b + 4u], scalars[b + 5u], scalars[b + 6u], scalars[b + 7u]);
        m.w = fr_from_mont(mont);
    } else if (kind == 1u) {
        var lo = scalars[2u * t];
        var hi = scalars[2u * t + 1u];
        if ((hi >> 31u) == 1u) {
            // Two's complement negation; i64::MIN gives the magnitude 2^63.
            m.negative = true;
            lo = ~lo + 1u;
            hi = ~hi + select(0u, 1u, lo == 0u);
        }
        m.w[0] = lo;
        m.w[1] = hi;
    } else {
        var v = scalars[t];
        if ((v >> 31u) == 1u) {
            m.negative = true;
            v = ~v + 1u;
        }
        m.w[0] = v;
    }
    return m;
}

// c bits of the magnitude starting at bit `offset` (zero past bit 255).
fn window_bits(w: array<u32, 8>, offset: u32, c: u32) -> u32 {
    let word = offset >> 5u;
    if (word >= 8u) {
        return 0u;
    }
    var wv = w;
    let shift = offset & 31u;
    var bits = wv[word] >> shift;
    if (shift + c > 32u && word + 1u < 8u) {
        bits = bits | (wv[word + 1u] << (32u - shift));
    }
    return bits & ((1u << c) - 1u);
}

// Signed digit of window `w`, updating the carry: returns |digit| | (digit < 0) << 31.
// Digits lie in [−2^(c−1), 2^(c−1)); the last window keeps its value (at most
// 2^(c−1), because W·c ≥ bits + 1).
fn next_digit(w: array<u32, 8>, window: u32, carry: ptr<function, u32>) -> u32 {
    let c = params[P_C];
    let half = 1u << (c - 1u);
    var d = window_bits(w, window * c, c) + *carry;
    if (window + 1u < params[P_WINDOWS] && d >= half) {
        *carry = 1u;
        return ((1u << c) - d) | 0x80000000u;
    }
    *carry = 0u;
    return d;
}

fn bucket_key(row: u32, window: u32, magnitude: u32) -> u32 {
    let buckets = 1u << (params[P_C] - 1u);
    return (row * params[P_WINDOWS] + window) * buckets + magnitude - 1u;
}

@compute @workgroup_size(WG)
fn msm_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = global_index(wg, nwg, lid);
    if (t >= params[P_COUNT]) {
        return;
    }
    let row = t / params[P_COLS];
    let m = load_magnitude(t);
    var carry = 0u;
    for (var window = 0u; window < params[P_WINDOWS]; window = window + 1u) {
        let digit = next_digit(m.w, window, &carry);
        let magnitude = digit & 0x7fffffffu;
        if (magnitude != 0u) {
            atomicAdd(&counts_atomic[bucket_key(row, window, magnitude)], 1u);
        }
    }
}

@compute @workgroup_size(WG)
fn msm_scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = global_index(wg, nwg, lid);
    if (t >= params[P_COUNT]) {
        return;
    }
    let cols = params[P_COLS];
    let row = t / cols;
    let col = t - row * cols;
    let m = load_magnitude(t);
    var carry = 0u;
    for (var window = 0u; window < params[P_WINDOWS]; window = window + 1u) {
        let digit = next_digit(m.w, window, &carry);
        let magnitude = digit & 0x7fffffffu;
        if (magnitude != 0u) {
            let negative = ((digit >> 31u) == 1u) != m.negative;
            let slot = atomicAdd(&cursor_atomic[bucket_key(row, window, magnitude)], 1u);
            entries[slot] = col | select(0u, 0x80000000u, negative);
        }
    }
}

// ⌈√n⌉ by bisection on integers (the same answer in every kernel).
fn sqrt_ceil(n: u32) -> u32 {
    var r = 0u;
    for (var b = 1u << 15u; b > 0u; b = b >> 1u) {
        let t = r | b;
        if (t * t <= n) {
            r = t;
        }
    }
    if (r * r < n) {
        r = r + 1u;
    }
    return r;
}

fn segment_len(count: u32) -> u32 {
    return max(params[P_SEG_MIN], sqrt_ceil(count));
}

fn segment_count(count: u32) -> u32 {
    if (count == 0u) {
        return 0u;
    }
    let len = segment_len(count);
    return (count + len - 1u) / len;
}

@compute @workgroup_size(WG)
fn msm_segment_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let key = global_index(wg, nwg, lid);
    if (key >= params[P_KEYS]) {
        return;
    }
    segment_counts[key] = segment_count(counts[key]);
}

// Thread t sums segment t (P_COUNT is an upper bound on the number of segments;
// threads past the real number write nothing).
@compute @workgroup_size(WG)
fn msm_segment_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let t = global_index(wg, nwg, lid);
    let keys = params[P_KEYS];
    let last = keys - 1u;
    let total = segment_offsets[last] + segment_count(counts[last]);
    if (t >= total || t >= params[P_COUNT]) {
        return;
    }
    // The key whose segments contain t: the last key with segment_offsets[key] ≤ t.
    var lo = 0u;
    var hi = keys;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (segment_offsets[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let key = lo;
    let count = counts[key];
    let len = segment_len(count);
    let first = (t - segment_offsets[key]) * len;
    let n = min(len, count - first);
    let start = offsets[key] + first;
    var acc = jac_identity();
    for (var e = start; e < start + n; e = e + 1u) {
        let entry = entries[e];
        let p = bases[params[P_BASE_OFFSET] + (entry & 0x7fffffffu)];
        if (!aff_is_identity(p)) {
            var y = p.y;
            if ((entry >> 31u) == 1u) {
                y = fq_neg(y);
            }
            acc = jac_add_affine(acc, p.x, y);
        }
    }
    segment_sums[t] = acc;
}

@compute @workgroup_size(WG)
fn msm_bucket_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let key = global_index(wg, nwg, lid);
    if (key >= params[P_KEYS]) {
        return;
    }
    let first = segment_offsets[key];
    let n = segment_count(counts[key]);
    var acc = jac_identity();
    for (var s = 0u; s < n; s = s + 1u) {
        acc = jac_add(acc, segment_sums_in[first + s]);
    }
    points_out[key] = acc;
}

// Thread u takes buckets [lo, lo + chunk) of one window (bucket b holds digit b + 1)
// and writes Σ (b + 1)·bucket_b = Σ (b − lo + 1)·bucket_b + lo·Σ bucket_b.
// params[P_COUNT] = windows in the group × chunks per window.
@compute @workgroup_size(WG)
fn msm_bucket_chunks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let u = global_index(wg, nwg, lid);
    if (u >= params[P_COUNT]) {
        return;
    }
    let chunk = params[P_CHUNK];
    let buckets = 1u << (params[P_C] - 1u);
    let per_window = buckets / chunk;
    let window = u / per_window;
    let lo = (u - window * per_window) * chunk;
    let base = window * buckets + lo;
    var running = jac_identity();
    var acc = jac_identity();
    for (var k = chunk; k > 0u; k = k - 1u) {
        running = jac_add(running, points_in[base + k - 1u]);
        acc = jac_add(acc, running);
    }
    points_out[u] = jac_add(acc, jac_mul_u32(running, lo));
}

// points_out[u] = Σ points_in[u·group .. (u+1)·group).  params[P_COUNT] = outputs.
@compute @workgroup_size(WG)
fn msm_reduce_points(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let u = global_index(wg, nwg, lid);
    if (u >= params[P_COUNT]) {
        return;
    }
    let group = params[P_GROUP];
    var acc = jac_identity();
    for (var k = 0u; k < group; k = k + 1u) {
        acc = jac_add(acc, points_in[u * group + k]);
    }
    points_out[u] = acc;
}
