//! The band on a task: the "Run the band" form (action, context,
//! constraints) and the session page that shows, per agent, the output,
//! confidence and reasoning, safety flags, provenance, tokens and time,
//! with the gate's verdict and the budget left. The page follows the live
//! socket: agents still playing fill in token by token and each of the
//! session's events refreshes it; with the socket down it polls while the
//! band plays.
//!
//! Agent output is untrusted text: it is only ever rendered as text nodes
//! (inside `<pre>`), never as HTML.

use std::time::Duration;

use domain::band::{AgentRole, ProviderKind, Risk};
use domain::sessions::{
    AgentInvocation, IntentAction, ReviewKind, ReviewReason, ReviewRequest, SessionStatus,
};
use leptos::prelude::*;
use uuid::Uuid;

use crate::components::live::{Live, changes};
use crate::components::{ErrorNote, RequireUser, TextAreaField, last_error, route_id, thousands};
use crate::error::AppError;
use crate::server_fns::{
    CancelSession, RetrySession, RunBand, SessionDetail, get_session, get_task,
};

#[component]
pub fn RunBandPage() -> impl IntoView {
    view! {
        <RequireUser>
            <RunBand />
        </RequireUser>
    }
}

#[component]
fn RunBand() -> impl IntoView {
    let task_id = route_id();
    let task = Resource::new(
        move || task_id.get(),
        |id| async move {
            match id {
                Some(id) => get_task(id).await,
                None => Err(AppError::NotFound("task".into())),
            }
        },
    );
    let run = ServerAction::<RunBand>::new();
    let error = last_error(run.value());
    view! {
        <section class="mx-auto max-w-3xl px-4 py-8">
            <Suspense fallback=|| view! { <p class="text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match task.await {
                        Ok(t) => view! {
                            <a href=format!("/projects/{}", t.project_id) class="link text-sm">"← Back to the board"</a>
                            <h1 class="mt-2 text-2xl font-semibold">"Run the band"</h1>
                            <p class="text-sm text-slate-400">
                                "On "<span class="text-slate-200" data-testid="band-task">{t.title.clone()}</span>
                                ". The coder, reviewer and designer play in parallel; nothing is applied until you approve."
                            </p>
                            <ActionForm action=run attr:class="card mt-6 space-y-4 p-5" attr:data-testid="run-band-form">
                                <input type="hidden" name="task_id" value=t.id.to_string() />
                                <div>
                                    <label for="band-action" class="block text-sm text-slate-300">"What should the band do?"</label>
                                    <select id="band-action" name="action" class="input mt-1">
                                        {IntentAction::ALL.into_iter().map(|a| view! {
                                            <option value=a.as_str()>{a.label()}</option>
                                        }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <TextAreaField label="Context" name="context" rows=5 error
                                        placeholder="Code to review, conventions, links to what exists…" />
                                </div>
                                <div>
                                    <TextAreaField label="Constraints (one per line)" name="constraints" error
                                        placeholder="Accessible\nNo new dependencies" />
                                </div>
                                <ErrorNote error />
                                <button type="submit" class="btn-primary" disabled=move || run.pending().get()>
                                    {move || if run.pending().get() { "Starting…" } else { "Run the band" }}
                                </button>
                            </ActionForm>
                        }.into_any(),
                        Err(e) => view! { <p class="text-rose-300" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn SessionPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Session />
        </RequireUser>
    }
}

/// While the band plays, the page asks again this often.
const REFRESH: Duration = Duration::from_millis(1500);

#[component]
fn Session() -> impl IntoView {
    let id = route_id();
    let tick = RwSignal::new(0u32);
    // Each of this session's events (status, an agent's result, a review
    // decided elsewhere) refreshes the page.
    let session_changed =
        changes(move |e| e.session_id().is_some() && e.session_id() == id.get_untracked());
    let live_up = move || Live::get().is_some_and(|l| l.connected.get_untracked());
    let detail = Resource::new(
        move || (id.get(), tick.get(), session_changed.get()),
        |(id, ..)| async move {
            match id {
                Some(id) => get_session(id).await,
                None => Err(AppError::NotFound("session".into())),
            }
        },
    );
    // In the browser only: refresh while the session is still playing.
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                // With the socket up, events drive the refresh instead.
                let playing = !live_up()
                    && detail.get_untracked().is_some_and(|d| {
                        d.is_ok_and(|d| {
                            matches!(
                                d.session.status,
                                SessionStatus::Pending | SessionStatus::Executing
                            )
                        })
                    });
                if playing {
                    tick.update(|t| *t = t.wrapping_add(1));
                }
            },
            REFRESH,
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    view! {
        <section class="mx-auto max-w-5xl px-4 py-8">
            <Transition fallback=|| view! { <p class="text-slate-400">"Loading session…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(d) => view! { <SessionView d /> }.into_any(),
                        Err(e) => view! { <p class="text-rose-300" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn status_text(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Pending => "Waiting to start",
        SessionStatus::Executing => "The band is playing…",
        SessionStatus::AwaitingReview => "Waiting for your review",
        SessionStatus::Completed => "Completed",
        SessionStatus::Failed => "Failed",
        SessionStatus::Cancelled => "Cancelled",
    }
}

pub(crate) fn reason_text(reason: ReviewReason) -> &'static str {
    match reason {
        ReviewReason::LowConfidence => "confidence below your threshold",
        ReviewReason::SafetyConcern => "a safety concern",
        ReviewReason::CriticalOperation => "a critical operation",
        ReviewReason::BudgetExhausted => "the task's token reservation ran out",
        ReviewReason::SynthesisFailed => "the conductor could not synthesise",
        ReviewReason::ProposalRefused => "the proposed change does not apply to the repository",
    }
}

#[component]
fn SessionView(d: SessionDetail) -> impl IntoView {
    let s = d.session;
    let playing = s.status == SessionStatus::Executing;
    let done: Vec<AgentRole> = d.invocations.iter().map(|i| i.role).collect();
    let back = format!("/projects/{}", s.project_id);
    let title = d.task_title.unwrap_or_else(|| "a task".to_owned());
    let failure = s.failure.clone();
    let started = s.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    view! {
        <a href=back class="link text-sm">"← Back to the board"</a>
        <div class="mt-2 flex flex-wrap items-baseline justify-between gap-3">
            <h1 class="text-2xl font-semibold">"The band on “"{title}"”"</h1>
            <span class="rounded-full border border-white/15 px-3 py-1 text-sm" data-testid="session-status" data-status=s.status.as_str()>
                {status_text(s.status)}
            </span>
        </div>
        <p class="mt-1 text-sm text-slate-400">
            {s.intent.action.label()}" · started "{started}" · conductor: "{s.conductor.label()}
            {s.retry_of.map(|old| view! {
                " · "<a href=format!("/sessions/{old}") class="link" data-testid="retry-of">"runs again a turned-down session"</a>
            })}
        </p>
        <SessionActions id=s.id status=s.status />
        {failure.map(|f| view! { <p class="mt-4 rounded-md border border-rose-400/30 bg-rose-500/10 px-3 py-2 text-sm text-rose-200" role="alert" data-testid="session-failure">{f}</p> })}
        {d.reviews.into_iter().map(|r| view! { <ReviewNote r /> }).collect_view()}
        {s.code.clone().map(|code| view! { <CodeShown code /> })}
        {s.change.clone().map(|change| view! { <ChangeMade change /> })}
        <section class="card mt-4 p-4 text-sm" data-testid="session-budget">
            <span>"This session used "<strong data-testid="session-tokens">{thousands(s.total_tokens_used)}</strong>" tokens. "</span>
            <span class="text-slate-400">
                {format!("{} left this month ({} tier, up to {} per task).", thousands(d.budget.remaining()), d.budget.tier.as_str(), thousands(d.budget.max_session_tokens))}
            </span>
        </section>
        <div class="mt-6 grid gap-4 lg:grid-cols-2">
            {d.invocations.into_iter().map(|i| view! { <AgentCard i /> }).collect_view()}
            {playing.then(|| view! { <Streaming session=s.id done /> })}
        </div>
    }
    .into_any()
}

/// Which commit of the repository the session works on and which files
/// of it the band was shown (provenance).
#[component]
fn CodeShown(code: domain::repos::CodeProvenance) -> impl IntoView {
    let short: String = code.commit.chars().take(8).collect();
    let count = code.files.len();
    view! {
        <details class="card mt-4 p-4 text-sm" data-testid="code-shown">
            <summary class="cursor-pointer">
                "Works on "<span class="font-mono">{code.base_branch.clone()}</span>" at "
                <span class="font-mono" data-testid="code-commit">{short}</span>
                {format!(" · the band was shown {count} file{}", if count == 1 { "" } else { "s" })}
            </summary>
            <ul class="mt-2 space-y-1">
                {code.files.into_iter().map(|f| {
                    let part = if f.whole { "" } else { " (excerpt)" };
                    view! {
                        <li data-testid="code-file">
                            <span class="font-mono">{f.path}</span>
                            <span class="text-slate-400">{format!(" {} bytes{part}", f.bytes)}</span>
                            {(!f.why.is_empty()).then(|| view! { <span class="text-slate-500">{format!(" — {}", f.why.join("; "))}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </details>
    }
}

/// The coder's proposal as a commit on the task branch, or why it could
/// not be one.
#[component]
fn ChangeMade(change: domain::repos::SessionChange) -> impl IntoView {
    use domain::repos::SessionChange;
    match change {
        SessionChange::Proposed(made) => {
            let short: String = made.commit.chars().take(8).collect();
            view! {
                <section class="card mt-4 p-4 text-sm" data-testid="change-proposed">
                    <p>
                        "Proposed as "<span class="font-mono" data-testid="change-commit">{short}</span>
                        " on "<span class="font-mono" data-testid="change-branch">{made.branch.clone()}</span>
                        " (your branches and files are untouched)"
                    </p>
                    <ul class="mt-2 space-y-1">
                        {made.files.into_iter().map(|f| view! {
                            <li data-testid="change-file">
                                <span class="font-mono">{f.path}</span>" "
                                <span class="text-slate-400">{f.change}</span>" "
                                <span class="text-emerald-300">{format!("+{}", f.additions)}</span>" "
                                <span class="text-rose-300">{format!("−{}", f.deletions)}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            }
            .into_any()
        }
        SessionChange::Refused { why } => view! {
            <p class="mt-4 rounded-md border border-amber-400/30 bg-amber-500/10 px-3 py-2 text-sm text-amber-200" role="status" data-testid="change-refused">
                "The proposed change does not apply to the repository: "{why}
            </p>
        }
        .into_any(),
    }
}

/// Cancel while the band plays; run again once it failed, was cancelled
/// or was turned down. Plain forms: they work before hydration too.
#[component]
fn SessionActions(id: Uuid, status: SessionStatus) -> impl IntoView {
    let cancel = ServerAction::<CancelSession>::new();
    let retry = ServerAction::<RetrySession>::new();
    let cancel_error = last_error(cancel.value());
    let retry_error = last_error(retry.value());
    match status {
        SessionStatus::Pending | SessionStatus::Executing => view! {
            <ActionForm action=cancel attr:class="mt-3" attr:data-testid="cancel-form">
                <input type="hidden" name="id" value=id.to_string() />
                <button type="submit" class="btn-secondary" data-testid="cancel-session" disabled=move || cancel.pending().get()>
                    {move || if cancel.pending().get() { "Cancelling…" } else { "Cancel the run" }}
                </button>
                <ErrorNote error=cancel_error />
            </ActionForm>
        }
        .into_any(),
        SessionStatus::Failed | SessionStatus::Cancelled => view! {
            <ActionForm action=retry attr:class="mt-3" attr:data-testid="retry-form">
                <input type="hidden" name="id" value=id.to_string() />
                <button type="submit" class="btn-primary" data-testid="retry-session" disabled=move || retry.pending().get()>
                    {move || if retry.pending().get() { "Starting…" } else { "Run again" }}
                </button>
                <span class="ml-2 text-xs text-slate-400">"Your rejection reason, comments and edits go to the band."</span>
                <ErrorNote error=retry_error />
            </ActionForm>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

/// Agents still playing, their output filling in as it streams (only
/// while the live socket is up and the agent streams).
#[component]
fn Streaming(session: Uuid, done: Vec<AgentRole>) -> impl IntoView {
    let Some(live) = Live::get() else {
        return ().into_any();
    };
    let roles = [
        AgentRole::Coder,
        AgentRole::Reviewer,
        AgentRole::Designer,
        AgentRole::Conductor,
    ];
    roles
        .into_iter()
        .filter(|r| !done.contains(r))
        .map(|role| {
            let text = move || {
                live.streams
                    .with(|s| s.get(&(session, role)).cloned())
                    .unwrap_or_default()
            };
            view! {
                <Show when=move || !text().is_empty()>
                    <article class="card p-4" data-testid="streaming" data-role=role.as_str()>
                        <h2 class="font-semibold capitalize">{role.as_str()}<span class="ml-2 text-xs font-normal text-slate-400">"playing…"</span></h2>
                        <pre class="mt-3 max-h-96 overflow-auto whitespace-pre-wrap rounded-md bg-ink-950 p-3 text-xs text-slate-200" data-testid="stream">{text}</pre>
                    </article>
                </Show>
            }
        })
        .collect_view()
        .into_any()
}

#[component]
fn ReviewNote(r: ReviewRequest) -> impl IntoView {
    let headline = match r.kind {
        ReviewKind::FinalApproval => {
            "The conductor synthesised the band's work. Nothing is applied until you approve it."
                .to_owned()
        }
        ReviewKind::Gate => {
            let why: Vec<&str> = r.reasons.iter().map(|x| reason_text(*x)).collect();
            format!("Stopped at the human gate: {}.", why.join(", "))
        }
    };
    let expires = r.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let href = format!("/reviews/{}", r.id);
    let link = if r.status.is_open() {
        view! { <a href=href class="btn-primary mt-3 inline-block" data-testid="open-review">"Open the review"</a> }.into_any()
    } else {
        view! { <a href=href class="link mt-2 inline-block" data-testid="see-decision">"See the decision"</a> }.into_any()
    };
    view! {
        <section class="mt-4 rounded-lg border border-brass-400/40 bg-brass-400/10 p-4 text-sm" data-testid="review-request" data-kind=r.kind.as_str() data-status=r.status.as_str()>
            <p class="font-medium text-brass-200">{headline}</p>
            <p class="mt-1 text-slate-300">
                {format!("Average confidence {:.0} % · {} · expires {expires}", r.average_confidence * 100.0, r.status.as_str().replace('_', " "))}
            </p>
            {link}
        </section>
    }
    .into_any()
}

/// One agent's work: output (inert text), confidence, reasoning, safety
/// flags, provenance, tokens and time. Also shown on the review page.
#[component]
pub(crate) fn AgentCard(i: AgentInvocation) -> impl IntoView {
    let r = i.response;
    let percent = (i.confidence * 100.0).round().clamp(0.0, 100.0);
    let local = i.agent == ProviderKind::Local;
    let provenance = r.provenance.as_ref().map(|p| {
        format!(
            "{} · temperature {} · max {} tokens · {}",
            p.model_version,
            p.temperature,
            p.max_tokens,
            p.timestamp.format("%H:%M:%S UTC")
        )
    });
    let safety = r.safety.clone();
    let files = r.coder_output.as_ref().map(|c| {
        c.files
            .iter()
            .map(|f| {
                if f.truncated {
                    format!("{} (cut off)", f.path)
                } else {
                    f.path.clone()
                }
            })
            .chain(c.patches.iter().map(|p| format!("patch: {}", p.path)))
            .collect::<Vec<_>>()
    });
    let review = r.review.clone();
    let attempts = r.attempts.clone();
    let failed_over = attempts.len() > 1;
    view! {
        <article class="card p-4" data-testid="invocation" data-role=i.role.as_str()>
            <header class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="font-semibold capitalize">{i.role.as_str()}</h2>
                <span class="text-sm text-slate-400">
                    {i.agent.label()}
                    {local.then(|| view! { <span class="ml-2 rounded bg-white/10 px-1.5 py-0.5 text-xs" data-testid="local-label">"local model output"</span> })}
                </span>
            </header>
            {provenance.map(|p| view! { <p class="mt-1 text-xs text-slate-500" data-testid="provenance">{p}</p> })}
            {r.error.clone().map(|e| view! { <p class="mt-2 text-sm text-rose-300" role="alert" data-testid="agent-error">{e}</p> })}
            <div class="mt-3 flex items-center gap-2 text-sm">
                <span>"Confidence "<strong data-testid="confidence">{format!("{percent:.0} %")}</strong></span>
                <meter class="meter flex-1" min="0" max="100" value=percent.to_string() aria-label="Confidence"></meter>
            </div>
            <p class="mt-1 text-xs text-slate-400">
                {format!("{} tokens · {} ms", thousands(i.tokens_used), thousands(i.execution_time_ms))}
                {failed_over.then(|| format!(" · {} attempts", attempts.len()))}
            </p>
            {review.map(|rv| view! {
                <p class="mt-2 text-sm" data-testid="verdict">"Verdict: "<strong>{rv.verdict.as_str().replace('_', " ")}</strong>
                    {(!rv.issues.is_empty()).then(|| format!(" — {}", rv.issues.join("; ")))}
                </p>
            })}
            {files.filter(|f| !f.is_empty()).map(|f| view! {
                <p class="mt-2 text-sm" data-testid="proposed-files">"Proposes: "{f.join(", ")}</p>
            })}
            {safety.map(|s| {
                let risk = match s.hallucination_risk { Risk::Low => "low", Risk::Medium => "medium", Risk::High => "high" };
                view! {
                    <div class="mt-2 text-sm" data-testid="safety">
                        <p class="text-slate-300">"Hallucination risk: "{risk}</p>
                        <ul class="mt-1 space-y-1">
                            {s.flags.into_iter().map(|f| view! {
                                <li class="rounded bg-rose-500/10 px-2 py-1 text-rose-200" data-testid="safety-flag">
                                    <strong>{f.kind.as_str()}</strong>
                                    {f.line.map(|l| format!(" (line {l})"))}": "<code>{f.excerpt}</code>
                                </li>
                            }).collect_view()}
                        </ul>
                    </div>
                }
            })}
            <details class="mt-2 text-sm">
                <summary class="cursor-pointer text-slate-400 hover:text-slate-200">"Reasoning"</summary>
                <ol class="mt-1 list-decimal space-y-0.5 pl-5 text-slate-300" data-testid="reasoning">
                    {r.reasoning.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}
                </ol>
                {(!attempts.is_empty()).then(|| view! {
                    <ul class="mt-2 space-y-0.5 text-xs text-slate-400">
                        {attempts.into_iter().map(|a| view! {
                            <li>{format!("{} {} · {} tokens · {}", a.provider, a.model, a.usage.total(), a.error.unwrap_or_else(|| "answered".to_owned()))}</li>
                        }).collect_view()}
                    </ul>
                })}
            </details>
            <pre class="mt-3 max-h-96 overflow-auto whitespace-pre-wrap rounded-md bg-ink-950 p-3 text-xs text-slate-200" data-testid="output">{r.content}</pre>
        </article>
    }
    .into_any()
}
