//! The in-process local model provider: the `local-model` crate's engine
//! behind the `AiProvider` port, with its concurrency limits.

mod provider;

pub use local_model::{
    Engine, Finish, GenerateError, Generated, LoadError, Prompt, bpe, gguf, model, quant, template,
};
pub use provider::{LocalModelConfig, LocalProvider, NAME};
