//! The portable kernels: plain loops over the tiled layout. They define the
//! arithmetic the SIMD kernels must reproduce — integer sums per block, then
//! `acc += isum · (d · dx)` and, for 4-bit weights, `acc += m · s` — and run
//! wherever no SIMD kernel does.

use super::{BLOCK, BlockQ8, Q4_RECORD, Q8_RECORD, TILE, f16_to_f32};

fn widen(bits: &[u16]) -> [f32; TILE] {
    std::array::from_fn(|i| f16_to_f32(bits[i]))
}

/// 4-bit tile × inputs (see `Matrix::tile_products`).
pub fn q4(quants: &[u8], scales: &[u16], x: &[BlockQ8], blocks: usize, out: &mut [[f32; TILE]]) {
    out.iter_mut().for_each(|o| *o = [0.0; TILE]);
    for b in 0..blocks {
        let rec = &quants[b * Q4_RECORD..(b + 1) * Q4_RECORD];
        let d = widen(&scales[b * 2 * TILE..]);
        let m = widen(&scales[b * 2 * TILE + TILE..]);
        for (t, o) in out.iter_mut().enumerate() {
            let xb = &x[t * blocks + b];
            for lane in 0..TILE {
                let mut isum = 0i32;
                for j in 0..BLOCK / 2 {
                    let byte = rec[(j / 4) * 64 + lane * 4 + j % 4];
                    isum += i32::from(byte & 0x0f) * i32::from(xb.qs[j]);
                    isum += i32::from(byte >> 4) * i32::from(xb.qs[j + 16]);
                }
                o[lane] += isum as f32 * (d[lane] * xb.d);
                o[lane] += m[lane] * xb.s;
            }
        }
    }
}

/// 8-bit tile × inputs: quants are biased by 128, taken back exactly as
/// `128 · Σx` from the integer sum.
pub fn q8(quants: &[u8], scales: &[u16], x: &[BlockQ8], blocks: usize, out: &mut [[f32; TILE]]) {
    out.iter_mut().for_each(|o| *o = [0.0; TILE]);
    for b in 0..blocks {
        let rec = &quants[b * Q8_RECORD..(b + 1) * Q8_RECORD];
        let d = widen(&scales[b * TILE..]);
        for (t, o) in out.iter_mut().enumerate() {
            let xb = &x[t * blocks + b];
            for lane in 0..TILE {
                let mut isum = 0i32;
                for (j, q) in xb.qs.iter().enumerate() {
                    let u = rec[(j / 4) * 64 + lane * 4 + j % 4];
                    isum += i32::from(u) * i32::from(*q);
                }
                isum -= xb.sum << 7;
                o[lane] += isum as f32 * (d[lane] * xb.d);
            }
        }
    }
}
