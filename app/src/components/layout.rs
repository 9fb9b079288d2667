//! The signed-in frame: the header with the user's name, the review bell
//! and sign-out, the live socket for the page, and a guard that sends
//! signed-out visitors to the sign-in page.

use domain::accounts::User;
use leptos::prelude::*;
use leptos_router::components::Redirect;

use super::live::{Bell, LiveProvider, changes};
use crate::server_fns::{SignOut, current_user, open_review_count};

/// Renders `children` with the signed-in user in context, or redirects to
/// `/login`.
#[component]
pub fn RequireUser(children: ChildrenFn) -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    // The page is built once: the `Suspend` is not wrapped in a closure,
    // so the user resource resolving cannot re-run it and build `children`
    // (with all of the page's resources) a second time. The user never
    // changes under a mounted page (signing out leaves it).
    view! {
        <Suspense fallback=|| view! { <p class="p-8 text-slate-400">"Loading…"</p> }>
            {Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => {
                        provide_context(user.clone());
                        view! {
                            <LiveProvider>
                                <AppHeader user />
                                {children()}
                            </LiveProvider>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                    Err(e) => view! { <p class="p-8 text-rose-300">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AppHeader(user: User) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let name = user.name.clone().unwrap_or_else(|| user.email.clone());
    view! {
        <header class="border-b border-white/10 bg-ink-900/80 backdrop-blur">
            <div class="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-x-4 gap-y-2 px-4 py-3">
                <a href="/" class="flex items-baseline gap-2 font-semibold tracking-wide">
                    <span class="text-brass-400">"EXITON"</span>
                    <span class="hidden text-xs font-normal text-slate-400 sm:inline">
                        "AI are band members; you conduct."
                    </span>
                </a>
                <div class="flex flex-wrap items-center justify-end gap-1 text-sm sm:gap-3">
                    <Bell />
                    <ReviewsLink />
                    <a href="/interventions" class="btn-ghost hidden sm:inline-block" data-testid="interventions-link">"Interventions"</a>
                    <a href="/settings" class="btn-ghost" data-testid="settings-link">"Settings"</a>
                    <span class="hidden max-w-[30vw] truncate text-slate-300 sm:inline" data-testid="user-name">{name}</span>
                    <ActionForm action=sign_out>
                        <button type="submit" class="btn-ghost" data-testid="sign-out">
                            "Sign out"
                        </button>
                    </ActionForm>
                </div>
            </div>
        </header>
    }
}

/// "Reviews", with how many wait for the user.
#[component]
fn ReviewsLink() -> impl IntoView {
    // Refreshed whenever a review is requested or decided (live).
    let reviews_changed = changes(super::live::LiveEvent::touches_reviews);
    let count = Resource::new(move || reviews_changed.get(), |_| open_review_count());
    let badge = move || {
        Suspend::new(async move {
            match count.await {
                Ok(n) if n > 0 => Some(view! {
                    <span class="ml-1.5 inline-flex min-w-5 items-center justify-center rounded-full bg-brass-400 px-1.5 text-xs font-semibold text-ink-950" data-testid="review-count">
                        {n}
                    </span>
                    <span class="sr-only">" waiting"</span>
                }),
                _ => None,
            }
        })
    };
    view! {
        <a href="/reviews" class="btn-ghost inline-flex items-center" data-testid="reviews-link">
            "Reviews"
            <Suspense fallback=|| ()>{badge}</Suspense>
        </a>
    }
}
