//! Quantised weights and the dot products the model spends its time in.
//!
//! Weights stay quantised as in the file (ggml's `Q4_1` and `Q8_0` blocks of
//! 32), with their f16 scales widened to f32 once at load. Activations are
//! quantised per block of 32 to 8 bits (`Q8`) before each matrix product, so
//! a dot product is integer multiply-adds per block plus one float scale —
//! the same scheme as llama.cpp, which keeps results comparable with it.
//!
//! The kernels have an AVX2+FMA path chosen at run time and a portable one
//! that defines the arithmetic (the tests check the two agree).

use super::gguf::{GgufError, TensorType};

pub const BLOCK: usize = 32;

/// One `Q4_1` block: value = d * q + m for 4-bit q. `qs[j]` holds element
/// j in its low nibble and element j + 16 in its high nibble.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ4_1 {
    pub d: f32,
    pub m: f32,
    pub qs: [u8; 16],
}

/// One `Q8_0` block: value = d * q.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ8_0 {
    pub d: f32,
    pub qs: [i8; 32],
}

/// An activation block: value = d * q, with `s` = d * Σq kept for the
/// `Q4_1` offset term.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ8 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

impl Default for BlockQ8 {
    fn default() -> Self {
        Self {
            d: 0.0,
            s: 0.0,
            qs: [0; 32],
        }
    }
}

/// A weight matrix of `rows` rows of `cols` elements, row-major.
#[derive(Debug)]
pub enum Weights {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
    /// Plain floats (used for small tensors, and by tests).
    F32(Vec<f32>),
}

#[derive(Debug)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub weights: Weights,
}

/// IEEE half to single precision (load time only).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let frac = u32::from(bits & 0x3ff);
    let out = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise it.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(out)
}

fn half(b: &[u8]) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
}

impl Matrix {
    /// Converts a tensor's raw ggml bytes (`rows` × `cols`) into our layout.
    ///
    /// # Errors
    /// When the type is not one the model runs on or the size is wrong.
    pub fn from_ggml(
        name: &str,
        kind: TensorType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<Self, GgufError> {
        let blocks = rows * cols / BLOCK;
        let wrong = || GgufError::Corrupt(format!("tensor {name} has the wrong size"));
        let weights = match kind {
            TensorType::Q4_1 => {
                if bytes.len() != blocks * 20 || !cols.is_multiple_of(BLOCK) {
                    return Err(wrong());
                }
                Weights::Q4_1(
                    bytes
                        .chunks_exact(20)
                        .map(|b| {
                            let mut qs = [0u8; 16];
                            qs.copy_from_slice(&b[4..20]);
                            BlockQ4_1 {
                                d: half(&b[0..2]),
                                m: half(&b[2..4]),
                                qs,
                            }
                        })
                        .collect(),
                )
            }
            TensorType::Q8_0 => {
                if bytes.len() != blocks * 34 || !cols.is_multiple_of(BLOCK) {
                    return Err(wrong());
                }
                Weights::Q8_0(
                    bytes
                        .chunks_exact(34)
                        .map(|b| {
                            let mut qs = [0i8; 32];
                            for (q, byte) in qs.iter_mut().zip(&b[2..34]) {
                                *q = i8::from_le_bytes([*byte]);
                            }
                            BlockQ8_0 {
                                d: half(&b[0..2]),
                                qs,
                            }
                        })
                        .collect(),
                )
            }
            TensorType::F32 | TensorType::F16 => Weights::F32(floats(name, kind, bytes)?),
            TensorType::Q4_0 => {
                return Err(GgufError::UnsupportedType {
                    name: name.to_owned(),
                    kind: 2,
                });
            }
        };
        Ok(Self {
            rows,
            cols,
            weights,
        })
    }

    /// Row `r` as floats (the embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let per_row = self.cols / BLOCK;
        match &self.weights {
            Weights::Q4_1(b) => {
                for (block, chunk) in b[r * per_row..(r + 1) * per_row]
                    .iter()
                    .zip(out.chunks_exact_mut(BLOCK))
                {
                    for j in 0..16 {
                        chunk[j] = block.d * f32::from(block.qs[j] & 0x0f) + block.m;
                        chunk[j + 16] = block.d * f32::from(block.qs[j] >> 4) + block.m;
                    }
                }
            }
            Weights::Q8_0(b) => {
                for (block, chunk) in b[r * per_row..(r + 1) * per_row]
                    .iter()
                    .zip(out.chunks_exact_mut(BLOCK))
                {
                    for (o, q) in chunk.iter_mut().zip(block.qs) {
                        *o = block.d * f32::from(q);
                    }
                }
            }
            Weights::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
        }
    }

    /// The dot product of row `r` with quantised activations `x` (or with
    /// the float activations `xf`, for float weights).
    #[inline]
    pub fn dot(&self, r: usize, x: &[BlockQ8], xf: &[f32]) -> f32 {
        let per_row = self.cols / BLOCK;
        match &self.weights {
            Weights::Q4_1(b) => dot_q4_1(&b[r * per_row..(r + 1) * per_row], x),
            Weights::Q8_0(b) => dot_q8_0(&b[r * per_row..(r + 1) * per_row], x),
            Weights::F32(w) => w[r * self.cols..(r + 1) * self.cols]
                .iter()
                .zip(xf)
                .map(|(a, b)| a * b)
                .sum(),
        }
    }

    /// Row `r` against four inputs at once (prompt processing): each
    /// weight block is unpacked once for the four.
    #[inline]
    pub fn dot4(&self, r: usize, x: [&[BlockQ8]; 4], xf: [&[f32]; 4]) -> [f32; 4] {
        let per_row = self.cols / BLOCK;
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            match &self.weights {
                // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                Weights::Q4_1(b) => {
                    return unsafe { avx2::dot4_q4_1(&b[r * per_row..(r + 1) * per_row], x) };
                }
                Weights::Q8_0(b) => {
                    return unsafe { avx2::dot4_q8_0(&b[r * per_row..(r + 1) * per_row], x) };
                }
                Weights::F32(_) => {}
            }
        }
        [0, 1, 2, 3].map(|i| self.dot(r, x[i], xf[i]))
    }

    /// Bytes the weights take in memory.
    pub fn bytes(&self) -> usize {
        match &self.weights {
            Weights::Q4_1(b) => std::mem::size_of_val(b.as_slice()),
            Weights::Q8_0(b) => std::mem::size_of_val(b.as_slice()),
            Weights::F32(w) => std::mem::size_of_val(w.as_slice()),
        }
    }
}

/// A float tensor (norm weights) from F32 or F16 bytes.
///
/// # Errors
/// When the type is not a float type.
pub fn floats(name: &str, kind: TensorType, bytes: &[u8]) -> Result<Vec<f32>, GgufError> {
    match kind {
        TensorType::F32 => Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        TensorType::F16 => Ok(bytes.chunks_exact(2).map(half).collect()),
        _ => Err(GgufError::Corrupt(format!(
            "tensor {name} should be floats"
        ))),
    }
}

/// Quantises `x` (a multiple of 32 long) into `out`, block by block.
pub fn quantize(x: &[f32], out: &mut [BlockQ8]) {
    for (chunk, block) in x.chunks_exact(BLOCK).zip(out.iter_mut()) {
        let amax = chunk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
        let mut sum = 0i32;
        for (q, v) in block.qs.iter_mut().zip(chunk) {
            // |v * inv| <= 127 by construction.
            let r = (v * inv).round() as i8;
            *q = r;
            sum += i32::from(r);
        }
        block.d = d;
        block.s = d * sum as f32;
    }
}

fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        return unsafe { avx2::dot_q4_1(w, x) };
    }
    portable_dot_q4_1(w, x)
}

fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        return unsafe { avx2::dot_q8_0(w, x) };
    }
    portable_dot_q8_0(w, x)
}

/// Whether the AVX2 kernels may run (cached by std after the first call).
#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

fn portable_dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sum = 0i32;
        for j in 0..16 {
            sum += i32::from(a.qs[j] & 0x0f) * i32::from(b.qs[j]);
            sum += i32::from(a.qs[j] >> 4) * i32::from(b.qs[j + 16]);
        }
        acc += a.d * b.d * sum as f32 + a.m * b.s;
    }
    acc
}

fn portable_dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let sum: i32 =
            a.qs.iter()
                .zip(b.qs)
                .map(|(p, q)| i32::from(*p) * i32::from(q))
                .sum();
        acc += a.d * b.d * sum as f32;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 kernels: per block, 32 byte products summed pairwise into
    //! 16-bit lanes (`maddubs`), then into 32-bit lanes, scaled in float.

    use std::arch::x86_64::*;

    use super::{BlockQ4_1, BlockQ8, BlockQ8_0};

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8]) -> f32 {
        let mask = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        let mut offset = 0.0f32;
        for (a, b) in w.iter().zip(x) {
            // SAFETY: both arrays are 16 and 32 bytes long; loadu has no
            // alignment requirement.
            let (packed, q8) = unsafe {
                (
                    _mm_loadu_si128(a.qs.as_ptr().cast()),
                    _mm256_loadu_si256(b.qs.as_ptr().cast()),
                )
            };
            // Low nibbles are elements 0..16, high nibbles 16..32.
            let both = _mm256_set_m128i(_mm_srli_epi16::<4>(packed), packed);
            let q4 = _mm256_and_si256(both, mask);
            let pairs = _mm256_maddubs_epi16(q4, q8);
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * b.d), sums, acc);
            offset += a.m * b.s;
        }
        hsum(acc) + offset
    }

    /// Four-input variant of [`dot_q4_1`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4_q4_1(w: &[BlockQ4_1], x: [&[BlockQ8]; 4]) -> [f32; 4] {
        let mask = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut offset = [0.0f32; 4];
        for (i, a) in w.iter().enumerate() {
            // SAFETY: 16 bytes; loadu has no alignment requirement.
            let packed = unsafe { _mm_loadu_si128(a.qs.as_ptr().cast()) };
            let both = _mm256_set_m128i(_mm_srli_epi16::<4>(packed), packed);
            let q4 = _mm256_and_si256(both, mask);
            for t in 0..4 {
                let b = &x[t][i];
                // SAFETY: 32 bytes; loadu has no alignment requirement.
                let q8 = unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) };
                let pairs = _mm256_maddubs_epi16(q4, q8);
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a.d * b.d), sums, acc[t]);
                offset[t] += a.m * b.s;
            }
        }
        [0, 1, 2, 3].map(|t| hsum(acc[t]) + offset[t])
    }

    /// Four-input variant of [`dot_q8_0`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4_q8_0(w: &[BlockQ8_0], x: [&[BlockQ8]; 4]) -> [f32; 4] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); 4];
        for (i, a) in w.iter().enumerate() {
            // SAFETY: 32 bytes; loadu has no alignment requirement.
            let p = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
            let ap = _mm256_sign_epi8(p, p);
            for t in 0..4 {
                let b = &x[t][i];
                // SAFETY: 32 bytes; loadu has no alignment requirement.
                let q = unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) };
                let pairs = _mm256_maddubs_epi16(ap, _mm256_sign_epi8(q, p));
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(a.d * b.d), sums, acc[t]);
            }
        }
        [0, 1, 2, 3].map(|t| hsum(acc[t]))
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8]) -> f32 {
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        for (a, b) in w.iter().zip(x) {
            // SAFETY: both arrays are 32 bytes long; loadu has no
            // alignment requirement.
            let (p, q) = unsafe {
                (
                    _mm256_loadu_si256(a.qs.as_ptr().cast()),
                    _mm256_loadu_si256(b.qs.as_ptr().cast()),
                )
            };
            // maddubs wants an unsigned left operand: move p's sign onto q.
            let ap = _mm256_sign_epi8(p, p);
            let sq = _mm256_sign_epi8(q, p);
            let pairs = _mm256_maddubs_epi16(ap, sq);
            let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * b.d), sums, acc);
        }
        hsum(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn halves_widen_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn quantised_activations_are_close_to_the_floats() {
        let x = pseudo(64, 1);
        let mut q = vec![BlockQ8::default(); 2];
        quantize(&x, &mut q);
        for (i, v) in x.iter().enumerate() {
            let b = q[i / 32];
            let back = b.d * f32::from(b.qs[i % 32]);
            assert!((back - v).abs() <= b.d * 0.5 + 1e-6, "{back} vs {v}");
        }
        let sum: i32 = q[0].qs.iter().map(|v| i32::from(*v)).sum();
        assert!((q[0].s - q[0].d * sum as f32).abs() < 1e-5);
    }

    #[test]
    fn kernels_agree_with_the_portable_arithmetic_and_the_floats() {
        let n = 32 * 18;
        let x = pseudo(n, 7);
        let mut xq = vec![BlockQ8::default(); n / 32];
        quantize(&x, &mut xq);
        let w4: Vec<BlockQ4_1> = (0..n / 32)
            .map(|i| {
                let mut qs = [0u8; 16];
                for (j, q) in qs.iter_mut().enumerate() {
                    *q = ((i * 7 + j * 3) % 16) as u8 | ((((i + j * 5) % 16) as u8) << 4);
                }
                BlockQ4_1 {
                    d: 0.01 * (i as f32 + 1.0),
                    m: -0.05,
                    qs,
                }
            })
            .collect();
        let w8: Vec<BlockQ8_0> = (0..n / 32)
            .map(|i| {
                let mut qs = [0i8; 32];
                for (j, q) in qs.iter_mut().enumerate() {
                    *q = ((i * 31 + j * 17) % 255) as i32 as i8;
                }
                BlockQ8_0 { d: 0.003, qs }
            })
            .collect();
        let m4 = Matrix {
            rows: 1,
            cols: n,
            weights: Weights::Q4_1(w4.clone()),
        };
        let m8 = Matrix {
            rows: 1,
            cols: n,
            weights: Weights::Q8_0(w8.clone()),
        };
        let mut row = vec![0.0; n];
        for (m, portable) in [
            (&m4, portable_dot_q4_1(&w4, &xq)),
            (&m8, portable_dot_q8_0(&w8, &xq)),
        ] {
            let fast = m.dot(0, &xq, &x);
            let four = m.dot4(0, [&xq, &xq, &xq, &xq], [&x, &x, &x, &x]);
            assert!(
                four.iter()
                    .all(|v| (v - fast).abs() <= 1e-4 * fast.abs().max(1.0))
            );
            assert!((fast - portable).abs() <= 1e-3 * portable.abs().max(1.0));
            m.row(0, &mut row);
            let exact: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
            // Only the activations' 8-bit rounding separates the two.
            assert!(
                (fast - exact).abs() <= 0.02 * exact.abs().max(1.0),
                "{fast} vs {exact}"
            );
        }
    }
}
