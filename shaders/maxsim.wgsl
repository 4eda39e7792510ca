// MaxSim of one query against every stored passage of one chunk of the index, in two passes.
//
// `segment_max`: one workgroup of 64 lanes per segment (a run of at most a few thousand token values
// of one passage). The query is taken `TILE` tokens at a time into workgroup memory (loaded once per
// workgroup, read by every lane as a broadcast); each lane takes every 64th document token of the
// segment, loads its values once per tile as vec4s, and keeps `TILE` dot products and `TILE` running
// maxima in registers; the 64 lanes' maxima are then reduced in workgroup memory, one query token
// per lane. int8 uses packed 4x8 integer dot products (`dot4I8Packed`), one per four values; binary
// compares the query's sign words with the document's by XOR and `countOneBits`.
// `passage_sum`: one invocation per passage takes, per query token, the best over the passage's
// segments and sums them in query-token order (so rounding does not depend on scheduling).
//
// The storage precision is a pipeline-overridable constant (`STORAGE`), so each precision gets its own
// specialised pipeline with the decoding branch folded away. Short segments keep every loop short:
// Mesa's lavapipe silently stops loops that run long, and long documents get more parallelism.
// Similarities are defined as in src/score/mod.rs (`similarity`), the scalar reference this kernel is
// checked against (tests/score.rs); float sums run in vec4 steps, so they round a little differently.

// 0 f32, 1 f16, 2 int8, 3 binary: the order of `Precision::ALL`.
override STORAGE: u32 = 0u;

struct Params {
    dim: u32,
    n_query: u32,
    n_passages: u32,
    n_segments: u32,
    // u32 words per stored token (tokens are padded to whole words).
    stride: u32,
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
// Query tokens per tile; must match the eight accumulators below.
const TILE: u32 = 8u;
// Widest vectors the kernel takes, in vec4s (256 values); wider ones are scored on the CPU.
const MAX_DIM4: u32 = 64u;
const LOWEST: f32 = -3.40282346e38f;

// The current query tile: f32 values as vec4s, and int8 codes packed four to a word.
var<workgroup> tile_values: array<vec4<f32>, 512>; // TILE * MAX_DIM4
var<workgroup> tile_codes: array<u32, 512>;
var<workgroup> tile_scales: array<f32, TILE>;
// Each lane's running maxima for the tile, then reduced per query token.
var<workgroup> lane_tops: array<f32, 512>; // WORKGROUP * TILE

fn query_value(qi: u32, j: u32) -> f32 {
    if qi < params.n_query && j < params.dim {
        return query[qi * params.dim + j];
    }
    return 0.0;
}

fn query_code(qi: u32, j: u32) -> i32 {
    if qi < params.n_query && j < params.dim {
        return query_codes[qi * params.dim + j];
    }
    return 0;
}

/// Values 4*j4 .. 4*j4+3 of stored token `t` (f32 or f16), as f32 (zero past `dim`).
fn doc_vec4(t: u32, j4: u32) -> vec4<f32> {
    let base = t * params.stride;
    let j = 4u * j4;
    var v: vec4<f32>;
    if STORAGE == 0u {
        let end = params.dim - j; // > 0
        v = vec4<f32>(
            bitcast<f32>(doc[base + j]),
            select(0.0, bitcast<f32>(doc[base + min(j + 1u, params.dim - 1u)]), end > 1u),
            select(0.0, bitcast<f32>(doc[base + min(j + 2u, params.dim - 1u)]), end > 2u),
            select(0.0, bitcast<f32>(doc[base + min(j + 3u, params.dim - 1u)]), end > 3u),
        );
    } else {
        let w = base + j / 2u;
        v = vec4<f32>(unpack2x16float(doc[w]), unpack2x16float(doc[min(w + 1u, base + params.stride - 1u)]));
        let end = params.dim - j;
        v = select(vec4<f32>(0.0), v, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(end));
    }
    return v;
}

fn load_tile(q0: u32, lane: u32, dim4: u32) {
    if STORAGE == 3u {
        // The query's sign words (`stride` per token), uploaded in place of int8 codes.
        for (var i = lane; i < TILE * params.stride; i += WORKGROUP) {
            let qi = q0 + i / params.stride;
            let word = query_codes[min(qi, params.n_query - 1u) * params.stride + i % params.stride];
            tile_codes[i] = select(0u, bitcast<u32>(word), qi < params.n_query);
        }
        return;
    }
    for (var i = lane; i < TILE * dim4; i += WORKGROUP) {
        let qi = q0 + i / dim4;
        let j = 4u * (i % dim4);
        if STORAGE == 2u {
            let c = vec4<i32>(query_code(qi, j), query_code(qi, j + 1u), query_code(qi, j + 2u), query_code(qi, j + 3u));
            tile_codes[i] = pack4xI8(c);
        } else {
            tile_values[i] = vec4<f32>(query_value(qi, j), query_value(qi, j + 1u), query_value(qi, j + 2u), query_value(qi, j + 3u));
        }
    }
    if lane < TILE {
        tile_scales[lane] = select(0.0, query_scales[min(q0 + lane, params.n_query - 1u)], q0 + lane < params.n_query);
    }
}

/// Similarities of stored token `t` with the tile's eight query tokens.
fn tile_similarities(t: u32, dim4: u32) -> array<f32, 8> {
    var s: array<f32, 8>;
    if STORAGE == 2u {
        var a0 = 0i; var a1 = 0i; var a2 = 0i; var a3 = 0i;
        var a4 = 0i; var a5 = 0i; var a6 = 0i; var a7 = 0i;
        let base = t * params.stride;
        for (var j = 0u; j < dim4; j++) {
            let d = doc[base + j];
            a0 += dot4I8Packed(tile_codes[j], d);
            a1 += dot4I8Packed(tile_codes[dim4 + j], d);
            a2 += dot4I8Packed(tile_codes[2u * dim4 + j], d);
            a3 += dot4I8Packed(tile_codes[3u * dim4 + j], d);
            a4 += dot4I8Packed(tile_codes[4u * dim4 + j], d);
            a5 += dot4I8Packed(tile_codes[5u * dim4 + j], d);
            a6 += dot4I8Packed(tile_codes[6u * dim4 + j], d);
            a7 += dot4I8Packed(tile_codes[7u * dim4 + j], d);
        }
        let ds = doc_scales[t];
        s = array<f32, 8>(
            f32(a0) * (tile_scales[0] * ds), f32(a1) * (tile_scales[1] * ds),
            f32(a2) * (tile_scales[2] * ds), f32(a3) * (tile_scales[3] * ds),
            f32(a4) * (tile_scales[4] * ds), f32(a5) * (tile_scales[5] * ds),
            f32(a6) * (tile_scales[6] * ds), f32(a7) * (tile_scales[7] * ds),
        );
    } else if STORAGE == 3u {
        // Sign bits: differing bits by XOR + countOneBits, as the ±1 dot product dim - 2 * differing.
        var n: array<u32, 8>;
        let w = params.stride;
        let base = t * w;
        for (var j = 0u; j < w; j++) {
            let d = doc[base + j];
            for (var k = 0u; k < TILE; k++) {
                n[k] += countOneBits(tile_codes[k * w + j] ^ d);
            }
        }
        for (var k = 0u; k < TILE; k++) {
            s[k] = f32(i32(params.dim) - 2 * i32(n[k]));
        }
    } else {
        var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
        var a4 = 0.0; var a5 = 0.0; var a6 = 0.0; var a7 = 0.0;
        for (var j = 0u; j < dim4; j++) {
            let d = doc_vec4(t, j);
            a0 += dot(tile_values[j], d);
            a1 += dot(tile_values[dim4 + j], d);
            a2 += dot(tile_values[2u * dim4 + j], d);
            a3 += dot(tile_values[3u * dim4 + j], d);
            a4 += dot(tile_values[4u * dim4 + j], d);
            a5 += dot(tile_values[5u * dim4 + j], d);
            a6 += dot(tile_values[6u * dim4 + j], d);
            a7 += dot(tile_values[7u * dim4 + j], d);
        }
        s = array<f32, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
    }
    return s;
}

@compute @workgroup_size(64)
fn segment_max(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    // Every lane reaches every barrier: a segment past the end still runs the loops, writing nothing.
    let segment = group.y * MAX_GROUPS_X + group.x;
    let live = segment < params.n_segments;
    let tokens = select(vec2<u32>(0u), segments[min(segment, params.n_segments - 1u)], live);
    let dim4 = (params.dim + 3u) / 4u;
    for (var q0 = 0u; q0 < params.n_query; q0 += TILE) {
        workgroupBarrier();
        load_tile(q0, lane, dim4);
        workgroupBarrier();
        var top = array<f32, 8>(LOWEST, LOWEST, LOWEST, LOWEST, LOWEST, LOWEST, LOWEST, LOWEST);
        for (var t = tokens.x + lane; t < tokens.y; t += WORKGROUP) {
            let s = tile_similarities(t, dim4);
            for (var k = 0u; k < TILE; k++) {
                top[k] = max(top[k], s[k]);
            }
        }
        for (var k = 0u; k < TILE; k++) {
            lane_tops[lane * TILE + k] = top[k];
        }
        workgroupBarrier();
        if live && lane < TILE && q0 + lane < params.n_query {
            var best = LOWEST;
            for (var l = 0u; l < WORKGROUP; l++) {
                best = max(best, lane_tops[l * TILE + lane]);
            }
            partial[segment * params.n_query + q0 + lane] = best;
        }
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
            var top = LOWEST;
            for (var s = range.x; s < range.y; s++) {
                top = max(top, partial[s * params.n_query + qi]);
            }
            total += top;
        }
    }
    scores[passage] = total;
}
