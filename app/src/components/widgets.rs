//! Form widgets: a labelled input that shows its own validation error, a
//! text area that always escapes its text, and a note for errors that
//! belong to no field.

use leptos::prelude::*;

use crate::error::AppError;

/// The last error of an action, if any.
pub type LastError = Signal<Option<AppError>>;

/// The message of `error` when it is about the field `name`.
fn field_message(error: LastError, name: &'static str) -> impl Fn() -> Option<String> + Copy {
    move || {
        error
            .get()
            .filter(|e| e.field() == Some(name))
            .map(|e| e.to_string())
    }
}

/// A field's own error, under it.
#[component]
fn FieldError(
    message: impl Fn() -> Option<String> + Copy + Send + Sync + 'static,
    name: &'static str,
) -> impl IntoView {
    view! {
        <Show when=move || message().is_some()>
            <p class="mt-1 text-sm text-rose-300" role="alert" data-field-error=name>
                {message}
            </p>
        </Show>
    }
}

/// A labelled input; `error` shows under it when it names this field.
#[component]
pub fn TextField(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional, into)] value: String,
    #[prop(default = true)] required: bool,
    #[prop(into)] error: LastError,
) -> impl IntoView {
    let id = format!("field-{name}");
    let message = field_message(error, name);
    view! {
        <label for=id.clone() class="block text-sm text-slate-300">
            {label}
        </label>
        <input
            id=id
            name=name
            type=kind
            autocomplete=autocomplete
            placeholder=placeholder
            value=value
            required=required
            aria-invalid=move || message().is_some().to_string()
            class="input mt-1"
        />
        <FieldError message name />
    }
}

/// A labelled text area; `error` shows under it when it names this field.
#[component]
pub fn TextAreaField(
    label: &'static str,
    name: &'static str,
    #[prop(default = 3)] rows: u32,
    #[prop(optional)] placeholder: &'static str,
    #[prop(into)] error: LastError,
) -> impl IntoView {
    let id = format!("field-{name}");
    let message = field_message(error, name);
    view! {
        <label for=id.clone() class="block text-sm text-slate-300">
            {label}
        </label>
        <TextArea
            value=RwSignal::new(String::new())
            name=name
            rows=rows
            attr:id=id
            attr:placeholder=placeholder
            attr:aria-invalid=move || message().is_some().to_string()
            attr:class="input mt-1"
        />
        <FieldError message name />
    }
}

/// The one way to write a `<textarea>`: its text comes from `value`, never
/// from raw children. Leptos writes a textarea's children into the HTML
/// without escaping them, so user text there could close the element and
/// smuggle in markup. The server renders the escaped text itself (for the
/// page before hydration); in the browser, `prop:value` fills the box as
/// plain text, and typing updates `value`. Other attributes (`id`, `class`,
/// `required`, `aria-*`, `data-testid`) come from the caller as `attr:`.
#[component]
pub fn TextArea(
    /// The text, kept in step with what the user types.
    value: RwSignal<String>,
    name: &'static str,
    #[prop(default = 3)] rows: u32,
) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let prefill = textarea_text(&value.get_untracked());
    #[cfg(not(feature = "ssr"))]
    let prefill = ();
    view! {
        <textarea
            name=name
            rows=rows
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        >
            {prefill}
        </textarea>
    }
}

/// `text` as the content of a `<textarea>` in server-rendered HTML:
/// escaped, after a newline (the parser drops one leading newline there,
/// which would otherwise eat the text's own).
#[cfg(feature = "ssr")]
fn textarea_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    out.push('\n');
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Shows an error that is not about a particular input.
#[component]
pub fn ErrorNote(#[prop(into)] error: LastError) -> impl IntoView {
    let message = move || {
        error
            .get()
            .filter(|e| e.field().is_none())
            .map(|e| e.to_string())
    };
    view! {
        <Show when=move || message().is_some()>
            <p class="rounded-md border border-rose-400/30 bg-rose-500/10 px-3 py-2 text-sm text-rose-200" role="alert">
                {message}
            </p>
        </Show>
    }
}

/// The error of an action's latest result, as a signal.
pub fn last_error<T, S>(value: S) -> LastError
where
    T: 'static,
    S: With<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.with(|v| v.as_ref().and_then(|r| r.as_ref().err().cloned())))
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::textarea_text;

    #[test]
    fn textarea_content_cannot_close_the_element() {
        assert_eq!(
            textarea_text("</textarea><script>x && y</script>"),
            "\n&lt;/textarea&gt;&lt;script&gt;x &amp;&amp; y&lt;/script&gt;"
        );
        assert_eq!(textarea_text("\nfirst"), "\n\nfirst");
    }
}
