//! The built-in local model's engine: a small instruct model in GGUF run on
//! the CPU in pure Rust, so the band plays with no key and no server. A
//! crate of its own so it is built optimised in development (the server's
//! tests and `cargo leptos watch` would crawl otherwise) and can be tested
//! and benchmarked alone; the server's `AiProvider` adapter wraps it.
//!
//! `gguf` reads the file, `quant` holds the quantised weights and their
//! kernels, `vector` the float work around them, `model` is the
//! transformer, `bpe` the tokenizer from the file's metadata, `template`
//! the chat prompt and `engine` the generation loop.

pub mod bpe;
mod engine;
pub mod gguf;
pub mod model;
pub mod quant;
pub mod template;
mod vector;

pub use engine::{Engine, Finish, GenerateError, Generated, LoadError, Prompt, file_name};
