//! The in-process local model provider: a small instruct model in GGUF run
//! on the CPU in pure Rust, so the band plays with no key and no server.
//!
//! `gguf` reads the file, `quant` holds the quantised weights and their
//! kernels, `vector` the float work around them, `model` is the
//! transformer, `bpe` the tokenizer from the file's metadata, `template` the chat prompt, `engine` the generation loop and
//! `provider` the `AiProvider` adapter with its concurrency limits.

pub mod bpe;
mod engine;
pub mod gguf;
pub mod model;
mod provider;
pub mod quant;
pub mod template;
mod vector;

pub use engine::{Engine, Finish, GenerateError, Generated, LoadError, Prompt};
pub use provider::{LocalModelConfig, LocalProvider, NAME};
