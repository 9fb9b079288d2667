//! The layout and the kernels against the file format's own arithmetic.

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

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    pseudo(n, seed)
        .iter()
        .map(|v| ((v + 1.0) * 127.9) as u8)
        .collect()
}

/// Raw ggml bytes of a `rows × cols` tensor and its values, decoded
/// straight from the file format (independently of our layout).
fn ggml(kind: TensorType, rows: usize, cols: usize, seed: u32) -> (Vec<u8>, Vec<f32>) {
    let blocks = rows * cols / BLOCK;
    let noise = bytes(blocks * 32, seed);
    let scales = pseudo(blocks * 2, seed + 1);
    let mut raw = Vec::new();
    let mut values = Vec::new();
    for b in 0..blocks {
        let d = f32_to_f16(0.01 + 0.02 * scales[2 * b].abs());
        let m = f32_to_f16(-0.1 * scales[2 * b + 1]);
        let q = &noise[b * 32..(b + 1) * 32];
        let (df, mf) = (f16_to_f32(d), f16_to_f32(m));
        match kind {
            TensorType::Q4_0 | TensorType::Q4_1 => {
                raw.extend(d.to_le_bytes());
                if kind == TensorType::Q4_1 {
                    raw.extend(m.to_le_bytes());
                }
                raw.extend(&q[..16]);
                let (lo, hi): (Vec<f32>, Vec<f32>) = q[..16]
                    .iter()
                    .map(|byte| {
                        let (l, h) = (f32::from(byte & 0x0f), f32::from(byte >> 4));
                        if kind == TensorType::Q4_1 {
                            (df * l + mf, df * h + mf)
                        } else {
                            (df * (l - 8.0), df * (h - 8.0))
                        }
                    })
                    .unzip();
                values.extend(lo);
                values.extend(hi);
            }
            _ => {
                raw.extend(d.to_le_bytes());
                raw.extend(q);
                values.extend(q.iter().map(|u| df * f32::from(*u as i8)));
            }
        }
    }
    (raw, values)
}

fn dequantised(x: &[BlockQ8]) -> Vec<f32> {
    x.iter()
        .flat_map(|b| b.qs.map(|q| b.d * f32::from(q)))
        .collect()
}

#[test]
fn halves_widen_exactly_and_narrow_back() {
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x0000), 0.0);
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
    assert!(f16_to_f32(0x7c00).is_infinite());
    for bits in 0..=u16::MAX {
        let v = f16_to_f32(bits);
        if !v.is_nan() {
            assert_eq!(f32_to_f16(v), bits, "{bits:#x}");
        }
    }
    // Round to nearest even between two halves.
    assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
    assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
    assert_eq!(f32_to_f16(1e6), 0x7c00);
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
        assert!(b.qs[i % 32] > -128);
    }
    let sum: i32 = q[0].qs.iter().map(|v| i32::from(*v)).sum();
    assert_eq!(q[0].sum, sum);
    assert!((q[0].s - q[0].d * sum as f32).abs() < 1e-5);
}

#[test]
fn rows_decode_as_the_file_defines_them() {
    // 40 rows: two full tiles and a partial one.
    for kind in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0] {
        let (rows, cols) = (40, 96);
        let (raw, values) = ggml(kind, rows, cols, 3);
        let m = Matrix::from_ggml("t", kind, rows, cols, &raw).unwrap();
        assert_eq!(m.tiles(), 3);
        let mut row = vec![0.0; cols];
        for r in 0..rows {
            m.row(r, &mut row);
            assert_eq!(row, values[r * cols..(r + 1) * cols], "{kind:?} row {r}");
        }
    }
}

#[test]
fn every_kernel_computes_the_products_of_the_decoded_rows() {
    let (rows, cols) = (40, 32 * 18);
    let blocks = cols / BLOCK;
    for kind in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0] {
        let (raw, values) = ggml(kind, rows, cols, 11);
        let m = Matrix::from_ggml("t", kind, rows, cols, &raw).unwrap();
        for n in [1, 2, 3, 4, 5, 9] {
            let xf = pseudo(n * cols, 5 + n as u32);
            let mut xq = vec![BlockQ8::default(); n * blocks];
            quantize(&xf, &mut xq);
            let xd = dequantised(&xq);
            for isa in Isa::available() {
                for tile in 0..m.tiles() {
                    let mut out = vec![[f32::NAN; TILE]; n];
                    m.tile_products_with(isa, tile, &xq, &xf, &mut out);
                    for (t, o) in out.iter().enumerate() {
                        for (lane, got) in o.iter().enumerate() {
                            let r = tile * TILE + lane;
                            if r >= rows {
                                assert_eq!(*got, 0.0, "padding lane");
                                continue;
                            }
                            let w = &values[r * cols..(r + 1) * cols];
                            // Against the quantised input the products are
                            // exact up to float rounding...
                            let exact = dot(w, &xd[t * cols..(t + 1) * cols]);
                            assert!(
                                (got - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                                "{isa:?} {kind:?} n={n} row {r} input {t}: {got} vs {exact}"
                            );
                            // ...and within the input's rounding (half a
                            // step per element) of the float input's.
                            let float = dot(w, &xf[t * cols..(t + 1) * cols]);
                            let bound: f32 = w
                                .iter()
                                .enumerate()
                                .map(|(j, v)| v.abs() * xq[t * blocks + j / BLOCK].d * 0.5)
                                .sum();
                            assert!((got - float).abs() <= bound + 1e-3, "{got} vs {float}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn float_matrices_use_the_float_input() {
    let (rows, cols) = (20, 64);
    let w = pseudo(rows * cols, 2);
    let m = Matrix::from_f32(rows, cols, w.clone());
    let xf = pseudo(2 * cols, 4);
    let mut xq = vec![BlockQ8::default(); 2 * cols / BLOCK];
    quantize(&xf, &mut xq);
    let mut out = vec![[0.0; TILE]; 2];
    m.tile_products(1, &xq, &xf, &mut out);
    for t in 0..2 {
        let r = TILE + 3;
        let want = dot(&w[r * cols..(r + 1) * cols], &xf[t * cols..(t + 1) * cols]);
        assert!((out[t][3] - want).abs() < 1e-5);
        assert_eq!(out[t][5], 0.0, "row 21 does not exist");
    }
}

#[test]
fn wrong_sizes_are_refused() {
    let (raw, _) = ggml(TensorType::Q4_1, 16, 64, 1);
    for (kind, bytes, cols) in [
        (TensorType::Q4_1, &raw[..raw.len() - 1], 64),
        (TensorType::Q8_0, &raw[..], 64),
        (TensorType::Q4_1, &raw[..], 48),
    ] {
        let err = Matrix::from_ggml("t", kind, 16, cols, bytes).unwrap_err();
        assert!(err.to_string().contains("wrong size"), "{err}");
    }
}

#[test]
fn the_vectorised_dot_matches_a_plain_sum() {
    for n in [0, 1, 7, 8, 9, 64, 100] {
        let (a, b) = (pseudo(n, 1), pseudo(n, 2));
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
        assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4);
    }
}
