//! The prompt a chat becomes: the model's own chat template (the Jinja text
//! in `tokenizer.chat_template`, rendered with minijinja), or ChatML when the
//! file has none.
//!
//! Message text must never turn into control tokens, or a task description
//! containing `<|im_end|>` could end the system prompt early. So the
//! template is rendered with a placeholder per message; the template's own
//! text is split on control-token strings (which become their ids) and each
//! placeholder is replaced by its message encoded as plain text.

use minijinja::{Environment, context};

use super::bpe::Tokenizer;
use super::gguf::Gguf;

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Placeholder delimiters: private-use characters no template contains.
const OPEN: char = '\u{e000}';
const CLOSE: char = '\u{e001}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the model's chat template failed: {0}")]
pub struct TemplateError(String);

/// The file's chat template, if it has one.
pub fn from_gguf(g: &Gguf) -> Option<String> {
    g.str("tokenizer.chat_template").ok().map(str::to_owned)
}

/// The tokens that end an assistant turn: the end-of-sequence token and,
/// where the vocabulary has them, the usual end-of-turn markers.
pub fn stop_tokens(tok: &Tokenizer) -> Vec<u32> {
    let mut stops = vec![tok.eos()];
    for marker in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"] {
        if let Some(id) = tok.special(marker)
            && !stops.contains(&id)
        {
            stops.push(id);
        }
    }
    stops
}

/// The prompt's token ids, ending where the assistant's answer begins.
///
/// # Errors
/// When the template does not render.
pub fn prompt(
    tok: &Tokenizer,
    template: Option<&str>,
    system: Option<&str>,
    messages: &[(Role, &str)],
) -> Result<Vec<u32>, TemplateError> {
    let all: Vec<(Role, &str)> = system
        .map(|s| (Role::System, s))
        .into_iter()
        .chain(messages.iter().copied())
        .collect();
    let placeholders: Vec<minijinja::Value> = all
        .iter()
        .enumerate()
        .map(|(i, (role, _))| {
            minijinja::Value::from_serialize(serde_json::json!({
                "role": role.as_str(),
                "content": format!("{OPEN}{i}{CLOSE}"),
            }))
        })
        .collect();
    let mut env = Environment::new();
    env.add_template("chat", template.unwrap_or(CHATML))
        .map_err(|e| TemplateError(e.to_string()))?;
    let rendered = env
        .get_template("chat")
        .and_then(|t| {
            t.render(context! {
                messages => placeholders,
                add_generation_prompt => true,
                bos_token => "",
                eos_token => "",
            })
        })
        .map_err(|e| TemplateError(e.to_string()))?;

    let controls = tok.controls();
    let mut ids = Vec::new();
    let mut rest = rendered.as_str();
    while !rest.is_empty() {
        // Template text up to the next placeholder.
        let (text, after) = match rest.find(OPEN) {
            Some(at) => (&rest[..at], Some(&rest[at + OPEN.len_utf8()..])),
            None => (rest, None),
        };
        template_text(tok, &controls, text, &mut ids);
        let Some(after) = after else { break };
        let close = after
            .find(CLOSE)
            .ok_or_else(|| TemplateError("a message placeholder was cut".into()))?;
        let index: usize = after[..close]
            .parse()
            .map_err(|_| TemplateError("a message placeholder was altered".into()))?;
        let (_, content) = all
            .get(index)
            .ok_or_else(|| TemplateError("an unknown message placeholder".into()))?;
        ids.extend(tok.encode(content));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    Ok(ids)
}

/// Encodes template text: control-token strings become their ids, the rest
/// is plain text.
fn template_text(tok: &Tokenizer, controls: &[(&str, u32)], text: &str, ids: &mut Vec<u32>) {
    let mut plain_from = 0;
    let mut at = 0;
    while at < text.len() {
        let hit = controls
            .iter()
            .find(|(marker, _)| text[at..].starts_with(marker));
        match hit {
            Some((marker, id)) => {
                ids.extend(tok.encode(&text[plain_from..at]));
                ids.push(*id);
                at += marker.len();
                plain_from = at;
            }
            None => {
                at += text[at..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    ids.extend(tok.encode(&text[plain_from..]));
}
