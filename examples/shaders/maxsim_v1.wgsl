// The MaxSim kernel before the tiled rewrite (one invocation per query token, scalar loads, a switch
// on the precision in the innermost loop): kept only so examples/gpu_bench.rs can measure the new kernel
// against it on the same adapter. Not shipped.
// MaxSim of one query against every stored passage of one chunk of the index, any storage precision,
// in two passes. `segment_max`: one workgroup per segment (a run of at most a few thousand token
// values of one passage); each invocation takes every 64th query token and writes its best
// similarity over the segment. `passage_sum`: one invocation per passage takes, per query token, the
// best over the passage's segments and sums them in query-token order (so rounding does not depend
// on scheduling). Short segments keep every loop short: Mesa's lavapipe silently stops loops that run
// long, and long documents get more parallelism. Similarities are defined exactly as in
// src/score/mod.rs (`similarity`), the scalar reference this kernel is checked against
// (tests/score.rs).

struct Params {
    dim: u32,
    n_query: u32,
    n_passages: u32,
    n_segments: u32,
    // u32 words per stored token (tokens are padded to whole words).
    stride: u32,
    // 0 f32, 1 f16, 2 int8, 3 binary: the order of `Precision::ALL`.
    storage: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> query: array<f32>;
@group(0) @binding(2) var<storage, read> query_codes: array<i32>;
@group(0) @binding(3) var<storage, read> query_scales: array<f32>;
// Per segment: first token and one-past-last token, relative to this chunk's `doc`.
@group(0) @binding(4) var<storage, read> segments: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read> doc: array<u32>;
@group(0) @binding(6) var<storage, read> doc_scales: array<f32>;
// Best similarity per segment and query token: `n_query` values per segment.
@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
// Per passage: first segment and one-past-last segment.
@group(0) @binding(8) var<storage, read> passage_segments: array<vec2<u32>>;
@group(0) @binding(9) var<storage, read_write> scores: array<f32>;

const WORKGROUP: u32 = 64u;
// Dispatches wider than this many workgroups fold into a second dimension.
const MAX_GROUPS_X: u32 = 65535u;

fn float_similarity(qi: u32, t: u32) -> f32 {
    let q = qi * params.dim;
    let d = t * params.stride;
    var sum = 0.0;
    for (var j = 0u; j < params.dim; j++) {
        var value: f32;
        switch params.storage {
            case 0u: { value = bitcast<f32>(doc[d + j]); }
            case 1u: { value = unpack2x16float(doc[d + j / 2u])[j % 2u]; }
            default: { value = select(-1.0, 1.0, ((doc[d + j / 32u] >> (j % 32u)) & 1u) == 1u); }
        }
        sum += query[q + j] * value;
    }
    return sum;
}

fn int8_similarity(qi: u32, t: u32) -> f32 {
    let q = qi * params.dim;
    let d = t * params.stride;
    var acc = 0i;
    for (var j = 0u; j < params.dim; j++) {
        let code = extractBits(bitcast<i32>(doc[d + j / 4u]), (j % 4u) * 8u, 8u);
        acc += query_codes[q + j] * code;
    }
    return f32(acc) * (query_scales[qi] * doc_scales[t]);
}

@compute @workgroup_size(64)
fn segment_max(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let segment = group.y * MAX_GROUPS_X + group.x;
    if segment >= params.n_segments {
        return;
    }
    let tokens = segments[segment];
    for (var qi = lane; qi < params.n_query; qi += WORKGROUP) {
        var top = -3.40282346e38f;
        for (var t = tokens.x; t < tokens.y; t++) {
            var sim: f32;
            if params.storage == 2u {
                sim = int8_similarity(qi, t);
            } else {
                sim = float_similarity(qi, t);
            }
            top = max(top, sim);
        }
        partial[segment * params.n_query + qi] = top;
    }
}

@compute @workgroup_size(64)
fn passage_sum(@builtin(global_invocation_id) id: vec3<u32>) {
    let passage = id.y * MAX_GROUPS_X * WORKGROUP + id.x;
    if passage >= params.n_passages {
        return;
    }
    let range = passage_segments[passage];
    var total = 0.0;
    if range.y > range.x {
        for (var qi = 0u; qi < params.n_query; qi++) {
            var top = -3.40282346e38f;
            for (var s = range.x; s < range.y; s++) {
                top = max(top, partial[s * params.n_query + qi]);
            }
            total += top;
        }
    }
    scores[passage] = total;
}
