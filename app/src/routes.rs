//! The app's routes. Every page is a lazy route: its view — the page's own
//! render and hydrate code, its server functions' decoders — is split out
//! of the main WebAssembly module by `cargo leptos --split` and fetched when
//! a page of its group is first shown (on a first visit, alongside the main
//! module: the server names it in a `modulepreload` hint). A visitor
//! fetches the pages they open, not the whole app (BENCHMARKS.md, "Page
//! weight").
//!
//! Pages are split in groups a user opens together — signing in, the
//! projects list, the board, the band (its form and its session), the
//! reviews (the queue, one review, the interventions log) and the settings
//! (yours, and a project's repository) — rather than one module per page:
//! the splitter makes a module for every set of split points sharing code,
//! so twelve points made some sixty files for one first visit, where six
//! make far fewer.

use leptos::lazy;
use leptos::prelude::*;
use leptos_router::components::{Route, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, path};

use crate::pages::auth::{LoginPage, SignupPage};
use crate::pages::band::{RunBandPage, SessionPage};
use crate::pages::board::BoardPage;
use crate::pages::not_found::NotFound;
use crate::pages::projects::ProjectsPage;
use crate::pages::repository::RepositoryPage;
use crate::pages::reviews::{InterventionsPage, ReviewPage, ReviewsPage};
use crate::pages::settings::SettingsPage;

/// One page, named for its group's lazy view.
#[derive(Clone, Copy)]
enum Page {
    Login,
    Signup,
    RunBand,
    Session,
    Reviews,
    Review,
    Interventions,
    Settings,
    Repository,
}

#[lazy]
fn auth_view(page: Page) -> AnyView {
    match page {
        Page::Signup => view! { <SignupPage /> }.into_any(),
        _ => view! { <LoginPage /> }.into_any(),
    }
}

#[lazy]
fn projects_view() -> AnyView {
    view! { <ProjectsPage /> }.into_any()
}

#[lazy]
fn board_view() -> AnyView {
    view! { <BoardPage /> }.into_any()
}

#[lazy]
fn band_view(page: Page) -> AnyView {
    match page {
        Page::Session => view! { <SessionPage /> }.into_any(),
        _ => view! { <RunBandPage /> }.into_any(),
    }
}

#[lazy]
fn reviews_view(page: Page) -> AnyView {
    match page {
        Page::Review => view! { <ReviewPage /> }.into_any(),
        Page::Interventions => view! { <InterventionsPage /> }.into_any(),
        _ => view! { <ReviewsPage /> }.into_any(),
    }
}

#[lazy]
fn settings_view(page: Page) -> AnyView {
    match page {
        Page::Repository => view! { <RepositoryPage /> }.into_any(),
        _ => view! { <SettingsPage /> }.into_any(),
    }
}

/// A lazy route whose view is `$view` (with `$page` for a group's page).
/// The pages load their own data (their resources live inside them, under
/// the signed-in frame), so a route's "data" half is empty. `$preload` is
/// the loader `#[lazy]` made for `$view` (browser only): the router calls
/// it before it hydrates or shows the route, so the module is in place
/// when the view is built.
macro_rules! lazy_route {
    ($route:ident => $view:ident($($page:expr)?), $preload:ident) => {
        struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            async fn view(_this: Self) -> AnyView {
                $view($($page)?).await
            }

            async fn preload() {
                #[cfg(feature = "hydrate")]
                $preload().await;
            }
        }
    };
}

lazy_route!(LoginRoute => auth_view(Page::Login), __preload_auth_view);
lazy_route!(SignupRoute => auth_view(Page::Signup), __preload_auth_view);
lazy_route!(ProjectsRoute => projects_view(), __preload_projects_view);
lazy_route!(BoardRoute => board_view(), __preload_board_view);
lazy_route!(RunBandRoute => band_view(Page::RunBand), __preload_band_view);
lazy_route!(SessionRoute => band_view(Page::Session), __preload_band_view);
lazy_route!(ReviewsRoute => reviews_view(Page::Reviews), __preload_reviews_view);
lazy_route!(ReviewRoute => reviews_view(Page::Review), __preload_reviews_view);
lazy_route!(InterventionsRoute => reviews_view(Page::Interventions), __preload_reviews_view);
lazy_route!(SettingsRoute => settings_view(Page::Settings), __preload_settings_view);
lazy_route!(RepositoryRoute => settings_view(Page::Repository), __preload_settings_view);

/// Every route. Async SSR for pages that may redirect to sign-in, so the
/// redirect can still be an HTTP 302.
#[component]
pub fn AppRoutes() -> impl IntoView {
    view! {
        <Routes fallback=|| view! { <NotFound /> }>
            <Route path=path!("/") view={Lazy::<ProjectsRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/signup") view={Lazy::<SignupRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/projects/:id") view={Lazy::<BoardRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/projects/:id/repository") view={Lazy::<RepositoryRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/tasks/:id/band") view={Lazy::<RunBandRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/sessions/:id") view={Lazy::<SessionRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/reviews") view={Lazy::<ReviewsRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/reviews/:id") view={Lazy::<ReviewRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/interventions") view={Lazy::<InterventionsRoute>::new()} ssr=SsrMode::Async />
        </Routes>
    }
}
