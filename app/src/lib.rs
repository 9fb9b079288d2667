//! EXITON's UI: the HTML shell, the routes and the pages, rendered on the
//! server and hydrated in the browser. Server functions (`server_fns`) are
//! the UI's only way into the domain.

pub mod error;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod session;

mod components;
mod pages;
mod routes;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::Router;

use routes::AppRoutes;

/// The document around the app, rendered once on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" class="dark">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options=options.clone() />
                // The bundle's CSS under its hashed name (cargo-leptos
                // `hash-files`), so it can be cached for good.
                <HashedStylesheet options id="leptos" />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-ink-950 text-slate-100 antialiased">
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="EXITON" />
        <Router>
            <main>
                <AppRoutes />
            </main>
        </Router>
    }
}
