//! Quantised weights and the products the model spends its time in.
//!
//! Weights stay quantised as in the file (ggml's `Q4_0`, `Q4_1` and `Q8_0`
//! blocks of 32, f16 scales included, so a token reads no more bytes than
//! the file holds), but are regrouped at load into tiles of [`TILE`] rows:
//! for each block of 32 columns, the tile's quants are interleaved four
//! bytes per row, so one SIMD multiply-add against four broadcast activation
//! bytes advances all the tile's rows at once and the sums land one row per
//! lane — no horizontal reductions. Every weight is stored as an unsigned
//! quant `u` with value `d·u + m` (`Q4_0` is `m = −8d`, `Q8_0` is stored
//! biased by 128 and corrected exactly in integers), which is the form the
//! unsigned×signed byte instructions (`vpdpbusd`, `vpmaddubsw`) want.
//!
//! Activations are quantised per block of 32 to 8 bits ([`BlockQ8`]) before
//! each product — llama.cpp's scheme, which keeps results comparable.
//!
//! Kernels: AVX-512 VNNI, AVX2 (+FMA, F16C), and a portable one that
//! defines the arithmetic (the tests hold the others to it); chosen once at
//! run time ([`Isa`]).

mod portable;
#[cfg(target_arch = "x86_64")]
pub(super) mod x86;

use super::gguf::{GgufError, TensorType};
pub use super::vector::{dot, quantize};

pub const BLOCK: usize = 32;
/// Rows per tile: one 512-bit register of f32 sums.
pub const TILE: usize = 16;
/// Bytes of quants per (tile, block) record.
const Q4_RECORD: usize = TILE * BLOCK / 2;
const Q8_RECORD: usize = TILE * BLOCK;

/// An activation block: value = d · q, with Σq kept for the weights'
/// offset term (`s = d · Σq` in float, `sum` exact).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct BlockQ8 {
    pub d: f32,
    pub s: f32,
    pub sum: i32,
    pub qs: [i8; 32],
}

/// 64 bytes on a 64-byte boundary, so a 512-bit load never straddles two
/// cache lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Tiled quants: `quants` holds one record per (tile, block) in tile-major
/// order, `scales` the records' f16 scale bits (`d` for each of the tile's
/// rows, then `m` for 4-bit weights).
struct Tiled {
    quants: Vec<Line>,
    scales: Vec<u16>,
}

impl Tiled {
    /// One tile's records (`blocks` of `record` bytes) and their scales
    /// (`per` to a record).
    fn tile(&self, tile: usize, blocks: usize, record: usize, per: usize) -> (&[u8], &[u16]) {
        let n = blocks * record;
        let s = blocks * per;
        (
            &self.bytes()[tile * n..(tile + 1) * n],
            &self.scales[tile * s..(tile + 1) * s],
        )
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `Line` is `repr(C)` around `[u8; 64]` with size 64 and
        // alignment 64, so a slice of lines is `len * 64` initialised bytes.
        unsafe {
            std::slice::from_raw_parts(self.quants.as_ptr().cast::<u8>(), self.quants.len() * 64)
        }
    }
}

fn bytes_mut(lines: &mut [Line]) -> &mut [u8] {
    // SAFETY: as in `Tiled::bytes`, and the borrow is unique.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u8>(), lines.len() * 64) }
}

enum Weights {
    /// value = d · u + m, u in 0..16 (two per byte: low nibble element j,
    /// high nibble element j + 16 of the block).
    Q4(Tiled),
    /// value = d · (u − 128), u a byte.
    Q8(Tiled),
    /// Plain floats, row-major (F32 and F16 tensors).
    F32(Vec<f32>),
}

/// A weight matrix of `rows` rows of `cols` elements.
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    weights: Weights,
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.weights {
            Weights::Q4(_) => "q4",
            Weights::Q8(_) => "q8",
            Weights::F32(_) => "f32",
        };
        f.debug_struct("Matrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("kind", &kind)
            .finish()
    }
}

/// IEEE half to single precision.
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

/// Single to half precision, rounding to nearest even (tests, and `Q4_0`'s
/// derived offsets, which are exact: −8 · d only moves the exponent).
pub fn f32_to_f16(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if frac == 0 { 0 } else { 0x200 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = frac | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rest = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = u32::from(rest > mid || (rest == mid && half & 1 == 1));
        return sign | (half + round) as u16;
    }
    let half = ((e as u32) << 10) | (frac >> 13);
    let rest = frac & 0x1fff;
    let round = u32::from(rest > 0x1000 || (rest == 0x1000 && half & 1 == 1));
    sign | (half + round) as u16
}

fn half(b: &[u8]) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
}

/// Which kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    Avx2,
    Portable,
}

impl Isa {
    /// The best this CPU supports.
    pub fn detect() -> Self {
        Self::available().last().copied().unwrap_or(Self::Portable)
    }

    /// Every kernel set this CPU can run, slowest first (tests and
    /// benchmarks compare them).
    pub fn available() -> Vec<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512Vnni]
            .into_iter()
            .filter(|isa| isa.supported())
            .collect()
    }

    /// Whether this CPU has the kernel set's features.
    pub fn supported(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => x86::avx2_supported(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => x86::avx512_supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2 | Self::Avx512Vnni => false,
        }
    }

    /// The kernel set `EXITON_LOCAL_KERNELS` may ask for by `name`
    /// (`avx2`, `portable`); `None` for any other name.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "portable" => Some(Self::Portable),
            "avx2" => Some(Self::Avx2),
            _ => None,
        }
    }

    /// The kernels in use: the best available, unless
    /// `EXITON_LOCAL_KERNELS` (`avx2`, `portable`) asks for a slower set to
    /// compare against. Read once.
    pub fn current() -> Self {
        static CURRENT: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *CURRENT.get_or_init(|| {
            let best = Self::detect();
            let wanted = std::env::var("EXITON_LOCAL_KERNELS")
                .ok()
                .and_then(|name| Self::named(&name))
                .unwrap_or(best);
            if wanted.supported() { wanted } else { best }
        })
    }
}

/// Builds the tiled form of a quantised tensor: `place(row, block, record,
/// lane, scales)` writes one file block into its record.
fn tile<F>(rows: usize, cols: usize, record: usize, scales_per: usize, mut place: F) -> Tiled
where
    F: FnMut(usize, usize, &mut [u8], usize, &mut [u16]),
{
    let blocks = cols / BLOCK;
    let records = rows.div_ceil(TILE) * blocks;
    let mut quants = vec![Line([0; 64]); records * record / 64];
    let mut scales = vec![0; records * scales_per];
    let bytes = bytes_mut(&mut quants);
    for r in 0..rows {
        for b in 0..blocks {
            let rec = (r / TILE) * blocks + b;
            place(
                r,
                b,
                &mut bytes[rec * record..(rec + 1) * record],
                r % TILE,
                &mut scales[rec * scales_per..(rec + 1) * scales_per],
            );
        }
    }
    Tiled { quants, scales }
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
        let blocks = cols / BLOCK;
        let wrong = || GgufError::Corrupt(format!("tensor {name} has the wrong size"));
        let quantised = matches!(kind, TensorType::Q4_0 | TensorType::Q4_1 | TensorType::Q8_0);
        if quantised && !cols.is_multiple_of(BLOCK) {
            return Err(wrong());
        }
        let size = kind.block().1 as usize;
        if quantised && bytes.len() != rows * blocks * size {
            return Err(wrong());
        }
        let block_of = |r: usize, b: usize| &bytes[(r * blocks + b) * size..][..size];
        let weights = match kind {
            TensorType::Q4_0 | TensorType::Q4_1 => {
                let offset = usize::from(kind == TensorType::Q4_1) * 2;
                Weights::Q4(tile(
                    rows,
                    cols,
                    Q4_RECORD,
                    2 * TILE,
                    |r, b, rec, lane, sc| {
                        let src = block_of(r, b);
                        let qs = &src[2 + offset..];
                        for g in 0..4 {
                            rec[g * 64 + lane * 4..][..4].copy_from_slice(&qs[4 * g..4 * g + 4]);
                        }
                        let d = u16::from_le_bytes([src[0], src[1]]);
                        sc[lane] = d;
                        sc[TILE + lane] = if offset == 0 {
                            // Q4_0: value = d · (u − 8).
                            f32_to_f16(-8.0 * f16_to_f32(d))
                        } else {
                            u16::from_le_bytes([src[2], src[3]])
                        };
                    },
                ))
            }
            TensorType::Q8_0 => {
                Weights::Q8(tile(rows, cols, Q8_RECORD, TILE, |r, b, rec, lane, sc| {
                    let src = block_of(r, b);
                    for g in 0..8 {
                        for (i, q) in src[2 + 4 * g..2 + 4 * g + 4].iter().enumerate() {
                            rec[g * 64 + lane * 4 + i] = q ^ 0x80;
                        }
                    }
                    sc[lane] = u16::from_le_bytes([src[0], src[1]]);
                }))
            }
            TensorType::F32 | TensorType::F16 => {
                let v = floats(name, kind, bytes)?;
                if v.len() != rows * cols {
                    return Err(wrong());
                }
                Weights::F32(v)
            }
        };
        Ok(Self {
            rows,
            cols,
            weights,
        })
    }

    /// A float matrix (tests, and float tensors).
    pub fn from_f32(rows: usize, cols: usize, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), rows * cols, "matrix size");
        Self {
            rows,
            cols,
            weights: Weights::F32(values),
        }
    }

    pub fn tiles(&self) -> usize {
        self.rows.div_ceil(TILE)
    }

    /// Row `r` as floats (the embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let blocks = self.cols / BLOCK;
        let (tile, lane) = (r / TILE, r % TILE);
        match &self.weights {
            Weights::Q4(t) => {
                let bytes = t.bytes();
                for (b, chunk) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let rec = tile * blocks + b;
                    let q = &bytes[rec * Q4_RECORD..(rec + 1) * Q4_RECORD];
                    let d = f16_to_f32(t.scales[rec * 2 * TILE + lane]);
                    let m = f16_to_f32(t.scales[rec * 2 * TILE + TILE + lane]);
                    for j in 0..16 {
                        let byte = q[(j / 4) * 64 + lane * 4 + j % 4];
                        chunk[j] = d * f32::from(byte & 0x0f) + m;
                        chunk[j + 16] = d * f32::from(byte >> 4) + m;
                    }
                }
            }
            Weights::Q8(t) => {
                let bytes = t.bytes();
                for (b, chunk) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let rec = tile * blocks + b;
                    let q = &bytes[rec * Q8_RECORD..(rec + 1) * Q8_RECORD];
                    let d = f16_to_f32(t.scales[rec * TILE + lane]);
                    for (j, o) in chunk.iter_mut().enumerate() {
                        let u = q[(j / 4) * 64 + lane * 4 + j % 4];
                        *o = d * (f32::from(u) - 128.0);
                    }
                }
            }
            Weights::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
        }
    }

    /// The products of tile `tile`'s rows with `out.len()` inputs:
    /// `out[t][lane]` = row `tile·16 + lane` · input `t`. `x` holds the
    /// inputs quantised (`cols / 32` blocks each), `xf` the same inputs as
    /// floats (read only for float weights). Lanes past the last row are 0.
    pub fn tile_products(&self, tile: usize, x: &[BlockQ8], xf: &[f32], out: &mut [[f32; TILE]]) {
        self.tile_products_with(Isa::current(), tile, x, xf, out);
    }

    /// [`Self::tile_products`] on a given kernel set.
    ///
    /// # Panics
    /// When this CPU lacks the set's features ([`Isa::supported`]).
    pub fn tile_products_with(
        &self,
        isa: Isa,
        tile: usize,
        x: &[BlockQ8],
        xf: &[f32],
        out: &mut [[f32; TILE]],
    ) {
        let blocks = self.cols / BLOCK;
        let n = out.len();
        assert!(
            x.len() >= n * blocks && tile < self.tiles(),
            "tile products out of range"
        );
        match &self.weights {
            Weights::Q4(t) => {
                let (q, sc) = t.tile(tile, blocks, Q4_RECORD, 2 * TILE);
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512Vnni | Isa::Avx2 => x86::q4(isa, q, sc, x, blocks, out),
                    _ => portable::q4(q, sc, x, blocks, out),
                }
            }
            Weights::Q8(t) => {
                let (q, sc) = t.tile(tile, blocks, Q8_RECORD, TILE);
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512Vnni | Isa::Avx2 => x86::q8(isa, q, sc, x, blocks, out),
                    _ => portable::q8(q, sc, x, blocks, out),
                }
            }
            Weights::F32(w) => {
                for (t, o) in out.iter_mut().enumerate() {
                    let input = &xf[t * self.cols..(t + 1) * self.cols];
                    for (lane, v) in o.iter_mut().enumerate() {
                        let r = tile * TILE + lane;
                        *v = if r < self.rows {
                            dot(&w[r * self.cols..(r + 1) * self.cols], input)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }

    /// Bytes the weights take in memory.
    pub fn bytes(&self) -> usize {
        match &self.weights {
            Weights::Q4(t) | Weights::Q8(t) => t.quants.len() * 64 + t.scales.len() * 2,
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

#[cfg(test)]
mod tests;
