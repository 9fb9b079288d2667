//! A project's Task Board: four columns, create, edit, move (drag and drop,
//! buttons, or Shift+←/→ on a focused card), delete, search. Every change
//! is a plain form post first, so the board works before hydration; once
//! hydrated, changes apply without a reload, and changes made elsewhere
//! (another tab, the API, an approved session) arrive live.

use domain::projects::Project;
use domain::sessions::SessionStatus;
use domain::tasks::TaskStatus;
use leptos::ev::{DragEvent, KeyboardEvent};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

use crate::components::live::changes;
use crate::components::{ErrorNote, RequireUser, TextArea, TextField, last_error, route_id};
use crate::error::AppError;
use crate::pages::not_found::NotFound;
use crate::server_fns::{
    BoardTask, CreateTask, DeleteTask, UpdateTask, get_project, list_tasks, task_sessions,
};

#[component]
pub fn BoardPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Board />
        </RequireUser>
    }
}

/// The board's actions, shared with every column and card.
#[derive(Clone, Copy)]
struct BoardActions {
    /// Moves (drag and drop, keys, the opened card's arrows).
    update: ServerAction<UpdateTask>,
    /// The opened card's Save: its own action, so that only a saved edit
    /// closes the card (a move from inside it leaves it open).
    edit: ServerAction<UpdateTask>,
    delete: ServerAction<DeleteTask>,
    /// The card to focus again once the board re-renders after a keyboard move.
    refocus: RwSignal<Option<Uuid>>,
    /// The opened card (`?task=<id>`).
    opened: Memo<Option<Uuid>>,
    /// The search the board shows (kept in its links).
    search: Memo<String>,
}

impl BoardActions {
    /// The board's query string: its search, and the opened card.
    fn href(self, open: Option<Uuid>) -> String {
        let q = self.search.get_untracked();
        let mut parts = Vec::new();
        if !q.trim().is_empty() {
            parts.push(format!("q={}", encode_query(&q)));
        }
        if let Some(id) = open {
            parts.push(format!("task={id}"));
        }
        format!("?{}", parts.join("&"))
    }

    fn move_task(self, id: Uuid, to: TaskStatus) {
        self.update.dispatch(UpdateTask {
            id,
            title: None,
            description: None,
            status: Some(to),
        });
    }
}

#[component]
fn Board() -> impl IntoView {
    let query = use_query_map();
    let project_id = route_id();
    let search = Memo::new(move |_| query.read().get("q").unwrap_or_default());

    let opened = Memo::new(move |_| {
        query
            .read()
            .get("task")
            .and_then(|id| Uuid::parse_str(&id).ok())
    });

    let create = ServerAction::<CreateTask>::new();
    let actions = BoardActions {
        update: ServerAction::<UpdateTask>::new(),
        edit: ServerAction::<UpdateTask>::new(),
        delete: ServerAction::<DeleteTask>::new(),
        refocus: RwSignal::new(None),
        opened,
        search,
    };
    // A saved edit closes the opened card (once hydrated; before, the form
    // post comes back to the same address).
    let navigate = use_navigate();
    Effect::new(move |seen: Option<usize>| {
        let version = actions.edit.version().get();
        let saved = actions
            .edit
            .value()
            .with_untracked(|v| matches!(v, Some(Ok(_))));
        if seen.is_some_and(|s| s != version) && saved && opened.get_untracked().is_some() {
            navigate(
                &actions.href(None),
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
        version
    });
    let project = Resource::new(
        move || project_id.get(),
        |id| async move {
            match id {
                Some(id) => get_project(id).await,
                None => Err(AppError::NotFound("project".into())),
            }
        },
    );
    // Another tab, another client or the band changed this board.
    let board_changed = changes(move |e| {
        e.project_id.is_some()
            && e.project_id == project_id.get_untracked()
            && e.event_type.starts_with("Task")
    });
    let tasks = Resource::new(
        move || {
            (
                project_id.get(),
                board_changed.get(),
                search.get(),
                create.version().get(),
                actions.update.version().get(),
                actions.edit.version().get(),
                actions.delete.version().get(),
            )
        },
        |(id, _, q, ..)| async move {
            match id {
                Some(id) => list_tasks(id, (!q.trim().is_empty()).then_some(q)).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let help_open = RwSignal::new(false);
    install_shortcuts(help_open);

    let create_error = last_error(create.value());
    let update_error = last_error(actions.update.value());
    let edit_error = last_error(actions.edit.value());
    let delete_error = last_error(actions.delete.value());

    view! {
        <Suspense fallback=|| view! { <p class="p-8 text-slate-400">"Loading board…"</p> }>
            {move || Suspend::new(async move {
                match project.await {
                    Ok(p) => view! {
                        <BoardHeader project=p.clone() search help_open />
                        <ShortcutHelp open=help_open />
                        <section class="mx-auto max-w-7xl px-4 pb-12">
                            <NewTaskForm project_id=p.id create error=create_error />
                            <div class="mt-3 space-y-2">
                                <ErrorNote error=update_error />
                                <ErrorNote error=edit_error />
                                <ErrorNote error=delete_error />
                            </div>
                            <Transition fallback=|| view! { <p class="mt-6 text-slate-400">"Loading tasks…"</p> }>
                                {move || Suspend::new(async move {
                                    match tasks.await {
                                        Ok(list) => view! { <Columns tasks=list actions /> }.into_any(),
                                        Err(e) => view! { <p class="mt-6 text-rose-300">{e.to_string()}</p> }.into_any(),
                                    }
                                })}
                            </Transition>
                        </section>
                    }.into_any(),
                    Err(AppError::NotFound(_)) => view! { <NotFound /> }.into_any(),
                    Err(e) => view! { <p class="p-8 text-rose-300">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BoardHeader(project: Project, search: Memo<String>, help_open: RwSignal<bool>) -> impl IntoView {
    let navigate = use_navigate();
    let base = format!("/projects/{}", project.id);
    let on_input = {
        let base = base.clone();
        move |ev: leptos::ev::Event| {
            let q = event_target_value(&ev);
            let url = if q.is_empty() {
                base.clone()
            } else {
                format!("{base}?q={}", encode_query(&q))
            };
            navigate(
                &url,
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };
    view! {
        <div class="mx-auto flex max-w-7xl flex-wrap items-end justify-between gap-4 px-4 py-6">
            <div>
                <a href="/" class="text-sm text-slate-400 hover:text-slate-200">"← Projects"</a>
                <h1 class="text-2xl font-semibold" data-testid="board-title">{project.name.clone()}</h1>
                <span class=format!("badge badge-{}", project.status.as_str())>{project.status.as_str()}</span>
                <a href=format!("/projects/{}/repository", project.id) class="ml-3 text-sm text-brass-300 hover:underline" data-testid="repo-settings">"Repository"</a>
            </div>
            // A GET form: Enter searches even before hydration; once
            // hydrated, typing filters as you go.
            <div class="flex w-full items-center gap-2 sm:w-auto">
            <form method="get" action=base role="search" class="w-full sm:w-72">
                <label for="board-search" class="sr-only">"Search tasks"</label>
                <input
                    id="board-search"
                    type="search"
                    name="q"
                    placeholder="Search tasks…"
                    value=search.get_untracked()
                    on:input=on_input
                    class="input"
                    data-testid="search"
                    aria-keyshortcuts="/"
                />
            </form>
            <button
                type="button"
                class="btn-icon"
                aria-label="Keyboard shortcuts"
                aria-keyshortcuts="?"
                title="Keyboard shortcuts (?)"
                on:click=move |_| help_open.update(|o| *o = !*o)
                data-testid="shortcuts-button"
            >
                "?"
            </button>
            </div>
        </div>
    }
}

#[component]
fn NewTaskForm(
    project_id: Uuid,
    create: ServerAction<CreateTask>,
    error: crate::components::LastError,
) -> impl IntoView {
    view! {
        <ActionForm action=create>
            <input type="hidden" name="project_id" value=project_id.to_string() />
            <div class="card flex flex-col gap-3 p-4 md:flex-row md:items-end" data-testid="new-task">
                <div class="flex-1">
                    <TextField label="New task" name="title" placeholder="What needs doing?" error />
                </div>
                <div class="flex-1">
                    <label for="new-task-description" class="block text-sm text-slate-300">"Details (optional)"</label>
                    <input id="new-task-description" name="description" class="input mt-1" />
                </div>
                <button type="submit" class="btn-primary" disabled=move || create.pending().get()>"Add task"</button>
            </div>
        </ActionForm>
    }
}

#[component]
fn Columns(tasks: Vec<BoardTask>, actions: BoardActions) -> impl IntoView {
    // Columns are rebuilt whenever fresh tasks arrive: that is the moment to
    // put focus back on a card moved by keyboard. The target is used once,
    // so later reloads (a search keystroke) never steal focus. (Reading the
    // tasks resource from an Effect instead would suspend the enclosing
    // page on every reload.)
    if let Some(id) = actions.refocus.get_untracked() {
        actions.refocus.set(None);
        request_animation_frame(move || focus_card(id));
    }
    view! {
        <p id="card-keys" class="sr-only">"Shift+Left or Shift+Right moves the card to the previous or next column."</p>
        <div class="mt-6 grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-4" data-testid="board">
            {TaskStatus::ALL
                .into_iter()
                .map(|status| {
                    let column: Vec<BoardTask> = tasks.iter().filter(|t| t.status == status).cloned().collect();
                    view! { <Column status tasks=column actions /> }
                })
                .collect_view()}
        </div>
    }
}

#[component]
fn Column(status: TaskStatus, tasks: Vec<BoardTask>, actions: BoardActions) -> impl IntoView {
    let over = RwSignal::new(false);
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        over.set(false);
        let id = ev
            .data_transfer()
            .and_then(|dt| dt.get_data("text/plain").ok())
            .and_then(|s| Uuid::parse_str(&s).ok());
        if let Some(id) = id {
            actions.move_task(id, status);
        }
    };
    let count = tasks.len();
    view! {
        <section
            class="column"
            class:column-over=move || over.get()
            data-column=status.as_str()
            aria-label=status.label()
            on:dragover=move |ev: DragEvent| {
                ev.prevent_default();
                over.set(true);
            }
            on:dragleave=move |_| over.set(false)
            on:drop=on_drop
        >
            <h2 class="flex items-center justify-between text-sm font-semibold uppercase tracking-wider text-slate-300">
                {status.label()}
                <span class="rounded-full bg-white/10 px-2 text-xs" data-testid="count">{count}</span>
            </h2>
            <ul class="mt-3 min-h-16 space-y-3">
                {tasks.into_iter().map(|task| view! { <Card task actions /> }).collect_view()}
            </ul>
        </section>
    }
}

/// One card. A closed card is only what the board shows at a glance —
/// its title, its description and one link that opens it — because a board
/// of 200 cards is sent in one page. Everything done *to* a card (move by
/// button, run the band, edit, delete) sits in the opened card
/// (`?task=<id>`, a plain link, so it works before hydration too), as on
/// Trello's and Linear's boards. Moving needs no opening: drag and drop,
/// and Shift+←/→ on a focused card.
#[component]
fn Card(task: BoardTask, actions: BoardActions) -> impl IntoView {
    let id = task.id;
    let status = task.status;
    let id_text = id.to_string();
    let on_keydown = move |ev: KeyboardEvent| {
        // Shortcuts never fire while the user types in the opened card.
        if !ev.shift_key() || typing(&ev) {
            return;
        }
        let to = match ev.key().as_str() {
            "ArrowRight" => status.next(),
            "ArrowLeft" => status.previous(),
            _ => None,
        };
        if let Some(to) = to {
            ev.prevent_default();
            actions.refocus.set(Some(id));
            actions.move_task(id, to);
        }
    };
    let on_dragstart = {
        let id_text = id_text.clone();
        move |ev: DragEvent| {
            if let Some(dt) = ev.data_transfer() {
                let _ = dt.set_data("text/plain", &id_text);
                dt.set_effect_allowed("move");
            }
        }
    };
    let BoardTask {
        title,
        description,
        agent,
        confidence,
        needs_review,
        ..
    } = task;
    let band_marks = ai_marks(agent.as_deref(), confidence);
    let has_description = !description.is_empty();
    let description_text = description.clone();
    let open_href = actions.href(Some(id));
    let opened = move || actions.opened.get() == Some(id);
    let detail_title = title.clone();
    view! {
        <li
            class="task-card"
            draggable="true"
            tabindex="0"
            data-task-id=id_text
            data-status=status.as_str()
            aria-describedby="card-keys"
            on:dragstart=on_dragstart
            on:keydown=on_keydown
        >
            <h3 class="card-title">{title}</h3>
            {has_description.then(|| view! { <p class="card-text">{description_text}</p> })}
            {(band_marks.is_some() || needs_review).then(|| view! {
                <p class="card-ai" data-testid="card-ai">
                    {band_marks.map(|m| view! { <span>{m}</span> })}
                    {needs_review.then(|| view! {
                        <span class="card-needs-review" data-testid="card-needs-review">"Needs review"</span>
                    })}
                </p>
            })}
            <Show
                when=opened
                fallback=move || view! { <a href=open_href.clone() class="card-open">"Open"</a> }
            >
                <CardDetail id status title=detail_title.clone() description=description.clone() actions />
            </Show>
        </li>
    }
    .into_any()
}

/// The opened card: move by button, run the band, edit, delete, close.
#[component]
fn CardDetail(
    id: Uuid,
    status: TaskStatus,
    title: String,
    description: String,
    actions: BoardActions,
) -> impl IntoView {
    let id_text = id.to_string();
    let move_button = move |to: TaskStatus, arrow: &'static str| {
        let label = format!("Move to {}", to.label());
        view! {
            <button type="submit" name="status" value=to.as_str() class="btn-icon" aria-label=label>
                {arrow}
            </button>
        }
    };
    let delete_label = format!("Delete {title}");
    let close_href = actions.href(None);
    let band_href = format!("/tasks/{id}/band");
    let (move_id, edit_id) = (id_text.clone(), id_text.clone());
    view! {
        <div class="mt-2 space-y-2 text-sm" data-testid="task-detail">
            // Both moves share one form: the pressed button names the status.
            <ActionForm action=actions.update attr:class="card-actions">
                <input type="hidden" name="id" value=move_id />
                {status.previous().map(|to| move_button(to, "←"))}
                {status.next().map(|to| move_button(to, "→"))}
                <a href=band_href class="btn-ghost card-band" data-testid="run-band">"Run the band"</a>
            </ActionForm>
            <ActionForm action=actions.edit>
                <input type="hidden" name="id" value=edit_id />
                <div class="space-y-2" data-testid="edit-form">
                    <input name="title" value=title required class="input" aria-label="Title" />
                    <TextArea value=RwSignal::new(description) name="description" attr:class="input" attr:aria-label="Description" />
                    <button type="submit" class="btn-secondary">"Save"</button>
                    <a href=close_href class="btn-ghost" data-testid="close-task">"Close"</a>
                </div>
            </ActionForm>
            <ActionForm action=actions.delete>
                <input type="hidden" name="id" value=id_text />
                <button type="submit" class="btn-ghost text-rose-300" aria-label=delete_label>"Delete"</button>
            </ActionForm>
            <TaskSessions id />
        </div>
    }
}

/// What the band left on a card: which model ran it and how sure it was
/// ("claude · 62%"), when a run has set either.
fn ai_marks(agent: Option<&str>, confidence: Option<f64>) -> Option<String> {
    let percent = confidence.map(|c| format!("{:.0}%", (c * 100.0).clamp(0.0, 100.0)));
    match (agent, percent) {
        (Some(a), Some(p)) => Some(format!("{a} · {p}")),
        (Some(a), None) => Some(a.to_owned()),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

/// A session's state in a word or two, as a card lists it.
fn session_label(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Pending => "Waiting to start",
        SessionStatus::Executing => "Playing",
        SessionStatus::AwaitingReview => "Waiting for your review",
        SessionStatus::Completed => "Completed",
        SessionStatus::Failed => "Failed",
        SessionStatus::Cancelled => "Cancelled",
    }
}

/// The opened card's latest band sessions, each a link to its page.
#[component]
fn TaskSessions(id: Uuid) -> impl IntoView {
    let sessions = Resource::new(move || id, task_sessions);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let list = sessions.await.unwrap_or_default();
                (!list.is_empty()).then(|| view! {
                    <div data-testid="task-sessions">
                        <h3 class="text-xs uppercase tracking-wide text-slate-400">"Band sessions"</h3>
                        <ul class="mt-1 space-y-1">
                            {list.into_iter().map(|s| view! {
                                <li>
                                    <a href=format!("/sessions/{}", s.id) class="link" data-status=s.status.as_str()>
                                        {session_label(s.status)}
                                    </a>
                                    <span class="ml-2 text-xs text-slate-500">{s.started_at.format("%-d %b %H:%M").to_string()}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    </div>
                })
            })}
        </Suspense>
    }
}

/// Whether the key event comes from a text control.
fn typing(ev: &KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}

fn focus_card(id: Uuid) {
    use wasm_bindgen::JsCast;
    let selector = format!("[data-task-id='{id}']");
    if let Ok(Some(el)) = document().query_selector(&selector)
        && let Ok(el) = el.dyn_into::<web_sys::HtmlElement>()
    {
        let _ = el.focus();
    }
}

/// The board's keyboard grammar (never while typing in a field):
/// `/` search, `c` new task, `j`/`k` next/previous card, `?` this help,
/// `Escape` closes it. Moving a focused card is the card's own Shift+←/→.
const SHORTCUTS: [(&str, &str); 6] = [
    ("/", "Search tasks"),
    ("C", "New task"),
    ("J / K", "Next / previous card"),
    (
        "Shift + ← / →",
        "Move the focused card to the previous / next column",
    ),
    ("?", "Show or hide this help"),
    ("Esc", "Close this help"),
];

fn install_shortcuts(help_open: RwSignal<bool>) {
    let handle = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || typing(&ev) {
            return;
        }
        let handled = match ev.key().as_str() {
            "/" => focus_selector("#board-search"),
            "c" | "C" => focus_selector("#field-title"),
            "j" | "J" => focus_sibling_card(1),
            "k" | "K" => focus_sibling_card(-1),
            "?" => {
                help_open.update(|o| *o = !*o);
                true
            }
            "Escape" if help_open.get_untracked() => {
                help_open.set(false);
                true
            }
            _ => false,
        };
        if handled {
            ev.prevent_default();
        }
    });
    on_cleanup(move || handle.remove());
}

#[component]
fn ShortcutHelp(open: RwSignal<bool>) -> impl IntoView {
    view! {
        <Show when=move || open.get()>
            <div
                class="fixed inset-0 z-20 flex items-center justify-center bg-black/60 p-4"
                on:click=move |_| open.set(false)
            >
                <div
                    class="card w-full max-w-sm p-5"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="shortcuts-title"
                    data-testid="shortcuts"
                    on:click=|ev| ev.stop_propagation()
                >
                    <h2 id="shortcuts-title" class="text-lg font-semibold">"Keyboard shortcuts"</h2>
                    <dl class="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
                        {SHORTCUTS
                            .into_iter()
                            .map(|(keys, what)| view! {
                                <dt><kbd class="rounded border border-white/20 bg-ink-800 px-1.5 py-0.5 font-mono text-xs">{keys}</kbd></dt>
                                <dd class="text-slate-300">{what}</dd>
                            })
                            .collect_view()}
                    </dl>
                    <button type="button" class="btn-secondary mt-5 w-full" on:click=move |_| open.set(false)>"Close"</button>
                </div>
            </div>
        </Show>
    }
}

fn focus_selector(selector: &str) -> bool {
    use wasm_bindgen::JsCast;
    match document().query_selector(selector) {
        Ok(Some(el)) => el
            .dyn_into::<web_sys::HtmlElement>()
            .is_ok_and(|el| el.focus().is_ok()),
        _ => false,
    }
}

/// Moves focus `step` cards forward (1) or back (-1) in reading order,
/// starting from the first card when none has focus.
fn focus_sibling_card(step: isize) -> bool {
    use wasm_bindgen::JsCast;
    let Ok(cards) = document().query_selector_all("li.task-card") else {
        return false;
    };
    let cards: Vec<web_sys::HtmlElement> = (0..cards.length())
        .filter_map(|i| cards.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    if cards.is_empty() {
        return false;
    }
    let active = document().active_element();
    let current = cards
        .iter()
        .position(|c| active.as_ref().is_some_and(|a| a.is_same_node(Some(c))));
    let last = cards.len() - 1;
    let next = match current {
        None => 0,
        Some(i) => i.saturating_add_signed(step).min(last),
    };
    cards.get(next).is_some_and(|c| c.focus().is_ok())
}

/// Percent-encodes a query value (what `encodeURIComponent` does).
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ai_marks, encode_query};

    #[test]
    fn a_card_names_the_band_and_its_confidence() {
        assert_eq!(ai_marks(None, None), None);
        assert_eq!(ai_marks(Some("claude"), None).as_deref(), Some("claude"));
        assert_eq!(ai_marks(None, Some(0.5)).as_deref(), Some("50%"));
        assert_eq!(
            ai_marks(Some("gpt"), Some(0.624)).as_deref(),
            Some("gpt · 62%")
        );
    }

    #[test]
    fn encodes_like_encode_uri_component() {
        assert_eq!(encode_query("fix login"), "fix%20login");
        assert_eq!(encode_query("a&b=c"), "a%26b%3Dc");
        assert_eq!(encode_query("é"), "%C3%A9");
    }
}
