#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use crate::Scaler;
use crate::mmm::FusedKerSpec;

// Wasm SIMD int8 -> i32 matmul kernels, 4x4 and 4x8. Under +relaxed-simd the 4x4 AddMatMul K-loop
// uses i32x4.relaxed_dot_i8x16_i7x16_add with B sign-split so both dot operands stay in the i7 range
// where the instruction is deterministic (see add_mat_mul_4x4); without relaxed-simd both tiles take
// two k at a time through i32x4.dot_i16x8_s: the 4x4 widening and interleaving i8 K-major panels in
// its loop, the 4x8 on panels packed ready as i16 k pairs (PackedI16K2); wasm/mod.rs prefers the
// 4x8 tile, which only that build has. The quant epilogue + fuse ops reuse the bit-exact scalar path
// (q_scale/q_shr/q_shl), which is O(MR*NR) and negligible vs the O(MR*NR*K) inner loop. Every path
// is bit-identical to the generic scalar kernels; selected for i8 matmul because they are written
// for wasm and the generic scalar kernel is not (WASM had no int8 matmul kernel before these).

/// The fused-op interpreter both tiles share: a 4 x NR i32 tile, the K-loop in `add_mat_mul`.
#[inline(always)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
unsafe fn kernel_i32_4xn<const NR: usize>(
    mut pnl: *const FusedKerSpec<i32>,
    add_mat_mul: impl Fn(usize, *const i8, *const i8, &mut [[i32; NR]; 4]),
) -> isize {
    use crate::ScaleShiftAndRound;
    unsafe {
        let mut ab = [[0i32; NR]; 4];
        loop {
            if pnl.is_null() {
                break;
            }
            match *pnl {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => ab = [[0i32; NR]; 4],
                FusedKerSpec::LoadTile(col_major, _row_major) => {
                    for row in 0..4 {
                        for col in 0..NR {
                            ab[row][col] = *col_major.add(col * 4 + row);
                        }
                    }
                }
                FusedKerSpec::ScalarAdd(a) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] += a;
                        }
                    }
                }
                FusedKerSpec::ScalarMul(a) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] *= a;
                        }
                    }
                }
                FusedKerSpec::ScalarMin(m) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].min(m);
                        }
                    }
                }
                FusedKerSpec::ScalarMax(m) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].max(m);
                        }
                    }
                }
                FusedKerSpec::ScalarSub(m) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = m - ab[i][j];
                        }
                    }
                }
                FusedKerSpec::ScalarSubF(m) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] -= m;
                        }
                    }
                }
                FusedKerSpec::LeakyRelu(a) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = if ab[i][j] > 0 { ab[i][j] } else { a * ab[i][j] };
                        }
                    }
                }
                FusedKerSpec::PerRowMin(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].min(v);
                        }
                    }
                }
                FusedKerSpec::PerRowMax(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].max(v);
                        }
                    }
                }
                FusedKerSpec::PerRowAdd(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] += v;
                        }
                    }
                }
                FusedKerSpec::PerRowMul(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] *= v;
                        }
                    }
                }
                FusedKerSpec::PerRowSub(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] = v - ab[i][j];
                        }
                    }
                }
                FusedKerSpec::PerRowSubF(m) => {
                    for i in 0..4 {
                        let v = *m.add(i);
                        for j in 0..NR {
                            ab[i][j] -= v;
                        }
                    }
                }
                FusedKerSpec::PerColMin(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].min(c[j]);
                        }
                    }
                }
                FusedKerSpec::PerColMax(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].max(c[j]);
                        }
                    }
                }
                FusedKerSpec::PerColAdd(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] += c[j];
                        }
                    }
                }
                FusedKerSpec::PerColMul(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] *= c[j];
                        }
                    }
                }
                FusedKerSpec::PerColSub(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = c[j] - ab[i][j];
                        }
                    }
                }
                FusedKerSpec::PerColSubF(m) => {
                    let c = std::slice::from_raw_parts(m, NR);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] -= c[j];
                        }
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    for i in 0..4 {
                        let r = *rows.add(i);
                        for j in 0..NR {
                            ab[i][j] += r * *cols.add(j);
                        }
                    }
                }
                FusedKerSpec::AddUnicast(other) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            let p = other.ptr.offset(
                                other.row_byte_stride * i as isize
                                    + other.col_byte_stride * j as isize,
                            );
                            let v = match other.item_size {
                                1 => *(p as *const i8) as i32,
                                4 => *(p as *const i32),
                                _ => return 1,
                            };
                            ab[i][j] += v;
                        }
                    }
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].q_shl(shift);
                        }
                    }
                }
                FusedKerSpec::RoundingShiftRight(shift, rp) => {
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].q_shr(shift, rp);
                        }
                    }
                }
                FusedKerSpec::QScale(shift, rp, mult) => {
                    let s = Scaler::from_fuse_params(shift, rp, mult);
                    for i in 0..4 {
                        for j in 0..NR {
                            ab[i][j] = ab[i][j].q_scale(s);
                        }
                    }
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => {
                    if packing == 1 {
                        add_mat_mul(k, pa as *const i8, pb as *const i8, &mut ab);
                    } else if packing == 0 {
                        // i32 x i32, K-major (scalar; rare path).
                        let a = pa as *const i32;
                        let b = pb as *const i32;
                        for ik in 0..k {
                            for i in 0..4 {
                                let av = *a.add(4 * ik + i);
                                for j in 0..NR {
                                    ab[i][j] += av * *b.add(NR * ik + j);
                                }
                            }
                        }
                    } else {
                        return 1;
                    }
                }
                FusedKerSpec::Store(tile) => match tile.item_size {
                    1 => {
                        for i in 0..4 {
                            for j in 0..NR {
                                let loc = tile.ptr.offset(
                                    tile.row_byte_stride * i as isize
                                        + tile.col_byte_stride * j as isize,
                                ) as *mut u8;
                                *loc = ab[i][j] as u8;
                            }
                        }
                    }
                    4 => {
                        for i in 0..4 {
                            for j in 0..NR {
                                let loc = tile.ptr.offset(
                                    tile.row_byte_stride * i as isize
                                        + tile.col_byte_stride * j as isize,
                                ) as *mut i32;
                                *loc = ab[i][j];
                            }
                        }
                    }
                    _ => return 1,
                },
            };
            pnl = pnl.add(1);
        }
    }
    0
}

/// i8 x i8 -> i32 for the 4x4 tile: relaxed dot on PackedI8K4 under relaxed-simd, else
/// `i32x4.dot_i16x8_s` on K-major panels.
#[inline(always)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
unsafe fn add_mat_mul_4x4(k: usize, a: *const i8, b: *const i8, ab: &mut [[i32; 4]; 4]) {
    use std::arch::wasm32::*;
    unsafe {
        let mut acc = [
            v128_load(ab[0].as_ptr() as *const v128),
            v128_load(ab[1].as_ptr() as *const v128),
            v128_load(ab[2].as_ptr() as *const v128),
            v128_load(ab[3].as_ptr() as *const v128),
        ];
        // PackedI8K4 (K=4-inner): per 4-K block, one B v128 load is
        // shared across the 4 rows; each row broadcasts its 4 K bytes
        // (a[kb*16 + m*4 ..]) against b[kb*16 + n*4 + kr]. Tail K (k%4)
        // is zero-padded by the packer.
        //
        // relaxed_dot's 2nd operand is i7: lanes outside [0, 127] are
        // read as signed by some engines (ARM SDOT) and unsigned by
        // others (x86 pmaddubsw/vpdpbusd). B is full i8, so it is
        // sign-split as b = (b & 0x7f) - ((b >> 7) << 7); both parts
        // are i7-safe (which also keeps every pmaddubsw i16 pair-sum
        // below saturation), each feeds its own dot, and the sign
        // planes fold back after the K-loop as acc -= acc_hi << 7.
        // Bit-exact on every engine.
        #[cfg(target_feature = "relaxed-simd")]
        {
            let mut acc_hi = [i32x4_splat(0); 4];
            for kb in 0..k.div_ceil(4) {
                let b_all = v128_load(b.add(kb * 16) as *const v128);
                let b_lo = v128_and(b_all, u8x16_splat(0x7f));
                let b_hi = u8x16_shr(b_all, 7);
                for (m, (acc_m, hi_m)) in
                    acc.iter_mut().zip(acc_hi.iter_mut()).enumerate()
                {
                    let a4 =
                        (a.add(kb * 16 + m * 4) as *const i32).read_unaligned();
                    let a4 = i32x4_splat(a4);
                    *acc_m = i32x4_relaxed_dot_i8x16_i7x16_add(a4, b_lo, *acc_m);
                    *hi_m = i32x4_relaxed_dot_i8x16_i7x16_add(a4, b_hi, *hi_m);
                }
            }
            for (acc_m, hi_m) in acc.iter_mut().zip(acc_hi) {
                *acc_m = i32x4_sub(*acc_m, i32x4_shl(hi_m, 7));
            }
        }
        // Deterministic fallback (no relaxed-simd): standard PackedFormat
        // K-major (4 i8 per k). Two k at a time through i32x4.dot_i16x8_s
        // (pmaddwd): A and B widened to i16 and interleaved by k, so each dot
        // adds a[k][m]*b[k][n] + a[k+1][m]*b[k+1][n] into lane n of row m —
        // no i32 multiplies (pmulld) and no scalar loads per row.
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            for ip in 0..k / 2 {
                let a8 = v128_load64_zero(a.add(8 * ip) as *const u64);
                let b8 = v128_load64_zero(b.add(8 * ip) as *const u64);
                let a16 = i16x8_extend_low_i8x16(a8);
                let b16 = i16x8_extend_low_i8x16(b8);
                let ai = i16x8_shuffle::<0, 4, 1, 5, 2, 6, 3, 7>(a16, a16);
                let bi = i16x8_shuffle::<0, 4, 1, 5, 2, 6, 3, 7>(b16, b16);
                acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(i32x4_shuffle::<0, 0, 0, 0>(ai, ai), bi));
                acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(i32x4_shuffle::<1, 1, 1, 1>(ai, ai), bi));
                acc[2] = i32x4_add(acc[2], i32x4_dot_i16x8(i32x4_shuffle::<2, 2, 2, 2>(ai, ai), bi));
                acc[3] = i32x4_add(acc[3], i32x4_dot_i16x8(i32x4_shuffle::<3, 3, 3, 3>(ai, ai), bi));
            }
            if k % 2 == 1 {
                let ik = k - 1;
                let bw = v128_load32_zero(b.add(4 * ik) as *const u32);
                let bw = i32x4_extend_low_i16x8(i16x8_extend_low_i8x16(bw));
                let ar = a.add(4 * ik);
                for (m, acc_m) in acc.iter_mut().enumerate() {
                    *acc_m = i32x4_add(*acc_m, i32x4_mul(i32x4_splat(*ar.add(m) as i32), bw));
                }
            }
        }
        v128_store(ab[0].as_mut_ptr() as *mut v128, acc[0]);
        v128_store(ab[1].as_mut_ptr() as *mut v128, acc[1]);
        v128_store(ab[2].as_mut_ptr() as *mut v128, acc[2]);
        v128_store(ab[3].as_mut_ptr() as *mut v128, acc[3]);
    }
}

#[inline(never)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
unsafe fn kernel_i32_4x4(pnl: *const FusedKerSpec<i32>) -> isize {
    unsafe { kernel_i32_4xn::<4>(pnl, |k, a, b, ab| add_mat_mul_4x4(k, a, b, ab)) }
}

/// i8 x i8 -> i32 for the 4x8 tile (the plain-SIMD build's kernel), on `PackedI16K2` panels: the
/// operands arrive widened to i16 with each row's / column's k pair side by side, so per k pair the
/// loop is one 32-bit load-splat per row of A, two loads of B (columns 0..4, 4..8) and 8
/// `i32x4.dot_i16x8_s` (64 multiply-adds) into 8 accumulators, with no shuffle or widening: those
/// were 9 of the 27 instructions per k pair with i8 panels, all on x86's one shuffle port, which
/// bound the loop. An odd k's last pair is zero-padded by the packer.
#[inline(always)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
unsafe fn add_mat_mul_4x8(k: usize, a: *const i8, b: *const i8, ab: &mut [[i32; 8]; 4]) {
    use std::arch::wasm32::*;
    unsafe {
        let mut acc = [[i32x4_splat(0); 2]; 4];
        for (m, row) in ab.iter().enumerate() {
            acc[m][0] = v128_load(row.as_ptr() as *const v128);
            acc[m][1] = v128_load(row.as_ptr().add(4) as *const v128);
        }
        for ip in 0..k.div_ceil(2) {
            let (a_pair, b_pair) = (a.add(16 * ip), b.add(32 * ip));
            let b_lo = v128_load(b_pair as *const v128);
            let b_hi = v128_load(b_pair.add(16) as *const v128);
            for (m, acc_m) in acc.iter_mut().enumerate() {
                let a_m = v128_load32_splat(a_pair.add(4 * m) as *const u32);
                acc_m[0] = i32x4_add(acc_m[0], i32x4_dot_i16x8(a_m, b_lo));
                acc_m[1] = i32x4_add(acc_m[1], i32x4_dot_i16x8(a_m, b_hi));
            }
        }
        for (m, row) in ab.iter_mut().enumerate() {
            v128_store(row.as_mut_ptr() as *mut v128, acc[m][0]);
            v128_store(row.as_mut_ptr().add(4) as *mut v128, acc[m][1]);
        }
    }
}

#[inline(never)]
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
unsafe fn kernel_i32_4x8(pnl: *const FusedKerSpec<i32>) -> isize {
    unsafe { kernel_i32_4xn::<8>(pnl, |k, a, b, ab| add_mat_mul_4x8(k, a, b, ab)) }
}

// i8i8 packing for wasm_i32_4x4. Under +relaxed-simd the kernel uses the
// `i32x4_relaxed_dot_i8x16_i7x16_add` SDOT-analog, which wants 4 contiguous K per
// mn-lane → PackedI8K4 (K=4-inner). Without relaxed-simd it takes k pairs from
// K-major panels → standard PackedFormat. Both are picked at
// compile time so the kernel's AddMatMul and the packer always agree.
#[cfg(target_feature = "relaxed-simd")]
fn wasm_i8_packing() -> impl crate::mmm::MMMInputFormat {
    crate::pack::PackedI8K4::new(4)
}
#[cfg(not(target_feature = "relaxed-simd"))]
fn wasm_i8_packing() -> impl crate::mmm::MMMInputFormat {
    use crate::pack::Packing;
    i8::packing(4)
}

bail_stub!(wasm32; unsafe fn kernel_i32_4x4(*const FusedKerSpec<i32>) -> isize);
bail_stub!(wasm32; unsafe fn kernel_i32_4x8(*const FusedKerSpec<i32>) -> isize);

MMMRustKernel!(wasm32; kernel_i32_4x4 => wasm_i32_4x4<i32>(4,4)
    packing[1] = i8i8 => |k| k.with_packing(wasm_i8_packing(), wasm_i8_packing());

    store(i8)
);

// The plain-SIMD build's int8 kernel (wasm/mod.rs prefers it there). Not in the relaxed build: there
// tract's kernel choice took the larger tile over the relaxed 4x4 (Chromium: int8 matmul 54 -> 105 ms).
#[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
MMMRustKernel!(wasm32; kernel_i32_4x8 => wasm_i32_4x8<i32>(4,8)
    packing[1] = i8i8 => |k| k.with_packing(crate::pack::PackedI16K2::new(4), crate::pack::PackedI16K2::new(8));
    store(i8)
);
