//! Form widgets: a labelled input that shows its own validation error, and
//! a note for errors that belong to no field.

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
        <textarea
            id=id
            name=name
            rows=rows
            placeholder=placeholder
            aria-invalid=move || message().is_some().to_string()
            class="input mt-1"
        ></textarea>
        <FieldError message name />
    }
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
