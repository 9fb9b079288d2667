//! The review gate: the one queue of open reviews across projects
//! (`/reviews`), a review with the outputs under decision and the three
//! decisions — approve, modify, reject — (`/reviews/:id`), and the history
//! of the user's decisions with approval rates (`/interventions`).
//!
//! Every decision is a plain form post first (it works before hydration),
//! bound to the hash of the outputs shown. Keys on the review page: `A`
//! approves, `M` goes to the edit box, `R` to the reject reason, and
//! `Ctrl`/`⌘`+`Enter` submits the form the focus is in; on the queue `J`/`K`
//! move between reviews. Keys never fire while typing (but
//! `Ctrl`/`⌘`+`Enter`, which is how a form typed into is sent).
//!
//! Agent output is untrusted: it is rendered as text only, never as HTML.

use chrono::{DateTime, Utc};
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::{ApprovalRate, Decision, HumanDecision, InterventionType};
use domain::sessions::{
    AgentInvocation, DiffLine, LineChange, ReviewKind, ReviewRequest, ReviewStatus, line_diff,
};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use crate::components::live::{LiveEvent, changes};
use crate::components::{RequireUser, TextArea, keys, last_error, route_id};
use crate::error::AppError;
use crate::pages::band::{AgentCard, reason_text};
use crate::pages::not_found::NotFound;
use crate::server_fns::{
    DecideReview, InterventionRow, Interventions, OpenedReview, OutputDiff, ReviewItem,
    StartReview, list_interventions, list_reviews, open_review_page,
};

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn percent(x: f64) -> String {
    format!("{:.0} %", (x * 100.0).clamp(0.0, 100.0))
}

fn status_label(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::PendingReview => "pending",
        ReviewStatus::UnderReview => "under review",
        ReviewStatus::Approved => "approved",
        ReviewStatus::Rejected => "rejected",
        ReviewStatus::Modified => "modified",
        ReviewStatus::Expired => "expired",
    }
}

fn status_class(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::PendingReview => "border-brass-400/50 text-brass-200",
        ReviewStatus::UnderReview => "border-sky-400/50 text-sky-200",
        ReviewStatus::Approved | ReviewStatus::Modified => "border-emerald-400/50 text-emerald-200",
        ReviewStatus::Rejected => "border-rose-400/50 text-rose-200",
        ReviewStatus::Expired => "border-slate-400/50 text-slate-300",
    }
}

/// What the human is asked, in words.
fn kind_text(r: &ReviewRequest) -> String {
    match r.kind {
        ReviewKind::FinalApproval => {
            "Final approval: the conductor synthesised the band's work".to_owned()
        }
        ReviewKind::Gate if r.reasons.is_empty() => "Gate: the band stopped for you".to_owned(),
        ReviewKind::Gate => {
            let why: Vec<&str> = r.reasons.iter().map(|x| reason_text(*x)).collect();
            format!("Gate: the band stopped for {}", why.join(", "))
        }
    }
}

fn kind_label(kind: ReviewKind) -> &'static str {
    match kind {
        ReviewKind::Gate => "gate",
        ReviewKind::FinalApproval => "final approval",
    }
}

/// A key hint next to a control (the control's `aria-keyshortcuts` says it
/// to screen readers).
#[component]
fn Key(k: &'static str) -> impl IntoView {
    view! {
        <kbd class="ml-2 rounded border border-current/30 px-1.5 py-0.5 font-mono text-[0.7rem] opacity-80" aria-hidden="true">
            {k}
        </kbd>
    }
}

// ------------------------------------------------------------------ queue

#[component]
pub fn ReviewsPage() -> impl IntoView {
    view! {
        <RequireUser>
            <ReviewQueue />
        </RequireUser>
    }
}

#[component]
fn ReviewQueue() -> impl IntoView {
    // The queue updates in place as reviews are requested and decided.
    let reviews_changed = changes(LiveEvent::touches_reviews);
    let reviews = Resource::new(move || reviews_changed.get(), |_| list_reviews());
    install_queue_keys();
    view! {
        <section class="mx-auto max-w-5xl px-4 py-8">
            <div class="flex flex-wrap items-baseline justify-between gap-3">
                <h1 class="text-2xl font-semibold">"Reviews"</h1>
                <a href="/interventions" class="link text-sm">"Your past decisions →"</a>
            </div>
            <p class="mt-1 text-sm text-slate-400">
                "What the band waits on you for, across all your projects, oldest first. "
                <kbd class="font-mono">"J"</kbd>" / "<kbd class="font-mono">"K"</kbd>" move, "
                <kbd class="font-mono">"Enter"</kbd>" opens."
            </p>
            <Suspense fallback=|| view! { <p class="mt-6 text-slate-400">"Loading reviews…"</p> }>
                {move || Suspend::new(async move {
                    match reviews.await {
                        Ok(items) if items.is_empty() => view! {
                            <p class="card mt-6 p-6 text-slate-400" data-testid="no-reviews">
                                "Nothing waits for you. The band plays on."
                            </p>
                        }.into_any(),
                        Ok(items) => view! {
                            <ul class="mt-6 space-y-3">
                                {items.into_iter().map(|i| view! { <QueueItem i /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-6 text-rose-300" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn QueueItem(i: ReviewItem) -> impl IntoView {
    let r = i.review;
    let title = i.task_title.unwrap_or_else(|| "A task".to_owned());
    let project_href = format!("/projects/{}", i.project_id);
    let project = i.project_name.map(|name| {
        view! { <a href=project_href class="hover:text-slate-200">{name}</a>" · " }
    });
    let meta = format!(
        "average confidence {} · asked {} · expires {}",
        percent(r.average_confidence),
        when(r.created_at),
        when(r.expires_at)
    );
    view! {
        <li class="card p-4" data-testid="review-item" data-kind=r.kind.as_str() data-status=r.status.as_str()>
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <a href=format!("/reviews/{}", r.id) class="link text-lg font-medium" data-testid="review-link">
                    {title}
                </a>
                <span class=format!("rounded-full border px-2 py-0.5 text-xs {}", status_class(r.status)) data-testid="review-status">
                    {status_label(r.status)}
                </span>
            </div>
            <p class="mt-1 text-sm text-slate-300" data-testid="review-kind">{kind_text(&r)}</p>
            <p class="mt-1 text-xs text-slate-400">{project}{meta}</p>
        </li>
    }
}

fn install_queue_keys() {
    let handle = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || keys::typing(&ev) {
            return;
        }
        let items = "[data-testid='review-item'] a[data-testid='review-link']";
        let handled = match ev.key().as_str() {
            "j" | "J" => keys::focus_step(items, 1),
            "k" | "K" => keys::focus_step(items, -1),
            _ => false,
        };
        if handled {
            ev.prevent_default();
        }
    });
    on_cleanup(move || handle.remove());
}

// ----------------------------------------------------------------- review

#[component]
pub fn ReviewPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Review />
        </RequireUser>
    }
}

#[component]
fn Review() -> impl IntoView {
    let id = route_id();
    let detail = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => open_review_page(id).await,
                None => Err(AppError::NotFound("review".into())),
            }
        },
    );
    let decide = ServerAction::<DecideReview>::new();
    // Live in a browser, the page takes a pending review under review (a
    // POST; effects never run on the server, so loading the page does not).
    let start = ServerAction::<StartReview>::new();
    let started_for = StoredValue::new(None::<Uuid>);
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get()
            && d.review.status == ReviewStatus::PendingReview
            && started_for.get_value() != Some(d.review.id)
        {
            started_for.set_value(Some(d.review.id));
            start.dispatch(StartReview { id: d.review.id });
        }
    });
    let started = Signal::derive(move || start.value().get().and_then(Result::ok));
    install_review_keys();
    view! {
        <Suspense fallback=|| view! { <p class="p-8 text-slate-400">"Loading the review…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! {
                        <section class="mx-auto max-w-7xl px-4 py-8">
                            <ReviewView d decide started />
                        </section>
                    }.into_any(),
                    Err(AppError::NotFound(_)) => view! { <NotFound /> }.into_any(),
                    Err(e) => view! { <p class="p-8 text-rose-300" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The review page's keys: `A` approve, `R` the reject reason, `M` the edit
/// box; `Ctrl`/`⌘`+`Enter` submits the decision form the focus is in.
fn install_review_keys() {
    let handle = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| {
        if ev.repeat() {
            return;
        }
        let handled = if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            keys::submit_focused_form("form[data-decision]")
        } else if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || keys::typing(&ev) {
            false
        } else {
            match ev.key().as_str() {
                "a" | "A" => keys::click_selector("[data-testid='approve']"),
                "r" | "R" => keys::focus_selector("#reject-reason"),
                "m" | "M" => keys::focus_selector("#modify-text"),
                _ => false,
            }
        };
        if handled {
            ev.prevent_default();
        }
    });
    on_cleanup(move || handle.remove());
}

#[component]
fn ReviewView(
    d: OpenedReview,
    decide: ServerAction<DecideReview>,
    /// The status once the page took the review under review.
    started: Signal<Option<ReviewStatus>>,
) -> impl IntoView {
    let r = d.review;
    let title = d.task_title.unwrap_or_else(|| "a task".to_owned());
    let open = r.status.is_open() && !d.overdue;
    let shown = if d.overdue {
        ReviewStatus::Expired
    } else {
        r.status
    };
    // Taking it under review is the only change this page makes to it.
    let now = move || match started.get() {
        Some(status) if open => status,
        _ => shown,
    };
    let several = d.outputs.len() > 1;
    let compare_outputs = d.outputs.clone();
    let panel = if open {
        view! { <DecisionForms review_id=r.id hash=d.output_hash outputs=d.outputs.clone() decide /> }
            .into_any()
    } else {
        view! { <DecisionNote review=r.clone() decision=d.decision overdue=d.overdue diffs=d.diffs /> }
            .into_any()
    };
    let meta = format!(
        "Average confidence {} · asked {} · {} {}",
        percent(r.average_confidence),
        when(r.created_at),
        if shown == ReviewStatus::Expired {
            "expired"
        } else {
            "expires"
        },
        when(r.expires_at)
    );
    view! {
        <a href=format!("/sessions/{}", d.session.id) class="link text-sm">"← The session"</a>
        " "
        <a href="/reviews" class="link ml-3 text-sm">"All reviews"</a>
        <div class="mt-2 flex flex-wrap items-baseline justify-between gap-3">
            <h1 class="text-2xl font-semibold">
                {match r.kind { ReviewKind::Gate => "Review", ReviewKind::FinalApproval => "Final approval" }}
                " of “"{title}"”"
            </h1>
            <span
                class=move || format!("rounded-full border px-3 py-1 text-sm {}", status_class(now()))
                data-testid="review-status"
                data-status=move || now().as_str()
            >
                {move || status_label(now())}
            </span>
        </div>
        <p class="mt-1 text-sm text-slate-300" data-testid="review-kind" data-kind=r.kind.as_str()>{kind_text(&r)}"."</p>
        <p class="mt-1 text-xs text-slate-400">{meta}" · "{d.session.intent.action.label()}</p>
        <div class="mt-6 grid gap-6 lg:grid-cols-5">
            <div class="space-y-4 lg:col-span-3">
                <h2 class="text-lg font-semibold">
                    {if several { "The outputs under decision" } else { "The output under decision" }}
                </h2>
                {d.outputs.into_iter().map(|i| view! { <AgentCard i /> }).collect_view()}
            </div>
            <aside class="space-y-4 lg:sticky lg:top-4 lg:col-span-2 lg:self-start">
                {panel}
                <Compare outputs=compare_outputs others=d.others />
            </aside>
        </div>
    }
}

/// The hidden fields every decision form posts: which review, on what.
#[component]
fn Bound(review_id: Uuid, hash: String, decision: &'static str) -> impl IntoView {
    view! {
        <input type="hidden" name="review_id" value=review_id.to_string() />
        <input type="hidden" name="output_hash" value=hash />
        <input type="hidden" name="decision" value=decision />
    }
}

/// The output to propose for editing: one the safety check flagged, else
/// the least confident, else the first.
fn main_output(outputs: &[AgentInvocation]) -> usize {
    domain::reviews::main_output(outputs).unwrap_or(0)
}

const SUBMIT_KEYS: &str = "Control+Enter Meta+Enter";

#[component]
fn DecisionForms(
    review_id: Uuid,
    hash: String,
    outputs: Vec<AgentInvocation>,
    decide: ServerAction<DecideReview>,
) -> impl IntoView {
    let error = last_error(decide.value());
    let pending = decide.pending();
    let main = main_output(&outputs);
    let texts: Vec<(AgentRole, ProviderKind, String)> = outputs
        .into_iter()
        .map(|o| (o.role, o.agent, o.response.content))
        .collect();
    let initial = texts.get(main).map(|t| t.2.clone()).unwrap_or_default();
    let text = RwSignal::new(initial);
    let options = texts
        .iter()
        .enumerate()
        .map(|(n, (role, agent, _))| {
            view! {
                <option value=role.as_str() selected={n == main}>
                    {format!("{} ({})", role.as_str(), agent.label())}
                </option>
            }
        })
        .collect_view();
    let can_modify = !texts.is_empty();
    let (modify_hash, approve_hash) = (hash.clone(), hash.clone());
    let texts = StoredValue::new(texts);
    let on_role = move |ev: leptos::ev::Event| {
        let role = event_target_value(&ev);
        let found = texts.with_value(|t| {
            t.iter()
                .find(|(r, ..)| r.as_str() == role)
                .map(|(.., c)| c.clone())
        });
        if let Some(content) = found {
            text.set(content);
        }
    };
    let modify = can_modify.then(|| {
        view! {
            <ActionForm action=decide attr:class="card space-y-2 p-4" attr:data-testid="modify-form" attr:data-decision="modify">
                <Bound review_id hash=modify_hash decision="modify" />
                <h3 class="font-semibold">"Modify"<Key k="M" /></h3>
                <p class="text-xs text-slate-400">"Approve your own version of an output instead."</p>
                <label for="modify-role" class="block text-sm text-slate-300">"Output"</label>
                <select id="modify-role" name="role" class="input" data-testid="modify-role" on:change=on_role>
                    {options}
                </select>
                <label for="modify-text" class="block text-sm text-slate-300">"Your version"</label>
                <TextArea
                    value=text
                    name="text"
                    rows=12
                    attr:id="modify-text"
                    attr:required=true
                    attr:class="input font-mono text-xs"
                    attr:data-testid="modify-text"
                    attr:aria-keyshortcuts="M"
                />
                <label for="modify-comment" class="block text-sm text-slate-300">"Comment (optional)"</label>
                <input id="modify-comment" name="comment" class="input" />
                <button type="submit" class="btn-secondary" data-testid="modify" aria-keyshortcuts=SUBMIT_KEYS disabled=move || pending.get()>
                    "Approve my version"<Key k="Ctrl/⌘+Enter" />
                </button>
            </ActionForm>
        }
    });
    view! {
        <h2 class="text-lg font-semibold">"Your decision"</h2>
        <p class="text-xs text-slate-400">
            "Keys: "<kbd class="font-mono">"A"</kbd>" approve · "<kbd class="font-mono">"M"</kbd>" modify · "
            <kbd class="font-mono">"R"</kbd>" reject · "<kbd class="font-mono">"Ctrl/⌘+Enter"</kbd>" send the form you are in."
        </p>
        {move || error.get().map(|e| view! {
            <p class="rounded-md border border-rose-400/30 bg-rose-500/10 px-3 py-2 text-sm text-rose-200" role="alert" data-testid="decision-error">
                {e.to_string()}
            </p>
        })}
        <ActionForm action=decide attr:class="card space-y-2 p-4" attr:data-testid="approve-form" attr:data-decision="approve">
            <Bound review_id hash=approve_hash decision="approve" />
            <label for="approve-comment" class="block text-sm text-slate-300">"One more instruction (optional)"</label>
            <input id="approve-comment" name="comment" class="input" placeholder="Approve, and…" />
            <button type="submit" class="btn-primary" data-testid="approve" aria-keyshortcuts="A" disabled=move || pending.get()>
                "Approve"<Key k="A" />
            </button>
        </ActionForm>
        {modify}
        <ActionForm action=decide attr:class="card space-y-2 p-4" attr:data-testid="reject-form" attr:data-decision="reject">
            <Bound review_id hash decision="reject" />
            <h3 class="font-semibold">"Reject"<Key k="R" /></h3>
            <label for="reject-reason" class="block text-sm text-slate-300">"Why? The reason is logged for the band to learn from."</label>
            <TextArea
                value=RwSignal::new(String::new())
                name="reason"
                rows=3
                attr:id="reject-reason"
                attr:required=true
                attr:class="input"
                attr:data-testid="reject-reason"
                attr:aria-keyshortcuts="R"
            />
            <button
                type="submit"
                class="rounded-md border border-rose-400/40 px-3 py-2 text-sm text-rose-200 transition hover:bg-rose-500/10 focus:outline-none focus-visible:ring-2 focus-visible:ring-rose-400/50"
                data-testid="reject"
                aria-keyshortcuts=SUBMIT_KEYS
                disabled=move || pending.get()
            >
                "Reject"<Key k="Ctrl/⌘+Enter" />
            </button>
        </ActionForm>
    }
}

/// A decided or expired review: what was decided, and for a modification
/// the AI's output against the human's edit.
#[component]
fn DecisionNote(
    review: ReviewRequest,
    decision: Option<HumanDecision>,
    overdue: bool,
    diffs: Vec<OutputDiff>,
) -> impl IntoView {
    let status = if overdue {
        ReviewStatus::Expired
    } else {
        review.status
    };
    let (headline, detail) = match decision.as_ref().map(|d| &d.decision) {
        Some(Decision::Approve { comment }) => (
            match review.kind {
                ReviewKind::Gate => "Approved: the conductor went on to synthesise.".to_owned(),
                ReviewKind::FinalApproval => {
                    "Approved: the session is complete and its task done.".to_owned()
                }
            },
            comment.clone().map(|c| format!("Your instruction: {c}")),
        ),
        Some(Decision::Modify { outputs, comment }) => {
            let roles: Vec<&str> = outputs.keys().map(|r| r.as_str()).collect();
            (
                format!(
                    "Approved with your changes to the {} output.",
                    roles.join(" and ")
                ),
                comment.clone().map(|c| format!("Your comment: {c}")),
            )
        }
        Some(Decision::Reject { reason }) => (
            "Rejected: the session stopped.".to_owned(),
            Some(format!("Reason: {reason}")),
        ),
        None => (
            format!(
                "Expired at {}: nobody decided in time, so the session stops.",
                when(review.expires_at)
            ),
            None,
        ),
    };
    let decided = decision.map(|d| format!("Decided {}", when(d.decided_at)));
    view! {
        <section class="card space-y-1 p-4" data-testid="decision" data-status=status.as_str()>
            <h2 class="text-lg font-semibold">{if status == ReviewStatus::Expired { "Expired" } else { "Your decision" }}</h2>
            <p class="text-slate-200">{headline}</p>
            {detail.map(|d| view! { <p class="whitespace-pre-wrap text-sm text-slate-300" data-testid="decision-detail">{d}</p> })}
            {decided.map(|d| view! { <p class="text-xs text-slate-400">{d}</p> })}
        </section>
        {diffs.into_iter().map(|d| view! { <DiffView d /> }).collect_view()}
    }
}

#[component]
fn DiffView(d: OutputDiff) -> impl IntoView {
    let by = d.agent.map(|a| format!(" ({})", a.label()));
    view! {
        <section class="card p-4" data-testid="diff" data-role=d.role.as_str()>
            <h3 class="text-sm font-semibold">
                "The "{d.role.as_str()}" output"{by}": the AI's version against yours"
            </h3>
            <p class="mt-1 text-xs">
                <span class="text-rose-300">"− the AI's lines"</span>" · "
                <span class="text-emerald-300">"+ your lines"</span>
            </p>
            <DiffLines lines=d.lines />
        </section>
    }
}

/// A line diff, old lines red and new ones green.
#[component]
fn DiffLines(lines: Vec<DiffLine>) -> impl IntoView {
    view! {
            <ol class="mt-2 max-h-[32rem] overflow-auto rounded-md bg-ink-950 py-2 font-mono text-xs">
                {lines.into_iter().map(|l| {
                    let (sign, class, change, said) = match l.change {
                        LineChange::Same => (" ", "text-slate-400", "same", ""),
                        LineChange::Removed => ("−", "bg-rose-500/15 text-rose-200", "removed", "removed: "),
                        LineChange::Added => ("+", "bg-emerald-500/15 text-emerald-200", "added", "added: "),
                    };
                    view! {
                        <li class=format!("whitespace-pre-wrap px-2 {class}") data-change=change>
                            <span class="select-none pr-2" aria-hidden="true">{sign}</span>
                            <span class="sr-only">{said}</span>
                            {l.text}
                        </li>
                    }
                }).collect_view()}
            </ol>
    }
}

/// Any two versions of the session side by side as a line diff — where
/// agents produced versions of the same thing (the synthesis against the
/// coder's proposal, the human's edit against the designer's) — computed in
/// the browser.
#[component]
fn Compare(outputs: Vec<AgentInvocation>, others: Vec<AgentInvocation>) -> impl IntoView {
    let all: Vec<AgentInvocation> = outputs.into_iter().chain(others).collect();
    if all.len() < 2 {
        return ().into_any();
    }
    let label = |i: &AgentInvocation| format!("{} ({})", i.role.as_str(), i.agent.label());
    let labels: Vec<String> = all.iter().map(label).collect();
    // By default: the first output under decision against the coder's
    // proposal (or the next version).
    let right_default = all
        .iter()
        .skip(1)
        .position(|i| i.role == AgentRole::Coder)
        .map_or(1, |p| p + 1);
    let left = RwSignal::new(right_default);
    let right = RwSignal::new(0usize);
    let texts = StoredValue::new(
        all.iter()
            .map(|i| i.response.content.clone())
            .collect::<Vec<_>>(),
    );
    let lines = move || {
        texts.with_value(|t| {
            let pick = |n: usize| t.get(n).map_or("", String::as_str);
            line_diff(pick(left.get()), pick(right.get()))
        })
    };
    let select = move |id: &'static str, which: RwSignal<usize>| {
        let options = labels
            .iter()
            .enumerate()
            .map(|(n, l)| view! { <option value=n.to_string() selected=move || which.get() == n>{l.clone()}</option> })
            .collect_view();
        view! {
            <select id=id class="input mt-1" on:change=move |ev| {
                if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                    which.set(n);
                }
            }>
                {options}
            </select>
        }
    };
    view! {
        <details class="card p-4" data-testid="compare">
            <summary class="cursor-pointer text-sm font-semibold">"Compare two versions"</summary>
            <div class="mt-2 grid grid-cols-2 gap-2 text-sm">
                <label for="compare-old" class="text-rose-300">"− older"{select("compare-old", left)}</label>
                <label for="compare-new" class="text-emerald-300">"+ newer"{select("compare-new", right)}</label>
            </div>
            {move || view! { <DiffLines lines=lines() /> }}
        </details>
    }
    .into_any()
}

// ---------------------------------------------------------- interventions

#[component]
pub fn InterventionsPage() -> impl IntoView {
    view! {
        <RequireUser>
            <InterventionLog />
        </RequireUser>
    }
}

#[component]
fn InterventionLog() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        (
            q.get("agent").unwrap_or_default(),
            q.get("type").unwrap_or_default(),
        )
    });
    let data = Resource::new(
        move || filter.get(),
        |(agent, kind)| async move {
            let some = |s: String| (!s.is_empty()).then_some(s);
            list_interventions(some(agent), some(kind)).await
        },
    );
    let (agent, kind) = filter.get_untracked();
    view! {
        <section class="mx-auto max-w-6xl px-4 py-8">
            <div class="flex flex-wrap items-baseline justify-between gap-3">
                <h1 class="text-2xl font-semibold">"Interventions"</h1>
                <a href="/reviews" class="link text-sm">"Open reviews →"</a>
            </div>
            <p class="mt-1 text-sm text-slate-400">
                "Every decision you took on the band's work, newest first: the raw material for learning where the band needs you."
            </p>
            <form method="get" action="/interventions" class="mt-4 flex flex-wrap items-end gap-3" data-testid="intervention-filter">
                <div>
                    <label for="filter-agent" class="block text-sm text-slate-300">"Agent"</label>
                    <select id="filter-agent" name="agent" class="input mt-1">
                        <option value="" selected=agent.is_empty()>"All agents"</option>
                        {ProviderKind::ALL.into_iter().map(|a| view! {
                            <option value=a.as_str() selected={agent == a.as_str()}>{a.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="filter-type" class="block text-sm text-slate-300">"Decision"</label>
                    <select id="filter-type" name="type" class="input mt-1">
                        <option value="" selected=kind.is_empty()>"All decisions"</option>
                        {InterventionType::ALL.into_iter().map(|t| view! {
                            <option value=t.as_str() selected={kind == t.as_str()}>{t.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn-secondary">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p class="mt-6 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) => view! { <InterventionTables d /> }.into_any(),
                        Err(e) => view! { <p class="mt-6 text-rose-300" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn InterventionTables(d: Interventions) -> impl IntoView {
    let rows = if d.rows.is_empty() {
        view! { <p class="card mt-6 p-6 text-slate-400" data-testid="no-interventions">"No decisions match."</p> }
            .into_any()
    } else {
        view! {
            <div class="card mt-6 overflow-x-auto">
                <table class="w-full text-left text-sm">
                    <thead class="text-xs uppercase tracking-wider text-slate-400">
                        <tr>
                            <th scope="col" class="px-3 py-2">"When"</th>
                            <th scope="col" class="px-3 py-2">"Task"</th>
                            <th scope="col" class="px-3 py-2">"Agent"</th>
                            <th scope="col" class="px-3 py-2">"Role"</th>
                            <th scope="col" class="px-3 py-2">"Decision"</th>
                            <th scope="col" class="px-3 py-2">"Confidence"</th>
                            <th scope="col" class="px-3 py-2">"Reason or comment"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-white/5">
                        {d.rows.into_iter().map(|row| view! { <InterventionLine row /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        {rows}
        <section class="mt-8" data-testid="intervention-stats">
            <h2 class="text-lg font-semibold">"Approved as shown"</h2>
            <p class="text-sm text-slate-400">"Over all your decisions, whatever the filter."</p>
            <div class="mt-3 grid gap-4 md:grid-cols-2">
                <RateTable caption="Per agent" first="Agent" rates=d.stats.per_agent />
                <RateTable caption="Per confidence band" first="Confidence" rates=d.stats.per_band />
            </div>
        </section>
    }
}

#[component]
fn InterventionLine(row: InterventionRow) -> impl IntoView {
    let kind_class = match row.kind {
        InterventionType::Approval => "text-emerald-300",
        InterventionType::Modification => "text-sky-300",
        InterventionType::Rejection => "text-rose-300",
    };
    let task = row.task_title.unwrap_or_else(|| "a task".to_owned());
    view! {
        <tr data-testid="intervention-row" data-type=row.kind.as_str() data-agent=row.agent.as_str()>
            <td class="whitespace-nowrap px-3 py-2 text-slate-400">{when(row.at)}</td>
            <td class="px-3 py-2">
                <a href=format!("/sessions/{}", row.session_id) class="link">{task}</a>
                <span class="block text-xs text-slate-500">{kind_label(row.review_kind)}</span>
            </td>
            <td class="px-3 py-2">{row.agent.label()}</td>
            <td class="px-3 py-2 capitalize">{row.role.as_str()}</td>
            <td class=format!("px-3 py-2 {kind_class}")>{row.kind.as_str()}</td>
            <td class="px-3 py-2">{percent(row.confidence)}</td>
            <td class="whitespace-pre-wrap px-3 py-2 text-slate-300" data-testid="intervention-reason">{row.reason}</td>
        </tr>
    }
}

#[component]
fn RateTable(
    caption: &'static str,
    first: &'static str,
    rates: Vec<ApprovalRate>,
) -> impl IntoView {
    let body = if rates.is_empty() {
        view! { <tr><td colspan="6" class="px-3 py-2 text-slate-400">"No decisions yet."</td></tr> }
            .into_any()
    } else {
        rates
            .into_iter()
            .map(|r| {
                let label = ProviderKind::parse(&r.label)
                    .map_or_else(|| r.label.clone(), |k| k.label().to_owned());
                view! {
                    <tr data-label=r.label.clone()>
                        <th scope="row" class="px-3 py-2 font-normal">{label}</th>
                        <td class="px-3 py-2">{r.total}</td>
                        <td class="px-3 py-2">{r.approved}</td>
                        <td class="px-3 py-2">{r.modified}</td>
                        <td class="px-3 py-2">{r.rejected}</td>
                        <td class="px-3 py-2 font-semibold">{percent(r.rate())}</td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="card overflow-x-auto">
            <table class="w-full text-left text-sm">
                <caption class="px-3 pt-3 text-left font-medium">{caption}</caption>
                <thead class="text-xs uppercase tracking-wider text-slate-400">
                    <tr>
                        <th scope="col" class="px-3 py-2">{first}</th>
                        <th scope="col" class="px-3 py-2">"Total"</th>
                        <th scope="col" class="px-3 py-2">"Approved"</th>
                        <th scope="col" class="px-3 py-2">"Modified"</th>
                        <th scope="col" class="px-3 py-2">"Rejected"</th>
                        <th scope="col" class="px-3 py-2" title="Approved as shown, out of all decisions">"Rate"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-white/5">{body}</tbody>
            </table>
        </div>
    }
}
