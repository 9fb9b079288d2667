//! The app's routes. Every page is a lazy route: its view — the page's own render and hydrate code, its server
//! functions' decoders — is split out of the main WebAssembly module by
//! `cargo leptos --split` and fetched when the page is first shown (on a
//! first visit, alongside the main module; the server names it in a
//! `modulepreload` hint). A visitor fetches the pages they open, not the
//! whole app (BENCHMARKS.md, "Page weight").

use leptos::prelude::*;
use leptos_router::components::{Route, Routes};
use leptos_router::{Lazy, LazyRoute, SsrMode, lazy_route, path};

use crate::pages::auth::{LoginPage, SignupPage};
use crate::pages::band::{RunBandPage, SessionPage};
use crate::pages::board::BoardPage;
use crate::pages::not_found::NotFound;
use crate::pages::projects::ProjectsPage;
use crate::pages::reviews::{InterventionsPage, ReviewPage, ReviewsPage};
use crate::pages::settings::SettingsPage;

/// A lazy route showing one page component. The pages load their own data
/// (their resources live inside them, under the signed-in frame), so a
/// route's "data" half is empty.
macro_rules! lazy_page {
    ($route:ident => $page:ident) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    };
}

lazy_page!(LoginRoute => LoginPage);
lazy_page!(SignupRoute => SignupPage);
lazy_page!(ProjectsRoute => ProjectsPage);
lazy_page!(BoardRoute => BoardPage);
lazy_page!(SettingsRoute => SettingsPage);
lazy_page!(RunBandRoute => RunBandPage);
lazy_page!(SessionRoute => SessionPage);
lazy_page!(ReviewsRoute => ReviewsPage);
lazy_page!(ReviewRoute => ReviewPage);
lazy_page!(InterventionsRoute => InterventionsPage);

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
            <Route path=path!("/tasks/:id/band") view={Lazy::<RunBandRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/sessions/:id") view={Lazy::<SessionRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/reviews") view={Lazy::<ReviewsRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/reviews/:id") view={Lazy::<ReviewRoute>::new()} ssr=SsrMode::Async />
            <Route path=path!("/interventions") view={Lazy::<InterventionsRoute>::new()} ssr=SsrMode::Async />
        </Routes>
    }
}
