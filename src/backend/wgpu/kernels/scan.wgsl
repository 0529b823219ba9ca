// ---- Exclusive prefix sums of u32 arrays, in blocks of WG·4 values.

@group(0) @binding(0) var<storage, read> params: array<u32>;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> block_sums: array<u32>;
@group(0) @binding(3) var<storage, read> block_offsets: array<u32>;

const PER_THREAD: u32 = 4u;
var<workgroup> partial: array<u32, WG>;

// Scans each block of WG·4 values in place (exclusive) and writes its total to
// block_sums[block].  params: [count, blocks]
@compute @workgroup_size(WG)
fn scan_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let count = params[0];
    let block = wg.y * nwg.x + wg.x;
    // Workgroups past the last block (2-D dispatch rounding) have nothing to do;
    // the condition is uniform across the workgroup.
    if (block >= params[1]) {
        return;
    }
    let first = (block * WG + lid) * PER_THREAD;
    var values: array<u32, 4>;
    var sum = 0u;
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = first + k;
        var v = 0u;
        if (i < count) {
            v = data[i];
        }
        values[k] = v;
        sum = sum + v;
    }
    // Hillis–Steele inclusive scan of the per-thread sums.
    partial[lid] = sum;
    workgroupBarrier();
    for (var s = 1u; s < WG; s = s << 1u) {
        var add = 0u;
        if (lid >= s) {
            add = partial[lid - s];
        }
        workgroupBarrier();
        partial[lid] = partial[lid] + add;
        workgroupBarrier();
    }
    var running = partial[lid] - sum;
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = first + k;
        if (i < count) {
            data[i] = running;
        }
        running = running + values[k];
    }
    if (lid == WG - 1u) {
        block_sums[block] = partial[lid];
    }
}

// data[i] += block_offsets[i / (WG·4)].  params: [count]
@compute @workgroup_size(WG)
fn add_block_offsets(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = global_index(wg, nwg, lid);
    if (i >= params[0]) {
        return;
    }
    data[i] = data[i] + block_offsets[i / (WG * PER_THREAD)];
}
