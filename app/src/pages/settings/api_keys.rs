//! The settings page's API keys: the list (name, prefix, created, last
//! used, revoked), a Revoke button per active key, and a form that creates
//! one and shows its plaintext once, to be copied there and then.

use chrono::{DateTime, Utc};
use domain::api_keys::ApiKey;
use leptos::prelude::*;

use crate::components::{ErrorNote, last_error};
use crate::server_fns::{CreateApiKey, RevokeApiKey, list_api_keys};

#[component]
pub fn ApiKeysPanel() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let create_error = last_error(create.value());
    let revoke_error = last_error(revoke.value());
    let name_error = move || {
        create_error
            .get()
            .filter(|e| e.field() == Some("name"))
            .map(|e| e.to_string())
    };
    // Once any key is revoked, the new key's plaintext has been on screen
    // long enough: it goes, rather than sit next to a list that may show
    // it revoked.
    Effect::new(move |_| {
        if revoke.version().get() > 0 {
            create.value().set(None);
        }
    });
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <section class="card mt-8 p-5" data-testid="api-keys">
            <h2 class="text-sm font-semibold uppercase tracking-wider text-slate-300">"API keys"</h2>
            <p class="mt-1 text-sm text-slate-400">
                "For scripts and other clients: send "
                <code class="text-slate-200">"Authorization: Bearer <key>"</code>
                " with any /api/v1 request. A key acts as you; revoke it as soon as you no longer need it."
            </p>
            <ActionForm action=create>
                <div class="mt-4 flex flex-wrap items-start gap-2">
                    <div class="min-w-48 flex-1">
                        <label for="api-key-name" class="block text-sm text-slate-300">"New key's name"</label>
                        <input
                            id="api-key-name"
                            name="name"
                            required
                            maxlength="80"
                            placeholder="e.g. CI deploy"
                            autocomplete="off"
                            class="input mt-1"
                            data-testid="api-key-name"
                            aria-invalid=move || name_error().is_some().to_string()
                        />
                        <Show when=move || name_error().is_some()>
                            <p class="mt-1 text-sm text-rose-300" role="alert" data-field-error="name">{name_error}</p>
                        </Show>
                    </div>
                    <button
                        type="submit"
                        class="btn-primary mt-6"
                        data-testid="api-key-create"
                        disabled=move || create.pending().get()
                    >
                        "Create key"
                    </button>
                </div>
            </ActionForm>
            <div class="mt-3"><ErrorNote error=create_error /></div>
            {move || created().map(|c| {
                let secret_input = NodeRef::<leptos::html::Input>::new();
                view! {
                <div class="mt-4 rounded-md border border-emerald-400/30 bg-emerald-500/10 p-3" role="status">
                    <label for="api-key-secret" class="block text-sm text-emerald-200">
                        "Your new key “"{c.key.name}"”: copy it now, it will not be shown again."
                    </label>
                    <input
                        id="api-key-secret"
                        readonly
                        value=c.secret
                        class="input mt-2 font-mono text-sm"
                        data-testid="api-key-secret"
                        node_ref=secret_input
                        on:focus=move |_| {
                            if let Some(input) = secret_input.get() {
                                input.select();
                            }
                        }
                    />
                </div>
                }
            })}
            <div class="mt-3"><ErrorNote error=revoke_error /></div>
            <Transition fallback=|| view! { <p class="mt-4 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-4 text-sm text-slate-400">"No API keys yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-4 divide-y divide-white/5">
                                {list.into_iter().map(|k| view! { <ApiKeyRow key=k revoke /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-4 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ApiKeyRow(key: ApiKey, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let revoked = key.is_revoked();
    let mut details = vec![format!("created {}", when(key.created_at))];
    details.push(key.last_used_at.map_or_else(
        || "never used".to_owned(),
        |t| format!("last used {}", when(t)),
    ));
    if let Some(t) = key.revoked_at {
        details.push(format!("revoked {}", when(t)));
    }
    let id = key.id.to_string();
    let row_id = id.clone();
    view! {
        <li
            class="flex flex-wrap items-center justify-between gap-2 py-3"
            data-testid="api-key-row"
            data-key-id=row_id
            data-revoked=revoked.to_string()
        >
            <div class=if revoked { "text-slate-500" } else { "" }>
                <span class="font-medium">{key.name}</span>
                <code class="ml-2 text-xs text-slate-400">{format!("{}…", key.prefix)}</code>
                {revoked.then(|| view! { <span class="badge badge-archived ml-2">"revoked"</span> })}
                <p class="mt-1 text-xs text-slate-400">{details.join(" · ")}</p>
            </div>
            {(!revoked).then(|| view! {
                <ActionForm action=revoke>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="btn-secondary text-xs" data-testid="api-key-revoke">"Revoke"</button>
                </ActionForm>
            })}
        </li>
    }
}

/// A time as the list shows it (UTC, so the server's rendering and the
/// browser's agree).
fn when(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y %H:%M UTC").to_string()
}
