//! The built-in local model's speed (issue 5): prompt processing and
//! generation in tokens per second on 1 and 2 threads, first-token latency
//! for a chat prompt, and peak memory — the figures llama.cpp's
//! `llama-bench` reports (`pp128`, `tg64`), so the two compare directly.
//!
//! Everything is the product's code: `Engine::load` reads the GGUF file,
//! the model runs on the engine's kernels inside a rayon pool of the given
//! size. The prompt for pp/tg is 128 arbitrary token ids (as llama-bench
//! uses), generation is greedy.
//!
//! Run with `cargo bench -p local-model --bench engine`. Knobs:
//! `EXITON_BENCH_MODEL` (the GGUF file; default the one `scripts/fetch-model`
//! installs under `data/models`), `EXITON_BENCH_THREADS` (`1,2`),
//! `EXITON_BENCH_REPEAT` (3: the best of three is reported, like
//! llama-bench's average over repetitions but robust to a busy neighbour),
//! `EXITON_BENCH_PHASES` (`pp,tg,first`: the others print 0, which keeps a
//! profile to the phase under study).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use local_model::template::Role;
use local_model::{Engine, Prompt};

const PP: usize = 128;
const TG: usize = 64;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn best(repeat: usize, mut run: impl FnMut() -> Duration) -> Duration {
    (0..repeat).map(|_| run()).min().unwrap_or(Duration::MAX)
}

fn main() {
    let path = std::env::var("EXITON_BENCH_MODEL").map_or_else(
        |_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../data/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "no model at {} (scripts/fetch-model)",
        path.display()
    );
    let threads: Vec<usize> = std::env::var("EXITON_BENCH_THREADS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .map(|t| t.trim().parse().unwrap())
        .collect();
    let repeat: usize = std::env::var("EXITON_BENCH_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!("model: {}", path.display());
    println!(
        "{:>7} {:>12} {:>12} {:>16} {:>10}",
        "threads", "pp128 tok/s", "tg64 tok/s", "first token ms", "load ms"
    );
    let phases = std::env::var("EXITON_BENCH_PHASES").unwrap_or_else(|_| "pp,tg,first".into());
    let wanted = |phase: &str| phases.split(',').any(|p| p.trim() == phase);
    let prompt: Vec<u32> = (0..PP as u32).map(|i| 100 + i * 7).collect();
    let mut chat_tokens = 0;
    for &n in &threads {
        let started = Instant::now();
        let engine = Engine::load(&path, n, 2048).unwrap();
        let load = started.elapsed();
        let model = engine.model();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        let pp = best(if wanted("pp") { repeat } else { 0 }, || {
            pool.install(|| {
                let mut state = model.state(PP + TG);
                let t = Instant::now();
                model.forward(&mut state, &prompt).unwrap();
                t.elapsed()
            })
        });
        let tg = best(if wanted("tg") { repeat } else { 0 }, || {
            pool.install(|| {
                let mut state = model.state(PP + TG);
                model.forward(&mut state, &prompt[..1]).unwrap();
                let t = Instant::now();
                let mut next = 0u32;
                for _ in 0..TG {
                    model.forward(&mut state, &[next]).unwrap();
                    next = argmax(&state.logits);
                }
                t.elapsed()
            })
        });
        // A chat prompt through the whole path: template, tokenizer,
        // prompt processing, the first sampled token.
        let chat = Prompt {
            system: Some("Answer in one short sentence."),
            messages: vec![(Role::User, "What is the capital of France?")],
            temperature: 0.0,
            max_tokens: 1,
            seed: 0,
            repeat_penalty: 1.0,
        };
        chat_tokens = engine.prompt_ids(&chat).unwrap().len();
        let first = best(if wanted("first") { repeat } else { 0 }, || {
            let t = Instant::now();
            engine
                .generate(&chat, &AtomicBool::new(false), &mut |_| {})
                .unwrap();
            t.elapsed()
        });
        println!(
            "{:>7} {:>12.1} {:>12.1} {:>16.1} {:>10.0}",
            n,
            per_second(PP, pp),
            per_second(TG, tg),
            if first == Duration::MAX {
                0.0
            } else {
                first.as_secs_f64() * 1e3
            },
            load.as_secs_f64() * 1e3
        );
    }
    println!(
        "first-token prompt: {chat_tokens} tokens; peak resident memory: {:.0} MiB",
        peak_rss_mib()
    );
}

/// Tokens per second, or 0 for a phase that did not run.
fn per_second(tokens: usize, took: Duration) -> f64 {
    if took == Duration::MAX {
        0.0
    } else {
        tokens as f64 / took.as_secs_f64()
    }
}

fn argmax(v: &[f32]) -> u32 {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, x)| if *x > v[b] { i } else { b }) as u32
}
