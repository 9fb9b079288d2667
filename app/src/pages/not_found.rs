//! The 404 page.

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="mx-auto max-w-md px-4 py-24 text-center">
            <h1 class="text-2xl font-semibold text-brass-400">"Off the chart"</h1>
            <p class="mt-2 text-slate-400">"Nothing plays at this address."</p>
            <a href="/" class="btn-primary mt-6 inline-block">"Back to your projects"</a>
        </section>
    }
}
