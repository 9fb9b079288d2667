//! The x86-64 kernels over the tiled layout (see the parent module).
//!
//! Each works on several inputs per pass over a tile's weights (up to
//! eight with AVX-512's 32 registers, four with AVX2's 16), so a
//! record's quants are loaded and unpacked once for all of them (prompt
//! processing), and its multiply-add chains are independent across inputs.
//!
//! - AVX-512 VNNI: one register holds a tile's 16 rows × 4 quants;
//!   `vpdpbusd` against four broadcast activation bytes adds each row's
//!   four products into its own 32-bit lane.
//! - AVX2 (+FMA, F16C): the same per half tile (8 rows), with
//!   `vpmaddubsw` + `vpmaddwd` in place of `vpdpbusd`.

use std::arch::x86_64::*;

use super::{BlockQ8, Isa, Q4_RECORD, Q8_RECORD, TILE};

pub fn avx512_supported() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
        && avx2_supported()
}

pub fn avx2_supported() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Runs `$kernel::<N>` over `out` in groups of up to the widest `N` listed
/// (the list is 1, 2, … up to it).
macro_rules! by_groups {
    ($module:ident :: $kernel:ident [$($n:literal),+], $quants:expr, $scales:expr, $x:expr, $blocks:expr, $out:expr) => {{
        let (blocks, out) = ($blocks, $out);
        let widest = [$($n),+].len();
        let mut start = 0;
        for group in out.chunks_mut(widest) {
            let x = &$x[start * blocks..(start + group.len()) * blocks];
            start += group.len();
            // SAFETY: `checked` held the CPU to the kernel's features and
            // the slices to the sizes it reads.
            unsafe {
                match group.len() {
                    $($n => $module::$kernel::<$n>($quants, $scales, x, blocks, group),)+
                    _ => unreachable!("groups are at most {widest} wide"),
                }
            }
        }
    }};
}

/// The kernels read by raw pointer and need the CPU features of `isa`:
/// hold the slices to the sizes they read — `quants` and `scales` with
/// their sizes per block — and the CPU to the features (the set in use was
/// checked once; any other is checked now).
fn checked(
    isa: Isa,
    (quants, record): (&[u8], usize),
    (scales, per): (&[u16], usize),
    x: &[BlockQ8],
    blocks: usize,
    n: usize,
) {
    assert!(
        quants.len() >= blocks * record && scales.len() >= blocks * per && x.len() >= n * blocks,
        "kernel operands too short"
    );
    assert!(
        isa == Isa::current() || isa.supported(),
        "{isa:?} kernels need features this CPU lacks"
    );
}

/// 4-bit tile × inputs, with the AVX-512 or (otherwise) the AVX2 kernels.
pub fn q4(
    isa: Isa,
    quants: &[u8],
    scales: &[u16],
    x: &[BlockQ8],
    blocks: usize,
    out: &mut [[f32; TILE]],
) {
    let isa = if isa == Isa::Avx512Vnni {
        isa
    } else {
        Isa::Avx2
    };
    checked(
        isa,
        (quants, Q4_RECORD),
        (scales, 2 * TILE),
        x,
        blocks,
        out.len(),
    );
    match isa {
        Isa::Avx512Vnni => {
            by_groups!(avx512::q4 [1, 2, 3, 4, 5, 6, 7, 8], quants, scales, x, blocks, out)
        }
        _ => by_groups!(avx2::q4 [1, 2, 3, 4], quants, scales, x, blocks, out),
    }
}

/// 8-bit tile × inputs, as [`q4`].
pub fn q8(
    isa: Isa,
    quants: &[u8],
    scales: &[u16],
    x: &[BlockQ8],
    blocks: usize,
    out: &mut [[f32; TILE]],
) {
    let isa = if isa == Isa::Avx512Vnni {
        isa
    } else {
        Isa::Avx2
    };
    checked(
        isa,
        (quants, Q8_RECORD),
        (scales, TILE),
        x,
        blocks,
        out.len(),
    );
    match isa {
        Isa::Avx512Vnni => by_groups!(avx512::q8 [1, 2, 3, 4], quants, scales, x, blocks, out),
        _ => by_groups!(avx2::q8 [1, 2, 3, 4], quants, scales, x, blocks, out),
    }
}

/// Four activation bytes starting at `qs[i]`, in every 32-bit lane.
macro_rules! word {
    ($set1:ident, $qs:expr, $i:expr) => {
        // SAFETY: `$i + 4 <= 32`, inside the block's quants.
        $set1(unsafe { $qs.as_ptr().add($i).cast::<i32>().read_unaligned() })
    };
}

/// AVX-512 [`super::quantize`].
///
/// # Panics
/// Without AVX-512 on this CPU.
pub fn quantize(x: &[f32], out: &mut [BlockQ8]) {
    assert!(
        out.len() * super::BLOCK >= x.len(),
        "quantize: output too short"
    );
    assert!(
        Isa::current() == Isa::Avx512Vnni || avx512_supported(),
        "AVX-512 quantiser on a CPU without it"
    );
    // SAFETY: AVX-512 is present and the sizes are checked above.
    unsafe { avx512::quantize(x, out) }
}

mod avx512 {
    use super::*;

    /// Quantises blocks of 32 floats: scale by 127 / max |x|, round to
    /// nearest even (the default rounding mode), narrow to bytes.
    ///
    /// # Safety
    /// AVX-512F must be available; `out` holds `x.len() / 32` blocks.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn quantize(x: &[f32], out: &mut [BlockQ8]) {
        for (chunk, block) in x.chunks_exact(super::super::BLOCK).zip(out.iter_mut()) {
            // SAFETY: a chunk is 32 floats; a block's quants 32 bytes.
            unsafe {
                let a = _mm512_loadu_ps(chunk.as_ptr());
                let b = _mm512_loadu_ps(chunk.as_ptr().add(16));
                let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
                let d = amax / 127.0;
                let inv = _mm512_set1_ps(if d == 0.0 { 0.0 } else { 1.0 / d });
                let qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, inv));
                let qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, inv));
                _mm_storeu_si128(block.qs.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(qa));
                _mm_storeu_si128(
                    block.qs.as_mut_ptr().add(16).cast(),
                    _mm512_cvtepi32_epi8(qb),
                );
                let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
                block.d = d;
                block.sum = sum;
                block.s = d * sum as f32;
            }
        }
    }

    /// # Safety
    /// AVX-512F/BW/VNNI must be available; `quants` holds `blocks` 4-bit
    /// records, `scales` their d/m, `x` `N × blocks` blocks, `out` `N` rows.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn q4<const N: usize>(
        quants: &[u8],
        scales: &[u16],
        x: &[BlockQ8],
        blocks: usize,
        out: &mut [[f32; TILE]],
    ) {
        let mask = _mm512_set1_epi8(0x0f);
        let mut acc = [_mm512_setzero_ps(); N];
        for b in 0..blocks {
            // SAFETY: within the sizes the caller guarantees.
            let (v0, v1, v2, v3, d, m) = unsafe {
                let rec = quants.as_ptr().add(b * Q4_RECORD);
                let sc = scales.as_ptr().add(b * 2 * TILE);
                (
                    _mm512_loadu_si512(rec.cast()),
                    _mm512_loadu_si512(rec.add(64).cast()),
                    _mm512_loadu_si512(rec.add(128).cast()),
                    _mm512_loadu_si512(rec.add(192).cast()),
                    _mm512_cvtph_ps(_mm256_loadu_si256(sc.cast())),
                    _mm512_cvtph_ps(_mm256_loadu_si256(sc.add(TILE).cast())),
                )
            };
            // Low nibbles pair with activation bytes 0..16, high ones with
            // 16..32: in word order, the four low registers then the high.
            let unpacked = [
                _mm512_and_si512(v0, mask),
                _mm512_and_si512(v1, mask),
                _mm512_and_si512(v2, mask),
                _mm512_and_si512(v3, mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(v0), mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(v1), mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(v2), mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(v3), mask),
            ];
            for (t, a) in acc.iter_mut().enumerate() {
                // SAFETY: t < N, b < blocks.
                let xb = unsafe { x.get_unchecked(t * blocks + b) };
                let isum = _mm512_cvtepi32_ps(dot8(&unpacked, &xb.qs));
                *a = _mm512_fmadd_ps(isum, _mm512_mul_ps(d, _mm512_set1_ps(xb.d)), *a);
                *a = _mm512_fmadd_ps(m, _mm512_set1_ps(xb.s), *a);
            }
        }
        store(&acc, out);
    }

    /// Each row's products with one activation block: `u[j]` holds every
    /// row's four quants that pair with activation bytes `4j..4j + 4`. Two
    /// chains of four, so the adds overlap.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn dot8(u: &[__m512i; 8], qs: &[i8; 32]) -> __m512i {
        let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for j in (0..8).step_by(2) {
            s0 = _mm512_dpbusd_epi32(s0, u[j], word!(_mm512_set1_epi32, qs, 4 * j));
            s1 = _mm512_dpbusd_epi32(s1, u[j + 1], word!(_mm512_set1_epi32, qs, 4 * j + 4));
        }
        _mm512_add_epi32(s0, s1)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store<const N: usize>(acc: &[__m512; N], out: &mut [[f32; TILE]]) {
        for (o, a) in out.iter_mut().zip(acc) {
            // SAFETY: `o` is 16 floats.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *a) };
        }
    }

    /// # Safety
    /// As [`q4`], with 8-bit records.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn q8<const N: usize>(
        quants: &[u8],
        scales: &[u16],
        x: &[BlockQ8],
        blocks: usize,
        out: &mut [[f32; TILE]],
    ) {
        let zero = _mm512_setzero_si512();
        let mut acc = [_mm512_setzero_ps(); N];
        for b in 0..blocks {
            let mut v = [zero; 8];
            // SAFETY: within the sizes the caller guarantees.
            let d = unsafe {
                let rec = quants.as_ptr().add(b * Q8_RECORD);
                for (g, slot) in v.iter_mut().enumerate() {
                    *slot = _mm512_loadu_si512(rec.add(g * 64).cast());
                }
                _mm512_cvtph_ps(_mm256_loadu_si256(scales.as_ptr().add(b * TILE).cast()))
            };
            for (t, a) in acc.iter_mut().enumerate() {
                // SAFETY: t < N, b < blocks.
                let xb = unsafe { x.get_unchecked(t * blocks + b) };
                // The quants carry +128: take back 128 · Σx exactly.
                let isum = _mm512_sub_epi32(dot8(&v, &xb.qs), _mm512_set1_epi32(xb.sum << 7));
                *a = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(isum),
                    _mm512_mul_ps(d, _mm512_set1_ps(xb.d)),
                    *a,
                );
            }
        }
        store(&acc, out);
    }
}

mod avx2 {
    use super::*;

    /// # Safety
    /// AVX2, FMA and F16C must be available; sizes as in the AVX-512 `q4`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn q4<const N: usize>(
        quants: &[u8],
        scales: &[u16],
        x: &[BlockQ8],
        blocks: usize,
        out: &mut [[f32; TILE]],
    ) {
        let mask = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_ps(); N]; 2];
        for b in 0..blocks {
            for (h, acc) in acc.iter_mut().enumerate() {
                // SAFETY: within the sizes the caller guarantees.
                let (v0, v1, v2, v3, d, m) = unsafe {
                    let rec = quants.as_ptr().add(b * Q4_RECORD + h * 32);
                    let sc = scales.as_ptr().add(b * 2 * TILE + h * 8);
                    (
                        _mm256_loadu_si256(rec.cast()),
                        _mm256_loadu_si256(rec.add(64).cast()),
                        _mm256_loadu_si256(rec.add(128).cast()),
                        _mm256_loadu_si256(rec.add(192).cast()),
                        _mm256_cvtph_ps(_mm_loadu_si128(sc.cast())),
                        _mm256_cvtph_ps(_mm_loadu_si128(sc.add(TILE).cast())),
                    )
                };
                let lo = [v0, v1, v2, v3].map(|v| _mm256_and_si256(v, mask));
                let hi =
                    [v0, v1, v2, v3].map(|v| _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask));
                for (t, a) in acc.iter_mut().enumerate() {
                    // SAFETY: t < N, b < blocks.
                    let xb = unsafe { x.get_unchecked(t * blocks + b) };
                    // |x| <= 127 and u <= 15: eight pair sums stay within i16.
                    let mut s = _mm256_maddubs_epi16(lo[0], word!(_mm256_set1_epi32, xb.qs, 0));
                    for (g, (l, h)) in lo.iter().zip(&hi).enumerate() {
                        if g > 0 {
                            let p =
                                _mm256_maddubs_epi16(*l, word!(_mm256_set1_epi32, xb.qs, 4 * g));
                            s = _mm256_add_epi16(s, p);
                        }
                        let p =
                            _mm256_maddubs_epi16(*h, word!(_mm256_set1_epi32, xb.qs, 16 + 4 * g));
                        s = _mm256_add_epi16(s, p);
                    }
                    let isum = _mm256_cvtepi32_ps(_mm256_madd_epi16(s, ones));
                    *a = _mm256_fmadd_ps(isum, _mm256_mul_ps(d, _mm256_set1_ps(xb.d)), *a);
                    *a = _mm256_fmadd_ps(m, _mm256_set1_ps(xb.s), *a);
                }
            }
        }
        store(&acc, out);
    }

    /// # Safety
    /// As [`q4`], with 8-bit records.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn q8<const N: usize>(
        quants: &[u8],
        scales: &[u16],
        x: &[BlockQ8],
        blocks: usize,
        out: &mut [[f32; TILE]],
    ) {
        let bias = _mm256_set1_epi8(-128);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_ps(); N]; 2];
        for b in 0..blocks {
            for (h, acc) in acc.iter_mut().enumerate() {
                // SAFETY: within the sizes the caller guarantees.
                let (rec, d) = unsafe {
                    let rec = quants.as_ptr().add(b * Q8_RECORD + h * 32);
                    let sc = scales.as_ptr().add(b * TILE + h * 8);
                    (rec, _mm256_cvtph_ps(_mm_loadu_si128(sc.cast())))
                };
                for (t, a) in acc.iter_mut().enumerate() {
                    // SAFETY: t < N, b < blocks.
                    let xb = unsafe { x.get_unchecked(t * blocks + b) };
                    let mut isum = _mm256_setzero_si256();
                    for g in 0..8 {
                        // SAFETY: g * 64 + 32 <= the record's 512 bytes.
                        let u = unsafe { _mm256_loadu_si256(rec.add(g * 64).cast()) };
                        // Unbias to signed, then move the weight's sign onto
                        // the activation: |w| is what `maddubs` multiplies.
                        let w = _mm256_xor_si256(u, bias);
                        let xs = _mm256_sign_epi8(word!(_mm256_set1_epi32, xb.qs, 4 * g), w);
                        let p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), xs);
                        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, ones));
                    }
                    *a = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(isum),
                        _mm256_mul_ps(d, _mm256_set1_ps(xb.d)),
                        *a,
                    );
                }
            }
        }
        store(&acc, out);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    fn store<const N: usize>(acc: &[[__m256; N]; 2], out: &mut [[f32; TILE]]) {
        for (t, o) in out.iter_mut().enumerate().take(N) {
            // SAFETY: `o` is 16 floats: two halves of eight.
            unsafe {
                _mm256_storeu_ps(o.as_mut_ptr(), acc[0][t]);
                _mm256_storeu_ps(o.as_mut_ptr().add(8), acc[1][t]);
            }
        }
    }
}
