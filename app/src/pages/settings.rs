//! AI settings: which provider plays each role (or "let EXITON choose"),
//! the band's tone, and the confidence below which outputs stop at the
//! human gate. Shows, per role, the provider actually used and why. Also
//! the token budget, provider health and the user's API keys.

mod api_keys;

use domain::accounts::{AiPreferences, Tone};
use domain::band::{AgentRole, ProviderKind};
use leptos::prelude::*;

use crate::components::{ErrorNote, RequireUser, last_error, thousands};
use crate::server_fns::{
    AiSettings, ResetProvider, SaveAiSettings, get_ai_settings, my_budget, provider_status,
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Settings />
        </RequireUser>
    }
}

#[component]
fn Settings() -> impl IntoView {
    let save = ServerAction::<SaveAiSettings>::new();
    let settings = Resource::new(move || save.version().get(), |_| get_ai_settings());
    let error = last_error(save.value());
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    view! {
        <section class="mx-auto max-w-3xl px-4 py-8">
            <h1 class="text-2xl font-semibold">"AI settings"</h1>
            <p class="text-sm text-slate-400">"Who plays in your band, and when you want to be asked."</p>
            <Transition fallback=|| view! { <p class="mt-6 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <SettingsForm settings=s save /> }.into_any(),
                        Err(e) => view! { <p class="mt-6 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <div class="mt-4"><ErrorNote error /></div>
            <Show when=saved>
                <p class="mt-4 text-sm text-emerald-300" role="status" data-testid="saved">"Saved."</p>
            </Show>
            <BudgetPanel />
            <ProviderHealth />
            <api_keys::ApiKeysPanel />
        </section>
    }
}

/// This month's token budget: used, held by running sessions, left.
#[component]
fn BudgetPanel() -> impl IntoView {
    let budget = Resource::new(|| (), |_| my_budget());
    view! {
        <section class="card mt-8 p-5" data-testid="budget">
            <h2 class="text-sm font-semibold uppercase tracking-wider text-slate-300">"Token budget"</h2>
            <Transition fallback=|| view! { <p class="mt-3 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match budget.await {
                        Ok(b) => {
                            let spent = b.used_this_month + b.reserved_tokens;
                            // Whole percent for the bar; the limit is never zero for a real tier.
                            let percent = if b.monthly_limit > 0 { (spent.saturating_mul(100) / b.monthly_limit).clamp(0, 100) } else { 100 };
                            view! {
                                <p class="mt-3 text-sm">
                                    <span class="font-medium capitalize">{b.tier.as_str()}</span>" tier: "
                                    <span data-testid="budget-used">{thousands(b.used_this_month)}</span>" of "
                                    {thousands(b.monthly_limit)}" tokens used this month"
                                    {(b.reserved_tokens > 0).then(|| format!(", {} held by running sessions", thousands(b.reserved_tokens)))}
                                    "."
                                </p>
                                <meter class="meter mt-2" min="0" max="100" value=percent.to_string() aria-label="Tokens used this month"></meter>
                                <p class="mt-2 text-xs text-slate-400">
                                    {format!(
                                        "{} left · up to {} per task · resets {}",
                                        thousands(b.remaining()),
                                        thousands(b.max_session_tokens),
                                        b.resets_at.format("%-d %b %Y")
                                    )}
                                </p>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="mt-3 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The console: each configured provider's locked models, circuit state,
/// last error, time until retry and rate limits, with a manual reset.
#[component]
fn ProviderHealth() -> impl IntoView {
    let reset = ServerAction::<ResetProvider>::new();
    let status = Resource::new(move || reset.version().get(), |_| provider_status());
    view! {
        <section class="card mt-8 p-5" data-testid="provider-health">
            <h2 class="text-sm font-semibold uppercase tracking-wider text-slate-300">"Provider health"</h2>
            <Transition fallback=|| view! { <p class="mt-3 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-3 text-sm text-slate-400">
                                "No AI provider is configured on this server. Set ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY or OLLAMA_HOST and restart."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-3 divide-y divide-white/5">
                                {list.into_iter().map(|p| view! { <ProviderRow status=p reset /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-3 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ProviderRow(
    status: domain::band::ProviderStatus,
    reset: ServerAction<ResetProvider>,
) -> impl IntoView {
    let state = status.circuit.state.clone();
    let badge = match state.as_str() {
        "closed" => "badge badge-active",
        "half_open" => "badge badge-paused",
        _ => "badge badge-archived",
    };
    let models = status
        .models
        .iter()
        .map(|(role, model)| format!("{}: {model}", role.as_str()))
        .collect::<Vec<_>>()
        .join(" · ");
    let retry = status
        .circuit
        .retry_in_ms
        .map(|ms| format!("retry in {} s", ms.div_ceil(1000)));
    let limits = match (
        status.rate_limit.requests_remaining,
        status.rate_limit.tokens_remaining,
    ) {
        (None, None) => None,
        (r, t) => Some(format!(
            "rate limit left: {} requests, {} tokens",
            r.map_or("?".to_owned(), |v| v.to_string()),
            t.map_or("?".to_owned(), |v| v.to_string())
        )),
    };
    let name = status.name.clone();
    view! {
        <li class="py-3" data-provider=status.name.clone()>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <div class="flex items-center gap-2">
                    <span class="font-medium">{status.kind.label()}</span>
                    <span class=badge data-testid="circuit">{state}</span>
                    {retry.map(|r| view! { <span class="text-xs text-slate-400">{r}</span> })}
                </div>
                <ActionForm action=reset>
                    <input type="hidden" name="name" value=name />
                    <button type="submit" class="btn-secondary text-xs">"Reset circuit"</button>
                </ActionForm>
            </div>
            <p class="mt-1 text-xs text-slate-400">{models}</p>
            {(status.circuit.consecutive_failures > 0).then(|| view! {
                <p class="mt-1 text-xs text-amber-300">{format!("{} failures in a row", status.circuit.consecutive_failures)}</p>
            })}
            {status.circuit.last_error.map(|e| view! { <p class="mt-1 text-xs text-rose-300" data-testid="last-error">{format!("last error: {e}")}</p> })}
            {limits.map(|l| view! { <p class="mt-1 text-xs text-slate-400">{l}</p> })}
        </li>
    }
}

#[component]
fn SettingsForm(settings: AiSettings, save: ServerAction<SaveAiSettings>) -> impl IntoView {
    let AiSettings {
        preferences,
        bindings,
        available,
    } = settings;
    let field_error = last_error(save.value());
    let threshold_error = move || {
        field_error
            .get()
            .filter(|e| e.field() == Some("confidence_threshold"))
            .map(|e| e.to_string())
    };
    let rows = bindings
        .into_iter()
        .map(|b| {
            let chosen = preferences.preferred(b.role);
            let name = role_field(b.role);
            let used = b.provider.map_or("nobody yet", ProviderKind::label);
            let available = available.clone();
            view! {
                <div class="grid gap-2 border-b border-white/5 py-4 sm:grid-cols-[9rem_1fr]" data-role=name>
                    <label for=format!("role-{name}") class="pt-2 font-medium capitalize">{name}</label>
                    <div>
                        <select id=format!("role-{name}") name=name class="input">
                            <option value="" selected=chosen.is_none()>"Let EXITON choose"</option>
                            {ProviderKind::ALL
                                .into_iter()
                                .map(|k| {
                                    let note = if available.contains(&k) { "" } else { " — not configured" };
                                    view! {
                                        <option value=k.as_str() selected=chosen == Some(k)>{format!("{}{note}", k.label())}</option>
                                    }
                                })
                                .collect_view()}
                        </select>
                        <p class="mt-1 text-sm text-slate-400" data-testid="binding">
                            <span class="text-slate-200">{used}</span>" — "{b.reason}
                        </p>
                    </div>
                </div>
            }
        })
        .collect_view();
    let AiPreferences {
        tone,
        confidence_threshold,
        ..
    } = preferences;
    view! {
        <ActionForm action=save>
            <div class="card mt-6 p-5">
                <h2 class="text-sm font-semibold uppercase tracking-wider text-slate-300">"Roles"</h2>
                {rows}
                <div class="grid gap-2 py-4 sm:grid-cols-[9rem_1fr]">
                    <label for="tone" class="pt-2 font-medium">"Tone"</label>
                    <select id="tone" name="tone" class="input">
                        {Tone::ALL
                            .into_iter()
                            .map(|t| view! { <option value=t.as_str() selected=t == tone>{t.as_str()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="grid gap-2 py-4 sm:grid-cols-[9rem_1fr]">
                    <label for="confidence_threshold" class="pt-2 font-medium">"Ask me below"</label>
                    <div>
                        <input
                            id="confidence_threshold"
                            name="confidence_threshold"
                            type="number"
                            min="0"
                            max="1"
                            step="0.01"
                            value=confidence_threshold.to_string()
                            class="input w-32"
                            aria-invalid=move || threshold_error().is_some().to_string()
                        />
                        <p class="mt-1 text-sm text-slate-400">
                            "Outputs with a lower confidence (0–1) wait for your review. Critical operations always do."
                        </p>
                        <Show when=move || threshold_error().is_some()>
                            <p class="mt-1 text-sm text-rose-300" role="alert" data-field-error="confidence_threshold">
                                {threshold_error}
                            </p>
                        </Show>
                    </div>
                </div>
                <button type="submit" class="btn-primary mt-2" disabled=move || save.pending().get()>"Save settings"</button>
            </div>
        </ActionForm>
    }
}

fn role_field(role: AgentRole) -> &'static str {
    role.as_str()
}
