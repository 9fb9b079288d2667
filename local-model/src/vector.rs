//! The float work around the matrix products — norms, activation
//! quantisation, attention, the feed-forward gate — written as plain loops
//! and compiled three ways: the build targets baseline x86-64 (SSE2), so
//! [`versioned!`] also compiles each body with AVX2+FMA and with AVX-512
//! enabled and picks one per call from [`Isa::current`]. LLVM vectorises the
//! same source for each; the only hand-written SIMD is the quantiser's
//! AVX-512 path (in `quant::x86`).
//!
//! `exp` is a polynomial (Cephes' expf, within 2 ulp) rather than libm's,
//! which is a call per element and stops vectorisation.

use super::quant::{BLOCK, BlockQ8, Isa};

/// Defines `pub fn $name` whose body runs compiled for the best SIMD level
/// this CPU has.
macro_rules! versioned {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                fn wide($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn narrow($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match Isa::current() {
                    // SAFETY: `Isa::current` only answers a level whose
                    // features this CPU has (AVX-512 implies AVX2 and FMA).
                    Isa::Avx512Vnni => return unsafe { wide($($arg),*) },
                    // SAFETY: as above.
                    Isa::Avx2 => return unsafe { narrow($($arg),*) },
                    Isa::Portable => {}
                }
            }
            body($($arg),*)
        }
    };
}

/// A dot product in sixteen independent lanes, so it vectorises (a plain
/// `sum()` is one serial chain of adds).
#[inline(always)]
fn lanes_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The largest value (at least `f32::MIN`), in sixteen lanes.
#[inline(always)]
fn lanes_max(v: &[f32]) -> f32 {
    let mut lanes = [f32::MIN; 16];
    let chunks = v.chunks_exact(16);
    let mut best = f32::MIN;
    for x in chunks.remainder() {
        best = best.max(*x);
    }
    for c in chunks {
        for i in 0..16 {
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    lanes.iter().fold(best, |m, x| m.max(*x))
}

/// A sum in sixteen lanes.
#[inline(always)]
fn lanes_sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..16 {
            lanes[i] += c[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Rounds to the nearest integer, ties to even, for |v| < 2²², in plain
/// arithmetic (so it vectorises): adding 1.5·2²³ leaves no fraction bits.
#[inline(always)]
fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// eˣ (Cephes' single-precision polynomial after range reduction).
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = round(x * std::f32::consts::LOG2_E);
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Where one key/value head sits in a layer's cache. Values are rows of
/// `stride` floats per position; keys are stored transposed — a row of
/// `context` positions per channel — so a query's scores are a sum of
/// whole rows scaled by its components, with no per-position reduction.
/// The head's channels start at `offset` in both.
#[derive(Clone, Copy)]
pub struct HeadCache<'a> {
    pub keys: &'a [f32],
    pub values: &'a [f32],
    pub stride: usize,
    pub offset: usize,
    pub context: usize,
}

versioned! {
    /// A float dot product.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        lanes_dot(a, b)
    }
}

/// Quantises `x` (a multiple of 32 long) into `out`, block by block.
/// Quants stay within ±127, which the kernels' 16-bit partial sums rely on;
/// rounding is to nearest even, as llama.cpp's. (Hand-written for AVX-512:
/// LLVM does not vectorise the per-block maximum.)
pub fn quantize(x: &[f32], out: &mut [BlockQ8]) {
    #[cfg(target_arch = "x86_64")]
    if Isa::current() == Isa::Avx512Vnni {
        super::quant::x86::quantize(x, out);
        return;
    }
    quantize_blocks(x, out);
}

versioned! {
    /// [`quantize`] in plain loops.
    pub fn quantize_blocks(x: &[f32], out: &mut [BlockQ8]) {
        for (chunk, block) in x.chunks_exact(BLOCK).zip(out.iter_mut()) {
            let mut mags = [0.0f32; BLOCK];
            for (m, v) in mags.iter_mut().zip(chunk) {
                *m = v.abs();
            }
            let amax = lanes_max(&mags);
            let d = amax / 127.0;
            let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
            // |v · inv| <= 127 by construction.
            let mut qs = [0i32; BLOCK];
            for (q, v) in qs.iter_mut().zip(chunk) {
                *q = round(v * inv) as i32;
            }
            for (o, q) in block.qs.iter_mut().zip(qs) {
                *o = q as i8;
            }
            let sum: i32 = qs.iter().sum();
            block.d = d;
            block.sum = sum;
            block.s = d * sum as f32;
        }
    }
}

versioned! {
    /// `out = x / rms(x) · weight`, per row of `weight.len()`.
    pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
        let d = weight.len();
        for (row, dst) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let mean = lanes_dot(row, row) / d as f32;
            let scale = 1.0 / (mean + eps).sqrt();
            for ((o, v), w) in dst.iter_mut().zip(row).zip(weight) {
                *o = v * scale * w;
            }
        }
    }
}

versioned! {
    /// `x += y`.
    pub fn add(x: &mut [f32], y: &[f32]) {
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    }
}

versioned! {
    /// SwiGLU's gate: `gate = silu(gate) · up`.
    pub fn swiglu(gate: &mut [f32], up: &[f32]) {
        for (g, u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + exp(-*g)) * u;
        }
    }
}

versioned! {
    /// One head's causal attention for one query over its first
    /// `positions` cached positions: `scores` (scratch, at least that long)
    /// gets q·k scaled, softmaxed; `out` the weighted sum of the values.
    pub fn attend(
        q: &[f32],
        head: &HeadCache<'_>,
        positions: usize,
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let HeadCache { keys, values, stride, offset, context } = *head;
        let scores = &mut scores[..positions];
        // Sixteen positions at a time, their sums held in registers while
        // the channels go by. A last partial block reads the cache rows
        // past `positions` (unused slots) and drops those sums; only at the
        // very end of the context does it go one position at a time.
        let mut start = 0;
        while start < positions {
            let width = (positions - start).min(16);
            if start + 16 <= context {
                let mut acc = [0.0f32; 16];
                for (j, qj) in q.iter().enumerate() {
                    let row = &keys[(offset + j) * context + start..][..16];
                    let qj = qj * scale;
                    for i in 0..16 {
                        acc[i] = qj.mul_add(row[i], acc[i]);
                    }
                }
                scores[start..start + width].copy_from_slice(&acc[..width]);
            } else {
                for (p, s) in scores[start..].iter_mut().enumerate() {
                    *s = q
                        .iter()
                        .enumerate()
                        .map(|(j, qj)| qj * keys[(offset + j) * context + start + p])
                        .sum::<f32>()
                        * scale;
                }
            }
            start += 16;
        }
        // Separate passes, so each vectorises: a loop that also carries a
        // running max or sum would not.
        let max = lanes_max(scores);
        for s in scores.iter_mut() {
            *s = exp(*s - max);
        }
        let inv = 1.0 / lanes_sum(scores);
        // Sixteen output channels at a time, summed in registers over the
        // positions.
        for (c, chunk) in out.chunks_mut(16).enumerate() {
            let mut acc = [0.0f32; 16];
            let first = offset + c * 16;
            if chunk.len() == 16 {
                for (p, s) in scores.iter().enumerate() {
                    let w = s * inv;
                    let v = &values[p * stride + first..][..16];
                    for i in 0..16 {
                        acc[i] = w.mul_add(v[i], acc[i]);
                    }
                }
            } else {
                for (p, s) in scores.iter().enumerate() {
                    let w = s * inv;
                    let v = &values[p * stride + first..][..chunk.len()];
                    for (a, x) in acc.iter_mut().zip(v) {
                        *a = w.mul_add(*x, *a);
                    }
                }
            }
            chunk.copy_from_slice(&acc[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_libm_over_the_range_used() {
        let mut worst = 0.0f32;
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert!(exp(-1000.0) < 1e-37);
        assert!(exp(0.0) == 1.0);
    }

    #[test]
    fn the_hand_written_quantiser_matches_the_loops() {
        let mut seed = 9u32;
        let x: Vec<f32> = (0..32 * 40)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let v = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                // Some all-zero blocks and some exact ties.
                if i / 32 == 3 {
                    0.0
                } else if i % 7 == 0 {
                    2.5
                } else {
                    v * (i % 5 + 1) as f32
                }
            })
            .collect();
        let (mut a, mut b) = (vec![BlockQ8::default(); 40], vec![BlockQ8::default(); 40]);
        quantize(&x, &mut a);
        quantize_blocks(&x, &mut b);
        for (p, q) in a.iter().zip(&b) {
            assert_eq!((p.d, p.sum, p.qs), (q.d, q.sum, q.qs));
            assert_eq!(p.s, q.s);
        }
        assert_eq!(a[3].d, 0.0);
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for (v, want) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.6, 127.0),
            (-3.2, -3.0),
        ] {
            assert_eq!(round(v), want, "{v}");
        }
    }

    #[test]
    fn attention_is_a_softmax_weighted_sum() {
        // Two positions of a context of 3, head of 2 at offset 2 of 4
        // channels. Keys per channel: (1, 0) and (0, 1); values per position.
        let keys = [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 1.0, 0.0, 9.0, 0.0, 1.0, 9.0];
        let values = [9.0, 9.0, 10.0, 0.0, 9.0, 9.0, 0.0, 20.0];
        let mut scores = [0.0; 2];
        let mut out = [0.0; 2];
        let head = HeadCache {
            keys: &keys,
            values: &values,
            stride: 4,
            offset: 2,
            context: 3,
        };
        attend(&[2.0, 0.0], &head, 2, 1.0, &mut scores, &mut out);
        let w0 = 2f32.exp() / (2f32.exp() + 1.0);
        assert!((out[0] - 10.0 * w0).abs() < 1e-5, "{out:?}");
        assert!((out[1] - 20.0 * (1.0 - w0)).abs() < 1e-5, "{out:?}");
    }

    #[test]
    fn attention_over_many_positions_matches_the_definition() {
        // 37 positions: two blocks of sixteen and a tail; head of 8 at
        // offset 8 of 24 channels; a context of 40.
        let (positions, context, channels, hd) = (37, 40, 24, 8);
        let f = |i: usize| ((i * 37 + 11) % 23) as f32 / 23.0 - 0.5;
        let keys: Vec<f32> = (0..channels * context).map(f).collect();
        let values: Vec<f32> = (0..context * channels).map(|i| f(i + 5)).collect();
        let q: Vec<f32> = (0..hd).map(|i| f(i + 9) * 3.0).collect();
        let head = HeadCache {
            keys: &keys,
            values: &values,
            stride: channels,
            offset: 8,
            context,
        };
        let mut scores = vec![0.0; context];
        let mut out = vec![0.0; hd];
        attend(&q, &head, positions, 0.5, &mut scores, &mut out);
        let raw: Vec<f32> = (0..positions)
            .map(|p| {
                (0..hd)
                    .map(|j| q[j] * keys[(8 + j) * context + p])
                    .sum::<f32>()
                    * 0.5
            })
            .collect();
        let max = raw.iter().fold(f32::MIN, |m, v| m.max(*v));
        let total: f32 = raw.iter().map(|s| (s - max).exp()).sum();
        for (j, got) in out.iter().enumerate() {
            let want: f32 = (0..positions)
                .map(|p| (raw[p] - max).exp() / total * values[p * channels + 8 + j])
                .sum();
            assert!((got - want).abs() < 1e-5, "{j}: {got} vs {want}");
        }
    }

    #[test]
    fn swiglu_and_norm_match_their_definitions() {
        let mut g = [1.0f32, -2.0, 0.0];
        swiglu(&mut g, &[2.0, 3.0, 4.0]);
        for (got, (x, u)) in g.iter().zip([(1.0f32, 2.0f32), (-2.0, 3.0), (0.0, 4.0)]) {
            assert!((got - x / (1.0 + (-x).exp()) * u).abs() < 1e-6);
        }
        let mut out = [0.0; 4];
        rms_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 2.0, 2.0], 0.0, &mut out);
        let rms = (30.0f32 / 4.0).sqrt();
        assert!((out[3] - 8.0 / rms).abs() < 1e-6);
        assert!((dot(&[1.0; 33], &[2.0; 33]) - 66.0).abs() < 1e-6);
    }
}
