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
            // Products in the record's own order (lane-major runs of four
            // quants), four at a time: the shape the vectoriser wants.
            let mut acc = [0i32; 4 * TILE];
            for g in 0..4 {
                let lo = quad(&xb.qs, 4 * g);
                let hi = quad(&xb.qs, 16 + 4 * g);
                let bytes = &rec[g * 64..(g + 1) * 64];
                for (a, q) in acc.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
                    for k in 0..4 {
                        a[k] += i32::from(q[k] & 0x0f) * lo[k] + i32::from(q[k] >> 4) * hi[k];
                    }
                }
            }
            for (lane, a) in acc.chunks_exact(4).enumerate() {
                let isum: i32 = a.iter().sum();
                o[lane] += isum as f32 * (d[lane] * xb.d);
                o[lane] += m[lane] * xb.s;
            }
        }
    }
}

/// Four activation quants from `start`, widened.
fn quad(qs: &[i8; BLOCK], start: usize) -> [i32; 4] {
    std::array::from_fn(|k| i32::from(qs[start + k]))
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
            let mut acc = [0i32; 4 * TILE];
            for g in 0..8 {
                let xs = quad(&xb.qs, 4 * g);
                let bytes = &rec[g * 64..(g + 1) * 64];
                for (a, u) in acc.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
                    for k in 0..4 {
                        a[k] += i32::from(u[k]) * xs[k];
                    }
                }
            }
            for (lane, a) in acc.chunks_exact(4).enumerate() {
                let isum = a.iter().sum::<i32>() - (xb.sum << 7);
                o[lane] += isum as f32 * (d[lane] * xb.d);
            }
        }
    }
}
