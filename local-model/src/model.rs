//! A llama-architecture transformer (what SmolLM2, Llama, and most small
//! instruct models in GGUF are): token embedding, `n_layer` blocks of RMS
//! norm → grouped-query attention with rotary positions → RMS norm →
//! SwiGLU feed-forward, each with a residual, then the output head (tied to
//! the embedding when the file has no `output.weight`).
//!
//! The weights are read once and shared; each generation owns a [`State`]
//! (its key/value cache and scratch buffers), so several can run at once.
//! Matrix products split their rows across the calling rayon pool.

use rayon::prelude::*;

use super::gguf::{Gguf, GgufError};
use super::quant::{BLOCK, BlockQ8, Matrix, TILE, floats};
use super::vector::{HeadCache, add, attend, quantize, rms_norm, swiglu};

/// The shape of the network, from the file's `llama.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f32,
    pub eps: f32,
}

struct Layer {
    attn_norm: Vec<f32>,
    q: Matrix,
    k: Matrix,
    v: Matrix,
    o: Matrix,
    ffn_norm: Vec<f32>,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
}

/// The loaded weights.
pub struct Model {
    pub config: Config,
    embedding: Matrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// `None`: the head is the embedding matrix (tied weights).
    output: Option<Matrix>,
    /// cos/sin per (position, pair), computed once: every generation reads it.
    rope: Vec<(f32, f32)>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .finish()
    }
}

fn usize_of(g: &Gguf, key: &str) -> Result<usize, GgufError> {
    usize::try_from(g.u64(key)?).map_err(|_| GgufError::Corrupt(format!("{key} is too large")))
}

impl Model {
    /// Builds the model from a parsed file.
    ///
    /// # Errors
    /// When the file is not a llama-architecture model we can run, or a
    /// tensor is missing or misshapen.
    pub fn from_gguf(g: &Gguf) -> Result<Self, GgufError> {
        let arch = g.str("general.architecture")?;
        if arch != "llama" {
            return Err(GgufError::Corrupt(format!(
                "architecture `{arch}` is not supported (only llama)"
            )));
        }
        let n_embd = usize_of(g, "llama.embedding_length")?;
        let n_head = usize_of(g, "llama.attention.head_count")?;
        let n_head_kv = g
            .u64("llama.attention.head_count_kv")
            .ok()
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(GgufError::Corrupt("inconsistent attention heads".into()));
        }
        let head_dim = n_embd / n_head;
        if head_dim % 2 != 0 {
            return Err(GgufError::Corrupt("odd head dimension".into()));
        }
        let embd_info = g.info("token_embd.weight")?;
        let vocab = usize::try_from(embd_info.dims.get(1).copied().unwrap_or(0))
            .map_err(|_| GgufError::Corrupt("vocabulary size".into()))?;
        let config = Config {
            n_layer: usize_of(g, "llama.block_count")?,
            n_embd,
            n_ff: usize_of(g, "llama.feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            vocab,
            context: usize_of(g, "llama.context_length")?,
            rope_base: g.f64("llama.rope.freq_base").unwrap_or(10_000.0) as f32,
            eps: g
                .f64("llama.attention.layer_norm_rms_epsilon")
                .unwrap_or(1e-5) as f32,
        };
        let kv = n_head_kv * head_dim;
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<Matrix, GgufError> {
            let (info, bytes) = g.tensor(name)?;
            if info.dims.len() != 2 || info.dims[0] != cols as u64 || info.dims[1] != rows as u64 {
                return Err(GgufError::Corrupt(format!(
                    "tensor {name} is {:?}, expected [{cols}, {rows}]",
                    info.dims
                )));
            }
            Matrix::from_ggml(name, info.kind, rows, cols, &bytes)
        };
        let norm = |name: &str| -> Result<Vec<f32>, GgufError> {
            let (info, bytes) = g.tensor(name)?;
            let v = floats(name, info.kind, &bytes)?;
            if v.len() != n_embd {
                return Err(GgufError::Corrupt(format!(
                    "tensor {name} has the wrong size"
                )));
            }
            Ok(v)
        };
        let c = &config;
        let layers = (0..c.n_layer)
            .map(|i| {
                let t = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Layer {
                    attn_norm: norm(&t("attn_norm"))?,
                    q: matrix(&t("attn_q"), c.n_embd, c.n_embd)?,
                    k: matrix(&t("attn_k"), kv, c.n_embd)?,
                    v: matrix(&t("attn_v"), kv, c.n_embd)?,
                    o: matrix(&t("attn_output"), c.n_embd, c.n_embd)?,
                    ffn_norm: norm(&t("ffn_norm"))?,
                    gate: matrix(&t("ffn_gate"), c.n_ff, c.n_embd)?,
                    up: matrix(&t("ffn_up"), c.n_ff, c.n_embd)?,
                    down: matrix(&t("ffn_down"), c.n_embd, c.n_ff)?,
                })
            })
            .collect::<Result<Vec<_>, GgufError>>()?;
        let output = if g.tensors.contains_key("output.weight") {
            Some(matrix("output.weight", c.vocab, c.n_embd)?)
        } else {
            None
        };
        Ok(Self {
            rope: rope_table(c),
            embedding: matrix("token_embd.weight", c.vocab, c.n_embd)?,
            output_norm: norm("output_norm.weight")?,
            layers,
            output,
            config,
        })
    }

    /// Bytes the weights take in memory.
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<usize>()
            })
            .sum();
        layers + self.embedding.bytes() + self.output.as_ref().map_or(0, Matrix::bytes)
    }

    /// A fresh state for one generation of at most `context` positions.
    pub fn state(&self, context: usize) -> State {
        let c = &self.config;
        let context = context
            .min(c.context)
            .min(self.rope.len() / (c.head_dim / 2))
            .max(1);
        let kv = c.n_head_kv * c.head_dim;
        State {
            context,
            pos: 0,
            keys: vec![vec![0.0; context * kv]; c.n_layer],
            values: vec![vec![0.0; context * kv]; c.n_layer],
            logits: vec![0.0; c.vocab],
            buffers: Buffers::default(),
        }
    }

    /// Feeds `tokens` at the state's current position and answers the
    /// logits after the last one (in `state.logits`).
    ///
    /// # Errors
    /// When the tokens would run past the state's context.
    pub fn forward(&self, state: &mut State, tokens: &[u32]) -> Result<(), ContextFull> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            return Ok(());
        }
        if state.pos + n > state.context {
            return Err(ContextFull {
                context: state.context,
            });
        }
        let (d, kv, hd) = (c.n_embd, c.n_head_kv * c.head_dim, c.head_dim);
        // The buffers live in the state (their capacity is the largest
        // batch seen), taken out while the cache is borrowed.
        let mut b = std::mem::take(&mut state.buffers);
        b.size_for(c, n);
        let Buffers {
            x,
            h,
            hq,
            q,
            k,
            v,
            att,
            gate,
            up,
            fq,
        } = &mut b;
        for (t, &tok) in tokens.iter().enumerate() {
            let id = (tok as usize).min(c.vocab - 1);
            self.embedding.row(id, &mut x[t * d..(t + 1) * d]);
        }
        let pos = state.pos;
        for (li, layer) in self.layers.iter().enumerate() {
            // The previous block's feed-forward residual (`h` starts at
            // zero), then this block's norm, in one pass.
            residual_norm(x, h, &layer.attn_norm, c.eps, hq);
            if n == 1 {
                // One pass over the pool for the three projections.
                matvec_many(
                    vec![
                        (&layer.q, &mut q[..]),
                        (&layer.k, &mut k[..]),
                        (&layer.v, &mut v[..]),
                    ],
                    hq,
                    h,
                );
            } else {
                matmul(&layer.q, hq, h, n, q);
                matmul(&layer.k, hq, h, n, k);
                matmul(&layer.v, hq, h, n, v);
            }
            q.par_chunks_mut(d)
                .zip(k.par_chunks_mut(kv))
                .enumerate()
                .for_each(|(t, (qt, kt))| {
                    rope(qt, hd, &self.rope, pos + t);
                    rope(kt, hd, &self.rope, pos + t);
                });
            // Keys go in transposed (a row per channel), values as rows.
            let context = state.context;
            for (t, kt) in k.chunks_exact(kv).enumerate() {
                for (channel, value) in kt.iter().enumerate() {
                    state.keys[li][channel * context + pos + t] = *value;
                }
            }
            state.values[li][pos * kv..(pos + n) * kv].copy_from_slice(v);
            let cache = HeadCache {
                keys: &state.keys[li],
                values: &state.values[li],
                stride: kv,
                offset: 0,
                context,
            };
            attention(c, q, cache, pos, n, att);
            quantize_rows(att, d, hq);
            matmul(&layer.o, hq, att, n, h);
            residual_norm(x, h, &layer.ffn_norm, c.eps, hq);
            if n == 1 {
                matvec_many(
                    vec![(&layer.gate, &mut gate[..]), (&layer.up, &mut up[..])],
                    hq,
                    h,
                );
            } else {
                matmul(&layer.gate, hq, h, n, gate);
                matmul(&layer.up, hq, h, n, up);
            }
            swiglu_rows(gate, up, c.n_ff, fq);
            matmul(&layer.down, fq, gate, n, h);
        }
        // Only the last position's logits are needed.
        let (last, delta) = (&mut x[(n - 1) * d..n * d], &h[(n - 1) * d..n * d]);
        add(last, delta);
        let normed = &mut att[..d];
        rms_norm(last, &self.output_norm, c.eps, normed);
        let nq = &mut hq[..d / BLOCK];
        quantize(normed, nq);
        let head = self.output.as_ref().unwrap_or(&self.embedding);
        matmul(head, nq, normed, 1, &mut state.logits);
        state.buffers = b;
        state.pos += n;
        Ok(())
    }
}

/// A forward pass's working memory, kept between calls.
#[derive(Default)]
struct Buffers {
    x: Vec<f32>,
    h: Vec<f32>,
    hq: Vec<BlockQ8>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    fq: Vec<BlockQ8>,
}

impl Buffers {
    /// Sizes every buffer for `n` tokens, zeroed (the forward pass relies
    /// on `h` starting at zero: the first block has no residual to add).
    fn size_for(&mut self, c: &Config, n: usize) {
        let (d, kv) = (c.n_embd, c.n_head_kv * c.head_dim);
        for (buf, len) in [
            (&mut self.x, n * d),
            (&mut self.h, n * d),
            (&mut self.q, n * d),
            (&mut self.k, n * kv),
            (&mut self.v, n * kv),
            (&mut self.att, n * d),
            (&mut self.gate, n * c.n_ff),
            (&mut self.up, n * c.n_ff),
        ] {
            buf.clear();
            buf.resize(len, 0.0);
        }
        self.hq.resize(n * d / BLOCK, BlockQ8::default());
        self.fq.resize(n * c.n_ff / BLOCK, BlockQ8::default());
    }
}

/// The prompt and answer together would not fit the context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the conversation does not fit the model's context of {context} tokens")]
pub struct ContextFull {
    pub context: usize,
}

/// One generation's memory: the key/value cache per layer (keys
/// transposed, see [`HeadCache`]) and the last logits.
pub struct State {
    pub context: usize,
    pub pos: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    pub logits: Vec<f32>,
    buffers: Buffers,
}

impl State {
    /// Bytes this state holds (mostly the cache).
    pub fn bytes(&self) -> usize {
        let cache: usize = self.keys.iter().chain(&self.values).map(Vec::len).sum();
        (cache + self.logits.len()) * 4
    }
}

/// cos/sin for every (position, pair) of the context.
fn rope_table(c: &Config) -> Vec<(f32, f32)> {
    let half = c.head_dim / 2;
    let context = c.context.min(1 << 16);
    let mut out = Vec::with_capacity(context * half);
    for pos in 0..context {
        for i in 0..half {
            let freq = c.rope_base.powf(-2.0 * i as f32 / c.head_dim as f32);
            let angle = pos as f32 * freq;
            out.push((angle.cos(), angle.sin()));
        }
    }
    out
}

/// Rotates adjacent pairs of each head (ggml's "normal" rope, which the
/// GGUF converter prepares llama's q/k weights for).
fn rope(v: &mut [f32], head_dim: usize, table: &[(f32, f32)], pos: usize) {
    let half = head_dim / 2;
    let row = &table[pos * half..(pos + 1) * half];
    for head in v.chunks_exact_mut(head_dim) {
        for (pair, (cos, sin)) in head.chunks_exact_mut(2).zip(row) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * cos - b * sin;
            pair[1] = a * sin + b * cos;
        }
    }
}

/// `x += h` (a residual), then `h = norm(x)` and its quantised form, token
/// by token (in parallel for a prompt).
fn residual_norm(x: &mut [f32], h: &mut [f32], weight: &[f32], eps: f32, hq: &mut [BlockQ8]) {
    let d = weight.len();
    x.par_chunks_mut(d)
        .zip(h.par_chunks_mut(d))
        .zip(hq.par_chunks_mut(d / BLOCK))
        .for_each(|((x, h), q)| {
            add(x, h);
            rms_norm(x, weight, eps, h);
            quantize(h, q);
        });
}

/// Quantises rows of `width` floats.
fn quantize_rows(x: &[f32], width: usize, q: &mut [BlockQ8]) {
    x.par_chunks(width)
        .zip(q.par_chunks_mut(width / BLOCK))
        .for_each(|(x, q)| quantize(x, q));
}

/// `gate = silu(gate) · up`, quantised, row by row.
fn swiglu_rows(gate: &mut [f32], up: &[f32], width: usize, q: &mut [BlockQ8]) {
    gate.par_chunks_mut(width)
        .zip(up.par_chunks(width))
        .zip(q.par_chunks_mut(width / BLOCK))
        .for_each(|((g, u), q)| {
            swiglu(g, u);
            quantize(g, q);
        });
}

/// Causal grouped-query attention of `n` new positions (starting at `pos`)
/// over one layer's cache (`layer`, offset 0), heads in parallel.
fn attention(c: &Config, q: &[f32], layer: HeadCache<'_>, pos: usize, n: usize, out: &mut [f32]) {
    let (d, hd) = (c.n_embd, c.head_dim);
    let group = c.n_head / c.n_head_kv;
    let scale = 1.0 / (hd as f32).sqrt();
    // One task per (token, head), each writing its own head_dim slice —
    // grouped so a task scores a few thousand positions at least: a short
    // context's heads are cheaper than handing them to another thread.
    let min_len = (4096 / (pos + n)).max(1);
    out.par_chunks_mut(hd)
        .with_min_len(min_len)
        .enumerate()
        .for_each_init(Vec::new, |scores, (i, dst)| {
            let (t, head) = (i / c.n_head, i % c.n_head);
            let qh = &q[t * d + head * hd..t * d + (head + 1) * hd];
            let upto = pos + t + 1;
            scores.resize(upto.max(scores.len()), 0.0);
            let cache = HeadCache {
                offset: (head / group) * hd,
                ..layer
            };
            attend(qh, &cache, upto, scale, scores, dst);
        });
    debug_assert_eq!(out.len(), n * d);
}

/// Several matrix-vector products over the same input in one pass over the
/// pool: generating a token is a chain of small products, and each
/// dispatch to the threads costs a few microseconds of hand-off. Each task
/// owns a run of whole tiles, so it writes its rows straight into `out`.
fn matvec_many(jobs: Vec<(&Matrix, &mut [f32])>, xq: &[BlockQ8], xf: &[f32]) {
    let parts = rayon::current_num_threads() * 4;
    let mut work: Vec<(&Matrix, usize, &mut [f32])> = Vec::new();
    for (m, out) in jobs {
        let per = m.tiles().div_ceil(parts).max(1);
        for (ci, dst) in out[..m.rows].chunks_mut(per * TILE).enumerate() {
            work.push((m, ci * per, dst));
        }
    }
    work.into_par_iter().for_each(|(m, first, dst)| {
        let mut lanes = [[0.0; TILE]; 1];
        for (i, rows) in dst.chunks_mut(TILE).enumerate() {
            m.tile_products(first + i, xq, xf, &mut lanes);
            put(rows, &lanes[0]);
        }
    });
}

/// Inputs per pass over a tile's weights in [`matmul`]: the widest kernel.
const GROUP: usize = 8;

/// `out[t][r] = m.row(r) · x[t]` for `n` inputs. The work is split both
/// ways: groups of [`GROUP`] inputs (each pass over a tile unpacks its
/// weights once for the group) by runs of tiles (enough tasks to balance
/// the threads when the inputs are few). Each task writes its rows of its
/// inputs straight into `out`.
fn matmul(m: &Matrix, xq: &[BlockQ8], xf: &[f32], n: usize, out: &mut [f32]) {
    if n == 1 {
        matvec_many(vec![(m, out)], xq, xf);
        return;
    }
    let (rows, blocks, tiles) = (m.rows, m.cols / BLOCK, m.tiles());
    let groups = n.div_ceil(GROUP);
    let wanted = (rayon::current_num_threads() * 4).div_ceil(groups);
    let per = tiles.div_ceil(wanted.clamp(1, tiles));
    let runs = tiles.div_ceil(per);
    let mut tasks: Vec<(usize, usize, Vec<&mut [f32]>)> = (0..groups * runs)
        .map(|i| (i / runs, i % runs, Vec::with_capacity(GROUP)))
        .collect();
    for (t, row) in out[..n * rows].chunks_mut(rows).enumerate() {
        for (run, part) in row.chunks_mut(per * TILE).enumerate() {
            tasks[(t / GROUP) * runs + run].2.push(part);
        }
    }
    tasks.into_par_iter().for_each(|(group, run, mut dst)| {
        let (first, count) = (group * GROUP, dst.len());
        let x = &xq[first * blocks..(first + count) * blocks];
        let x_float = &xf[first * m.cols..(first + count) * m.cols];
        let mut lanes = [[0.0; TILE]; GROUP];
        let lanes = &mut lanes[..count];
        for (i, tile) in (run * per..tiles.min((run + 1) * per)).enumerate() {
            m.tile_products(tile, x, x_float, lanes);
            for (d, l) in dst.iter_mut().zip(lanes.iter()) {
                let end = d.len().min((i + 1) * TILE);
                put(&mut d[i * TILE..end], l);
            }
        }
    });
}

/// Copies a tile's lanes into `rows` (up to 16 of them). A whole tile is a
/// fixed-size copy — one vector store, where a slice copy of run-time
/// length is a call to `memmove` (hundreds of thousands per prompt).
#[inline]
fn put(rows: &mut [f32], lanes: &[f32; TILE]) {
    match <&mut [f32; TILE]>::try_from(&mut *rows) {
        Ok(whole) => *whole = *lanes,
        Err(_) => rows.copy_from_slice(&lanes[..rows.len()]),
    }
}
