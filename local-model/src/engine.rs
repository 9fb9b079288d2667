//! One loaded model and the generation loop: prompt in, tokens out one at a
//! time (greedy at temperature 0, sampled otherwise), stopping at the end of
//! the assistant's turn, at `max_tokens` or when the caller gives up.
//!
//! This is synchronous, CPU-bound code: the provider runs it on tokio's
//! blocking pool, inside the engine's own rayon pool, so it never stalls
//! the async runtime.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::bpe::{Decoder, Tokenizer, TokenizerError};
use super::gguf::{Gguf, GgufError};
use super::model::{ContextFull, Model};
use super::template::{self, Role};

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    File(#[from] GgufError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("cannot start the model's threads: {0}")]
    Threads(String),
}

/// Why a generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Context(#[from] ContextFull),
    #[error("the prompt cannot be built: {0}")]
    Prompt(String),
}

/// A model file loaded for generation, shared by every call.
pub struct Engine {
    model: Model,
    tokenizer: Tokenizer,
    template: Option<String>,
    stops: Vec<u32>,
    pool: rayon::ThreadPool,
    /// The file's name and the first 12 hex digits of its SHA-256, for
    /// provenance ("SmolLM2-135M-Instruct.Q4_1.gguf@sha256:1a2b…").
    pub version: String,
    /// Largest context a call may use (prompt + answer).
    pub context: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("version", &self.version)
            .field("context", &self.context)
            .finish()
    }
}

/// The file's SHA-256, streamed (the model is not held in memory for it).
fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The model file's name, as provenance and the settings show it.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.gguf".to_owned())
}

/// What a generation is asked for.
#[derive(Debug, Clone)]
pub struct Prompt<'a> {
    pub system: Option<&'a str>,
    pub messages: Vec<(Role, &'a str)>,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Seed for sampling (temperature > 0); greedy decoding ignores it.
    pub seed: u64,
    /// Divides (or, below zero, multiplies) the logit of every token among
    /// the last [`REPEAT_WINDOW`] generated, so greedy decoding does not
    /// loop on a phrase; 1 turns it off.
    pub repeat_penalty: f32,
}

/// How many of the latest generated tokens the repetition penalty covers
/// (Ollama's `repeat_last_n`).
pub const REPEAT_WINDOW: usize = 64;

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn.
    Stop,
    /// `max_tokens` (or the context) ran out first.
    Length,
    /// The caller gave up (its deadline passed or it went away).
    Cancelled,
}

/// A finished generation.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: usize,
    /// Tokens generated, not counting the end-of-turn token.
    pub output_tokens: usize,
    pub finish: Finish,
    /// Mean natural-log probability of the chosen tokens (under the
    /// temperature-1 distribution), for confidence.
    pub mean_logprob: Option<f64>,
}

impl Engine {
    /// Reads and prepares the model file at `path`, with `threads` threads
    /// for its matrix products and at most `context` tokens per call.
    ///
    /// # Errors
    /// When the file cannot be read, is not a supported model, or the
    /// threads cannot be started.
    pub fn load(path: &Path, threads: usize, context: usize) -> Result<Self, LoadError> {
        let sha256 = sha256_of(path).map_err(GgufError::Io)?;
        let gguf = Gguf::open(path)?;
        let model = Model::from_gguf(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let template = template::from_gguf(&gguf);
        let stops = template::stop_tokens(&tokenizer);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("local-model-{i}"))
            .build()
            .map_err(|e| LoadError::Threads(e.to_string()))?;
        let context = context.clamp(64, model.config.context);
        Ok(Self {
            version: format!("{}@sha256:{}", file_name(path), &sha256[..12]),
            context,
            model,
            tokenizer,
            template,
            stops,
            pool,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The token ids the model sees for `prompt` (its chat template).
    ///
    /// # Errors
    /// When the template cannot be rendered.
    pub fn prompt_ids(&self, prompt: &Prompt<'_>) -> Result<Vec<u32>, GenerateError> {
        template::prompt(
            &self.tokenizer,
            self.template.as_deref(),
            prompt.system,
            &prompt.messages,
        )
        .map_err(|e| GenerateError::Prompt(e.to_string()))
    }

    /// Generates an answer, handing each piece of text to `on_delta` as soon
    /// as it forms whole characters. Checks `cancel` between tokens.
    ///
    /// # Errors
    /// When the prompt alone does not fit the context.
    pub fn generate(
        &self,
        prompt: &Prompt<'_>,
        cancel: &AtomicBool,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generated, GenerateError> {
        let ids = self.prompt_ids(prompt)?;
        // Leave room for at least one generated token.
        if ids.len() >= self.context {
            return Err(ContextFull {
                context: self.context,
            }
            .into());
        }
        let budget = (prompt.max_tokens as usize).min(self.context - ids.len());
        self.pool
            .install(|| self.run(&ids, budget, prompt, cancel, on_delta))
    }

    fn run(
        &self,
        ids: &[u32],
        budget: usize,
        prompt: &Prompt<'_>,
        cancel: &AtomicBool,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generated, GenerateError> {
        let mut state = self.model.state(ids.len() + budget);
        let mut sampler = Sampler::new(prompt.temperature, prompt.seed, prompt.repeat_penalty);
        let mut decoder = Decoder::new(&self.tokenizer);
        let mut text = String::new();
        let mut logprob_sum = 0.0f64;
        let mut produced = 0usize;
        let mut finish = Finish::Length;
        self.model.forward(&mut state, ids)?;
        while produced < budget {
            if cancel.load(Ordering::Relaxed) {
                finish = Finish::Cancelled;
                break;
            }
            let (next, logprob) = sampler.pick(&mut state.logits);
            if self.stops.contains(&next) {
                finish = Finish::Stop;
                break;
            }
            produced += 1;
            logprob_sum += logprob;
            let piece = decoder.push(next);
            if !piece.is_empty() {
                on_delta(&piece);
                text.push_str(&piece);
            }
            if produced < budget {
                self.model.forward(&mut state, &[next])?;
            }
        }
        let rest = decoder.finish();
        if !rest.is_empty() {
            on_delta(&rest);
            text.push_str(&rest);
        }
        Ok(Generated {
            text,
            prompt_tokens: ids.len(),
            output_tokens: produced,
            finish,
            mean_logprob: (produced > 0).then(|| logprob_sum / produced as f64),
        })
    }
}

/// Picks the next token: the most likely at temperature 0, otherwise a
/// draw from the tempered distribution restricted to its top `TOP_K` —
/// after the repetition penalty, which only steers the choice: the
/// reported log-probability is the model's own.
struct Sampler {
    temperature: f32,
    rng: u64,
    penalty: f32,
    recent: std::collections::VecDeque<u32>,
}

/// Candidates kept when sampling: the long tail of a small model's
/// vocabulary is mostly noise.
const TOP_K: usize = 40;

impl Sampler {
    fn new(temperature: f32, seed: u64, penalty: f32) -> Self {
        Self {
            temperature: if temperature.is_finite() {
                temperature.max(0.0)
            } else {
                0.0
            },
            // xorshift must not start at zero.
            rng: seed | 1,
            penalty: if penalty.is_finite() && penalty > 1.0 {
                penalty
            } else {
                1.0
            },
            recent: std::collections::VecDeque::with_capacity(REPEAT_WINDOW),
        }
    }

    /// Penalises the recent tokens' logits in place (llama.cpp's and
    /// Ollama's rule: a positive logit is divided, a negative multiplied),
    /// answering the values it replaced.
    fn penalise(&self, logits: &mut [f32]) -> Vec<(u32, f32)> {
        if self.penalty <= 1.0 {
            return Vec::new();
        }
        let mut seen: Vec<u32> = self.recent.iter().copied().collect();
        seen.sort_unstable();
        seen.dedup();
        let mut originals = Vec::with_capacity(seen.len());
        for id in seen {
            if let Some(v) = logits.get_mut(id as usize) {
                originals.push((id, *v));
                *v = if *v > 0.0 {
                    *v / self.penalty
                } else {
                    *v * self.penalty
                };
            }
        }
        originals
    }

    fn remember(&mut self, id: u32) {
        if self.recent.len() == REPEAT_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(id);
    }

    fn next_f64(&mut self) -> f64 {
        // xorshift64*: plenty for sampling, and reproducible by seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The chosen id and its log-probability under the model's own
    /// (untempered, unpenalised) softmax. `logits` is left penalised.
    fn pick(&mut self, logits: &mut [f32]) -> (u32, f64) {
        let (id, logprob) = self.choose(logits);
        self.remember(id);
        (id, logprob)
    }

    fn choose(&mut self, logits: &mut [f32]) -> (u32, f64) {
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        let log_total = f64::from(max)
            + logits
                .iter()
                .map(|v| f64::from(v - max).exp())
                .sum::<f64>()
                .ln();
        let originals = self.penalise(logits);
        let logits = &*logits;
        let logprob = |id: usize| {
            let raw = originals
                .iter()
                .find(|(r, _)| *r as usize == id)
                .map_or(logits[id], |(_, v)| *v);
            f64::from(raw) - log_total
        };
        let greedy = logits
            .iter()
            .enumerate()
            .fold(0, |best, (i, v)| if *v > logits[best] { i } else { best });
        if self.temperature <= f32::EPSILON {
            return (greedy as u32, logprob(greedy));
        }
        let mut top: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
        let k = TOP_K.min(top.len());
        top.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        top.truncate(k);
        let weights: Vec<f64> = top
            .iter()
            .map(|(_, v)| (f64::from(v - max) / f64::from(self.temperature)).exp())
            .collect();
        let mut target = self.next_f64() * weights.iter().sum::<f64>();
        for ((id, _), w) in top.iter().zip(&weights) {
            if target < *w {
                return (*id as u32, logprob(*id));
            }
            target -= w;
        }
        (greedy as u32, logprob(greedy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit_and_reports_its_probability() {
        let mut s = Sampler::new(0.0, 1, 1.0);
        let (id, lp) = s.pick(&mut [0.0, 2.0, 1.0]);
        assert_eq!(id, 1);
        let expected = 2.0 - (1.0f64 + 2f64.exp() + 1f64.exp()).ln();
        assert!((lp - expected).abs() < 1e-6);
    }

    #[test]
    fn the_repetition_penalty_steers_greedy_choice_but_not_the_reported_probability() {
        let logits = [0.0f32, 2.0, 1.9, -1.0];
        let mut plain = Sampler::new(0.0, 1, 1.0);
        let picks: Vec<u32> = (0..3).map(|_| plain.pick(&mut logits.clone()).0).collect();
        assert_eq!(picks, [1, 1, 1], "without a penalty greedy repeats itself");

        let mut s = Sampler::new(0.0, 1, 1.1);
        let (first, lp_first) = s.pick(&mut logits.clone());
        assert_eq!(first, 1);
        // 2.0 / 1.1 < 1.9: the runner-up wins next...
        let (second, lp_second) = s.pick(&mut logits.clone());
        assert_eq!(second, 2);
        // ...and its probability is the model's, unpenalised.
        let total = (1.0f64 + 2f64.exp() + 1.9f64.exp() + (-1f64).exp()).ln();
        assert!((lp_first - (2.0 - total)).abs() < 1e-6);
        assert!((lp_second - (1.9 - total)).abs() < 1e-6);
        // A negative logit is pushed further down, not up.
        let mut penalised = [0.0f32, 2.0, 1.9, -1.0];
        s.remember(3);
        s.penalise(&mut penalised);
        assert!((penalised[3] + 1.1).abs() < 1e-6);
        assert!((penalised[1] - 2.0 / 1.1).abs() < 1e-6);
        // The window forgets.
        for _ in 0..REPEAT_WINDOW {
            s.remember(0);
        }
        let mut fresh = [0.0f32, 2.0, 1.9, -1.0];
        s.penalise(&mut fresh);
        assert_eq!(fresh[1], 2.0);
    }

    #[test]
    fn sampling_is_reproducible_by_seed_and_follows_the_distribution() {
        let logits = [0.0f32, 1.0, 3.0, -50.0];
        let draw = |seed| {
            let mut s = Sampler::new(1.0, seed, 1.0);
            (0..2000)
                .map(|_| s.pick(&mut logits.clone()).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        let picks = draw(42);
        let share = |id| picks.iter().filter(|p| **p == id).count() as f64 / 2000.0;
        // softmax(0,1,3) ≈ (0.042, 0.114, 0.844); id 3 is negligible.
        assert!((share(2) - 0.844).abs() < 0.04, "{}", share(2));
        assert!((share(1) - 0.114).abs() < 0.03, "{}", share(1));
        assert_eq!(share(3), 0.0);
    }
}
