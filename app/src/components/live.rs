//! The browser's end of the live socket (`/api/v1/ws`): one connection per
//! signed-in page, shared through context as [`Live`]. Pages react to it —
//! the board and the review list refetch when an event concerns them, the
//! session page refetches on its session's events and shows agents'
//! output token by token — and the header shows a bell with the unread
//! "needs you" count, with toasts.
//!
//! The socket reconnects by itself (backing off up to ten seconds) and
//! asks for what it missed with the last event id it saw, so nothing is
//! lost or doubled across a drop. Before hydration, and where WebSockets
//! are unavailable, pages still work: they load on navigation and the
//! session page falls back to polling while `connected` is false.

use std::collections::HashMap;

use domain::band::AgentRole;
use domain::events::AggregateType;
use domain::sessions::SessionStatus;
use leptos::prelude::*;
use serde::Deserialize;
use uuid::Uuid;

/// One event as the socket delivers it, read for what the browser does
/// with it: which project, session or review queue it touches, and the few
/// payloads that raise a toast or end a stream. The socket sends the whole
/// [`domain::events::EventEnvelope`]; decoding only these fields (serde
/// skips the rest) keeps a decoder for every event variant out of the
/// WebAssembly every signed-in page loads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiveEvent {
    pub id: i64,
    pub event_type: String,
    pub project_id: Option<Uuid>,
    pub event: LiveEnvelope,
}

/// What the browser reads of an event's envelope.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiveEnvelope {
    pub aggregate_id: Uuid,
    pub aggregate_type: AggregateType,
    pub event: LivePayload,
}

/// The payloads the browser acts on; every other event is `Other` (it
/// still moves [`changes`] through `event_type` and `project_id`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum LivePayload {
    AiSessionStatusChanged {
        session_id: Uuid,
        to: SessionStatus,
    },
    AgentInvoked {
        role: AgentRole,
    },
    HumanReviewRequired {
        review_id: Uuid,
    },
    #[serde(other)]
    Other,
}

impl LiveEvent {
    /// The session it concerns, for AI-session events.
    pub fn session_id(&self) -> Option<Uuid> {
        (self.event.aggregate_type == AggregateType::AiSession).then_some(self.event.aggregate_id)
    }

    /// Whether it changes the review queue.
    pub fn touches_reviews(&self) -> bool {
        matches!(
            self.event_type.as_str(),
            "HumanReviewRequired"
                | "HumanReviewStarted"
                | "HumanApproved"
                | "HumanModified"
                | "HumanRejected"
                | "ReviewExpired"
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    Event(Box<LiveEvent>),
    Ready {
        #[allow(dead_code)]
        last_event_id: i64,
    },
    Delta {
        session_id: Uuid,
        role: AgentRole,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        restart: Option<String>,
    },
    DeltasDropped,
}

/// A short notice in the corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    pub href: Option<String>,
}

/// The live state a page can read. `Copy`: signals only.
#[derive(Clone, Copy)]
pub struct Live {
    /// The latest event (pages track it to refetch).
    pub last: RwSignal<Option<LiveEvent>>,
    /// Streamed output so far, per session and role.
    pub streams: RwSignal<HashMap<(Uuid, AgentRole), String>>,
    pub connected: RwSignal<bool>,
    /// Unread notifications: the inbox's count when the page loaded, plus
    /// those that arrived live since; opening the bell reads them all.
    pub unread: RwSignal<u64>,
    pub toasts: RwSignal<Vec<Toast>>,
}

impl Live {
    fn new() -> Self {
        Self {
            last: RwSignal::new(None),
            streams: RwSignal::new(HashMap::new()),
            connected: RwSignal::new(false),
            unread: RwSignal::new(0),
            toasts: RwSignal::new(Vec::new()),
        }
    }

    /// The live state, when a signed-in frame provides it.
    pub fn get() -> Option<Self> {
        use_context::<Self>()
    }

    fn toast(&self, text: String, href: Option<String>) {
        let id = js_now_id();
        self.toasts.update(|t| {
            t.push(Toast { id, text, href });
            // Only the newest few stay.
            let excess = t.len().saturating_sub(4);
            t.drain(..excess);
        });
        // Timers run outside any owner: the signal itself is captured, and
        // it may be gone by then (the page was left).
        let toasts = self.toasts;
        set_timeout(
            move || {
                toasts.try_update(|t| t.retain(|x| x.id != id));
            },
            std::time::Duration::from_secs(8),
        );
    }

    fn on_frame(&self, frame: Frame, last_id: &mut Option<i64>) {
        match frame {
            Frame::Event(event) => {
                *last_id = Some(event.id);
                self.notify(&event);
                if let Some(session) = event.session_id()
                    && let LivePayload::AgentInvoked { role } = event.event.event
                {
                    // The whole output is stored now: the stream is done.
                    self.streams.update(|s| {
                        s.remove(&(session, role));
                    });
                }
                self.last.set(Some(*event));
            }
            Frame::Delta {
                session_id,
                role,
                text,
                restart,
            } => self.streams.update(|s| {
                let entry = s.entry((session_id, role)).or_default();
                if restart.is_some() {
                    entry.clear();
                }
                if let Some(text) = text {
                    entry.push_str(&text);
                }
            }),
            Frame::Ready { .. } | Frame::DeltasDropped => {}
        }
    }

    /// Toasts (and the bell) for what needs the human or tells them news.
    fn notify(&self, event: &LiveEvent) {
        match &event.event.event {
            LivePayload::HumanReviewRequired { review_id } => {
                self.unread.update(|n| *n += 1);
                self.toast(
                    "The band needs your review".to_owned(),
                    Some(format!("/reviews/{review_id}")),
                );
            }
            LivePayload::AiSessionStatusChanged { session_id, to } if to.is_terminal() => {
                // The inbox keeps one for it too.
                self.unread.update(|n| *n += 1);
                let text = match to {
                    SessionStatus::Completed => "A session completed",
                    _ => "A session stopped",
                };
                self.toast(text.to_owned(), Some(format!("/sessions/{session_id}")));
            }
            _ => {}
        }
    }
}

/// A counter that moves whenever an event matching `pred` arrives (the id
/// of the latest such event): put it in a resource's source to refetch on
/// it. Stays 0 without a live socket.
pub fn changes(pred: impl Fn(&LiveEvent) -> bool + Send + Sync + 'static) -> Memo<i64> {
    let live = Live::get();
    Memo::new(move |prev: Option<&i64>| {
        let seen = prev.copied().unwrap_or(0);
        live.and_then(|l| {
            l.last
                .with(|e| e.as_ref().filter(|e| pred(e)).map(|e| e.id))
        })
        .unwrap_or(seen)
    })
}

/// A process-unique id for toasts.
fn js_now_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Provides [`Live`] to `children` and, in the browser, keeps the socket.
#[component]
pub fn LiveProvider(children: Children) -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    // In the browser only (effects do not run on the server, whose
    // threads must never touch browser-local storage).
    Effect::new(move |_| {
        let conn = Conn::new();
        connect(live, conn.clone(), None, 0);
        // Leaving the page (a client-side navigation disposes this owner,
        // and with it every signal in `live`) closes its socket for good.
        // Only the browser runs this, on its one thread: the wrapper just
        // satisfies `on_cleanup`'s `Send` bound.
        let conn = send_wrapper::SendWrapper::new(conn);
        on_cleanup(move || conn.stop());
    });
    view! {
        {children()}
        <Toasts live />
    }
}

type Handler<T> = wasm_bindgen::closure::Closure<dyn FnMut(T)>;

/// The handlers wired to one socket.
struct Handlers {
    _open: Handler<web_sys::Event>,
    _message: Handler<web_sys::MessageEvent>,
    _close: Handler<web_sys::CloseEvent>,
}

/// The page's socket, shared by its handlers and the reconnect timer. Plain
/// browser state, not reactive: it outlives the reactive owner by design (a
/// close event or a timer may still fire after the page is gone), so it
/// must be safe to read then, and it says whether the page is gone.
#[derive(Clone)]
struct Conn(std::rc::Rc<std::cell::RefCell<ConnState>>);

#[derive(Default)]
struct ConnState {
    socket: Option<web_sys::WebSocket>,
    handlers: Option<Handlers>,
    stopped: bool,
}

impl Conn {
    fn new() -> Self {
        Self(std::rc::Rc::default())
    }

    fn stopped(&self) -> bool {
        self.0.borrow().stopped
    }

    /// Takes over `socket` and its handlers (a reconnect replaces both).
    fn attach(&self, socket: web_sys::WebSocket, handlers: Handlers) {
        let previous = {
            let mut state = self.0.borrow_mut();
            state.socket = Some(socket);
            state.handlers.replace(handlers)
        };
        // The old socket is closed and its handlers never run again; they
        // are dropped after this turn, never from inside their own call.
        defer_drop(previous);
    }

    /// Detaches the handlers before closing, so no frame still queued and
    /// no close event can reach the owner's disposed signals, then drops
    /// them once the current handler (if any) has returned.
    fn stop(&self) {
        let (socket, handlers) = {
            let mut state = self.0.borrow_mut();
            state.stopped = true;
            (state.socket.take(), state.handlers.take())
        };
        if let Some(socket) = socket {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            let _ = socket.close();
        }
        defer_drop(handlers);
    }
}

/// Drops `value` on a later turn of the event loop.
fn defer_drop<T: 'static>(value: Option<T>) {
    if let Some(value) = value {
        set_timeout(move || drop(value), std::time::Duration::ZERO);
    }
}

/// Opens the socket (after `after`, when reconnecting) and wires its
/// handlers; on close, tries again with growing pauses unless the page is
/// gone.
fn connect(live: Live, conn: Conn, after: Option<i64>, attempt: u32) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    if conn.stopped() {
        return;
    }
    let Ok(location) = window().location().host() else {
        return;
    };
    let scheme = match window().location().protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let Ok(socket) = web_sys::WebSocket::new(&format!("{scheme}://{location}/api/v1/ws{query}"))
    else {
        return;
    };
    // Owned by the handlers below; each reconnect makes a fresh set.
    let last_id = std::rc::Rc::new(std::cell::Cell::new(after));

    let open_conn = conn.clone();
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        if !open_conn.stopped() {
            live.connected.set(true);
        }
    });
    // A frame proves the socket works: the next drop starts backing off
    // from the shortest pause again.
    let healthy = std::rc::Rc::new(std::cell::Cell::new(false));
    let heard = healthy.clone();
    let seen = last_id.clone();
    let message_conn = conn.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            if message_conn.stopped() {
                return;
            }
            heard.set(true);
            if let Ok(frame) = serde_json::from_str::<Frame>(&text) {
                let mut id = seen.get();
                live.on_frame(frame, &mut id);
                seen.set(id);
            }
        });
    let seen = last_id.clone();
    let close_conn = conn.clone();
    let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |_| {
        if close_conn.stopped() {
            return;
        }
        live.connected.set(false);
        let after = seen.get();
        let attempt = if healthy.get() { 0 } else { attempt };
        let pause = 500u64.saturating_mul(1 << attempt.min(5)).min(10_000);
        let conn = close_conn.clone();
        set_timeout(
            move || connect(live, conn, after, attempt.saturating_add(1)),
            std::time::Duration::from_millis(pause),
        );
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    conn.attach(
        socket,
        Handlers {
            _open: on_open,
            _message: on_message,
            _close: on_close,
        },
    );
}

#[component]
fn Toasts(live: Live) -> impl IntoView {
    view! {
        <div class="pointer-events-none fixed bottom-4 right-4 z-30 flex w-72 flex-col gap-2" aria-live="polite">
            <For each=move || live.toasts.get() key=|t| t.id let:toast>
                <div class="pointer-events-auto rounded-lg border border-brass-400/40 bg-ink-900 px-3 py-2 text-sm shadow-lg" role="status" data-testid="toast">
                    {match toast.href {
                        Some(href) => view! { <a href=href class="link">{toast.text}</a> }.into_any(),
                        None => view! { <span>{toast.text}</span> }.into_any(),
                    }}
                </div>
            </For>
        </div>
    }
}

/// The header's bell: unread notifications (the inbox's, so the count
/// survives a reload); opening it marks them read.
#[component]
pub fn Bell() -> impl IntoView {
    let Some(live) = Live::get() else {
        return ().into_any();
    };
    // In the browser only, after hydration, so the server's HTML and the
    // hydrated page agree. `max`: an event that arrived live while the count
    // was on its way may or may not be in it; never count it twice.
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(n) = crate::server_fns::unread_notifications().await {
                live.unread.update(|unread| *unread = (*unread).max(n));
            }
        });
    });
    let open = move |_| {
        live.unread.set(0);
        leptos::task::spawn_local(async move {
            // The count is only a hint: a failure leaves it to the next load.
            let _ = crate::server_fns::read_all_notifications().await;
        });
    };
    view! {
        <a
            href="/reviews"
            class="btn-ghost relative"
            data-testid="bell"
            aria-label=move || format!("{} unread notifications", live.unread.get())
            on:click=open
        >
            // An outline bell (icons are drawn: emoji fonts are not everywhere).
            <svg class="h-5 w-5" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
                <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
                <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
            </svg>
            <Show when=move || { live.unread.get() > 0 }>
                <span class="absolute -right-1 -top-1 rounded-full bg-rose-500 px-1.5 text-xs text-white" data-testid="bell-count">
                    {move || live.unread.get()}
                </span>
            </Show>
            <Show when=move || !live.connected.get()>
                <span class="sr-only" data-testid="live-offline">"live updates offline"</span>
            </Show>
        </a>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use domain::band::ProviderKind;
    use domain::events::{DomainEvent, EventEnvelope};
    use domain::sessions::ReviewKind;

    /// The frame exactly as the server's socket writes it
    /// (`server/src/inbound/live/ws.rs`), read back as the browser reads it.
    fn delivered(aggregate: AggregateType, id: Uuid, event: DomainEvent) -> LiveEvent {
        let event_type = event.type_name();
        let envelope = EventEnvelope::new(aggregate, id, Uuid::new_v4(), chrono::Utc::now(), event);
        let frame = serde_json::json!({
            "type": "event",
            "id": 7,
            "event_type": event_type,
            "project_id": null,
            "event": envelope,
        });
        match serde_json::from_value::<Frame>(frame).unwrap() {
            Frame::Event(e) => *e,
            other => panic!("not an event frame: {other:?}"),
        }
    }

    #[test]
    fn the_payloads_the_browser_acts_on_are_read_from_the_full_envelope() {
        let (session, review) = (Uuid::new_v4(), Uuid::new_v4());
        let e = delivered(
            AggregateType::AiSession,
            session,
            DomainEvent::AgentInvoked {
                session_id: session,
                invocation_id: Uuid::new_v4(),
                agent: ProviderKind::Claude,
                role: AgentRole::Reviewer,
                confidence: 0.9,
                tokens_used: 120,
                execution_time_ms: 800,
                failed: false,
            },
        );
        assert_eq!(
            e.event.event,
            LivePayload::AgentInvoked {
                role: AgentRole::Reviewer
            }
        );
        assert_eq!(e.session_id(), Some(session));
        assert!(!e.touches_reviews());

        let e = delivered(
            AggregateType::AiSession,
            session,
            DomainEvent::AiSessionStatusChanged {
                session_id: session,
                from: SessionStatus::Executing,
                to: SessionStatus::Completed,
                reason: None,
            },
        );
        assert_eq!(
            e.event.event,
            LivePayload::AiSessionStatusChanged {
                session_id: session,
                to: SessionStatus::Completed
            }
        );

        let e = delivered(
            AggregateType::Review,
            review,
            DomainEvent::HumanReviewRequired {
                review_id: review,
                session_id: session,
                kind: ReviewKind::Gate,
                reasons: Vec::new(),
                average_confidence: 0.4,
                expires_at: chrono::Utc::now(),
            },
        );
        assert_eq!(
            e.event.event,
            LivePayload::HumanReviewRequired { review_id: review }
        );
        assert!(e.touches_reviews());
        assert_eq!(e.session_id(), None);
    }

    #[test]
    fn every_other_event_is_read_as_other_and_review_events_touch_the_queue() {
        let (session, review) = (Uuid::new_v4(), Uuid::new_v4());
        let e = delivered(
            AggregateType::Task,
            Uuid::new_v4(),
            DomainEvent::TaskDeleted {
                task_id: Uuid::new_v4(),
                project_id: Uuid::new_v4(),
            },
        );
        assert_eq!(
            (e.event.event.clone(), e.event_type.as_str()),
            (LivePayload::Other, "TaskDeleted")
        );
        assert!(!e.touches_reviews());
        for event in [
            DomainEvent::HumanReviewStarted {
                review_id: review,
                session_id: session,
            },
            DomainEvent::ReviewExpired {
                review_id: review,
                session_id: session,
            },
            DomainEvent::HumanRejected {
                review_id: review,
                session_id: session,
                reviewer_id: Uuid::new_v4(),
                kind: ReviewKind::FinalApproval,
                output_hash: "abc".into(),
                reason: "not yet".into(),
            },
        ] {
            let e = delivered(AggregateType::Review, review, event);
            assert_eq!(e.event.event, LivePayload::Other);
            assert!(
                e.touches_reviews(),
                "{} touches the review queue",
                e.event_type
            );
        }
    }
}
