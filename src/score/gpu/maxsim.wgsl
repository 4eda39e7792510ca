// MaxSim of one query against every stored passage of one chunk of the index, in two passes.
//
// `segment_max`: one workgroup of 64 lanes per segment (a run of at most a few thousand token values
// of one passage). The query is taken 16 tokens at a time into workgroup memory (`tile`, read by
// every lane at the same address: a broadcast). Each lane scores two document tokens at once
// against the tile, so every tile read feeds two dot products, with its 2 x 16 accumulators and 16
// running maxima in vec4 registers. Document tokens are laid out lane-interleaved within their
// segment: vec4 `v` of the segment's token `t` sits at `first + v * length + t`, so the lanes, taking
// neighbouring tokens, read one contiguous run of memory per load (coalesced) instead of strided
// ones. The lanes' maxima are then reduced in workgroup memory by halving. int8 uses packed 4x8
// integer dot products (`dot4I8Packed`, one per four values); binary counts differing sign bits by
// XOR and `countOneBits`; f16 unpacks eight halves per vec4 load.
// `passage_sum`: one invocation per passage takes, per query token, the best over the passage's
// segments and sums them in query-token order (so rounding does not depend on scheduling).
//
// Why no arrays in registers: WGSL loops carry a bound the driver cannot see past (wgpu adds a loop
// counter against infinite loops), so a loop over an accumulator array may stay a loop, and a
// dynamically indexed array then lives in slow per-lane memory. Measured on an H100 that cost more
// than everything else; accumulators are therefore named vec4s, indexed by constants only.
// The precision and the token width are pipeline-overridable constants, so each index layout gets its
// own specialised pipeline with the decoding branches folded away. Short segments keep every loop
// short: Mesa's lavapipe silently stops loops that run long, and long documents get more parallelism.
// Similarities are defined as in src/score/mod.rs (`similarity`), the scalar reference this kernel is
// checked against (tests/score.rs); float sums run in vec4 steps, so they round a little differently.

// The precision (`STORAGE_F32` … `STORAGE_BINARY`, declared with the bindings, `Params` and the
// workgroup constants by src/score/gpu/contract.rs in front of this file).
override STORAGE: u32 = 0u;
// vec4<u32>s per stored token: its words, padded to a multiple of four.
override TOKEN_VEC4S: u32 = 32u;
// vec4s per query token in the tile: TOKEN_VEC4S, doubled for f16 (the query stays f32).
override QUERY_VEC4S: u32 = 32u;
// The query tile's room in vec4s: TILE query tokens of QUERY_VEC4S.
override TILE_ROOM: u32 = 512u;

const LOWEST: f32 = -3.40282346e38f;

// The current query tile, as the stored precision compares it: f32 bits, int8 codes packed four to
// a word, or sign words.
var<workgroup> tile: array<vec4<u32>, TILE_ROOM>;
var<workgroup> tile_scales: array<f32, TILE>;
// Each lane's running maxima for the tile (four vec4s of query tokens per lane), reduced in place.
var<workgroup> lane_tops: array<vec4<f32>, 256>; // 4 * WORKGROUP

// Per lane, a value for each of the tile's 16 query tokens, four to a vec4.
struct Tile16 {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
    d: vec4<f32>,
}

fn query_value(qi: u32, j: u32) -> u32 {
    return select(0u, bitcast<u32>(query[qi * params.dim + min(j, params.dim - 1u)]), j < params.dim);
}

fn query_code(qi: u32, j: u32) -> i32 {
    return select(0, query_codes[qi * params.dim + min(j, params.dim - 1u)], j < params.dim);
}

fn query_sign_word(qi: u32, w: u32) -> u32 {
    return select(0u, bitcast<u32>(query_codes[qi * params.stride + min(w, params.stride - 1u)]), w < params.stride);
}

fn packed_codes(qi: u32, j: u32) -> u32 {
    return pack4xI8(vec4<i32>(query_code(qi, j), query_code(qi, j + 1u), query_code(qi, j + 2u), query_code(qi, j + 3u)));
}

/// Query tokens q0 .. q0 + TILE into `tile` (zeros past the query's end or its width).
fn load_tile(q0: u32, lane: u32) {
    for (var i = lane; i < TILE * QUERY_VEC4S; i += WORKGROUP) {
        let qi = min(q0 + i / QUERY_VEC4S, params.n_query - 1u);
        let v = i % QUERY_VEC4S;
        var words: vec4<u32>;
        if STORAGE == STORAGE_INT8 {
            let j = 16u * v;
            words = vec4<u32>(packed_codes(qi, j), packed_codes(qi, j + 4u), packed_codes(qi, j + 8u), packed_codes(qi, j + 12u));
        } else if STORAGE == STORAGE_BINARY {
            let w = 4u * v;
            words = vec4<u32>(query_sign_word(qi, w), query_sign_word(qi, w + 1u), query_sign_word(qi, w + 2u), query_sign_word(qi, w + 3u));
        } else {
            let j = 4u * v;
            words = vec4<u32>(query_value(qi, j), query_value(qi, j + 1u), query_value(qi, j + 2u), query_value(qi, j + 3u));
        }
        tile[i] = select(vec4<u32>(0u), words, q0 + i / QUERY_VEC4S < params.n_query);
    }
    if lane < TILE {
        tile_scales[lane] = select(0.0, query_scales[min(q0 + lane, params.n_query - 1u)], q0 + lane < params.n_query);
    }
}

/// int8: the dot product of tile query token `k`'s vec4 `v` with a document vec4; binary: their
/// differing sign bits.
fn int_dot(k: u32, v: u32, d: vec4<u32>) -> i32 {
    let q = tile[k * QUERY_VEC4S + v];
    if STORAGE == STORAGE_BINARY {
        return i32(dot(countOneBits(q ^ d), vec4<u32>(1u)));
    }
    return dot4I8Packed(q.x, d.x) + dot4I8Packed(q.y, d.y) + dot4I8Packed(q.z, d.z) + dot4I8Packed(q.w, d.w);
}

fn int_dots(k: u32, v: u32, d: vec4<u32>) -> vec4<i32> {
    return vec4<i32>(int_dot(k, v, d), int_dot(k + 1u, v, d), int_dot(k + 2u, v, d), int_dot(k + 3u, v, d));
}

/// f32 and f16: the dot product of tile query token `k` with a document vec4 (8 halves for f16).
fn float_dot(k: u32, v: u32, d: vec4<u32>) -> f32 {
    if STORAGE == STORAGE_F16 {
        let q = k * QUERY_VEC4S + 2u * v;
        let low = vec4<f32>(unpack2x16float(d.x), unpack2x16float(d.y));
        let high = vec4<f32>(unpack2x16float(d.z), unpack2x16float(d.w));
        return dot(bitcast<vec4<f32>>(tile[q]), low) + dot(bitcast<vec4<f32>>(tile[q + 1u]), high);
    }
    return dot(bitcast<vec4<f32>>(tile[k * QUERY_VEC4S + v]), bitcast<vec4<f32>>(d));
}

fn float_dots(k: u32, v: u32, d: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(float_dot(k, v, d), float_dot(k + 1u, v, d), float_dot(k + 2u, v, d), float_dot(k + 3u, v, d));
}

fn scales(k: u32) -> vec4<f32> {
    return vec4<f32>(tile_scales[k], tile_scales[k + 1u], tile_scales[k + 2u], tile_scales[k + 3u]);
}

/// int8 similarities of a dot product vec4 (query tokens k..k+3) for a document token of scale `ds`.
fn int8_scores(dots: vec4<i32>, k: u32, ds: f32) -> vec4<f32> {
    return vec4<f32>(dots) * (scales(k) * ds);
}

/// The best similarity of each tile query token over the segment's tokens `t` and `u` (a token given
/// twice counts once); `base`: the segment's first chunk token.
/// The int8/binary and f32/f16 loops differ in accumulator type only: integer sums stay exact and
/// feed the packed dot product's own accumulate; WGSL has no generics to share the loop.
fn pair_best(first: u32, length: u32, t: u32, u: u32, base: u32) -> Tile16 {
    if STORAGE >= STORAGE_INT8 {
        var a0 = vec4<i32>(0); var a1 = vec4<i32>(0); var a2 = vec4<i32>(0); var a3 = vec4<i32>(0);
        var b0 = vec4<i32>(0); var b1 = vec4<i32>(0); var b2 = vec4<i32>(0); var b3 = vec4<i32>(0);
        for (var v = 0u; v < TOKEN_VEC4S; v++) {
            let d = doc[first + v * length + t];
            let e = doc[first + v * length + u];
            a0 += int_dots(0u, v, d); a1 += int_dots(4u, v, d); a2 += int_dots(8u, v, d); a3 += int_dots(12u, v, d);
            b0 += int_dots(0u, v, e); b1 += int_dots(4u, v, e); b2 += int_dots(8u, v, e); b3 += int_dots(12u, v, e);
        }
        if STORAGE == STORAGE_BINARY {
            // The ±1 dot product is dim - 2 * differing: best where the fewest bits differ.
            let dim = vec4<i32>(i32(params.dim));
            return Tile16(
                vec4<f32>(dim - 2 * min(a0, b0)), vec4<f32>(dim - 2 * min(a1, b1)),
                vec4<f32>(dim - 2 * min(a2, b2)), vec4<f32>(dim - 2 * min(a3, b3)),
            );
        }
        let ds = doc_scales[base + t];
        let es = doc_scales[base + u];
        return Tile16(
            max(int8_scores(a0, 0u, ds), int8_scores(b0, 0u, es)),
            max(int8_scores(a1, 4u, ds), int8_scores(b1, 4u, es)),
            max(int8_scores(a2, 8u, ds), int8_scores(b2, 8u, es)),
            max(int8_scores(a3, 12u, ds), int8_scores(b3, 12u, es)),
        );
    }
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    for (var v = 0u; v < TOKEN_VEC4S; v++) {
        let d = doc[first + v * length + t];
        let e = doc[first + v * length + u];
        a0 += float_dots(0u, v, d); a1 += float_dots(4u, v, d); a2 += float_dots(8u, v, d); a3 += float_dots(12u, v, d);
        b0 += float_dots(0u, v, e); b1 += float_dots(4u, v, e); b2 += float_dots(8u, v, e); b3 += float_dots(12u, v, e);
    }
    return Tile16(max(a0, b0), max(a1, b1), max(a2, b2), max(a3, b3));
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
    let length = tokens.y - tokens.x;
    let first = tokens.x * TOKEN_VEC4S;
    for (var q0 = 0u; q0 < params.n_query; q0 += TILE) {
        workgroupBarrier();
        load_tile(q0, lane);
        workgroupBarrier();
        var top = Tile16(vec4<f32>(LOWEST), vec4<f32>(LOWEST), vec4<f32>(LOWEST), vec4<f32>(LOWEST));
        for (var t = lane; t < length; t += 2u * WORKGROUP) {
            let best = pair_best(first, length, t, min(t + WORKGROUP, length - 1u), tokens.x);
            top = Tile16(max(top.a, best.a), max(top.b, best.b), max(top.c, best.c), max(top.d, best.d));
        }
        lane_tops[lane] = top.a;
        lane_tops[WORKGROUP + lane] = top.b;
        lane_tops[2u * WORKGROUP + lane] = top.c;
        lane_tops[3u * WORKGROUP + lane] = top.d;
        for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
            workgroupBarrier();
            if lane < width {
                for (var j = 0u; j < 4u; j++) {
                    let i = j * WORKGROUP + lane;
                    lane_tops[i] = max(lane_tops[i], lane_tops[i + width]);
                }
            }
        }
        workgroupBarrier();
        if live && lane < TILE && q0 + lane < params.n_query {
            partial[segment * params.n_query + q0 + lane] = lane_tops[(lane / 4u) * WORKGROUP][lane % 4u];
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
