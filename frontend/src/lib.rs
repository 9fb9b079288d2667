//! The browser entry point: hydrates the server-rendered page with the same
//! `App` the server rendered.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = leptos::prelude::document().body() else {
        return;
    };
    // The pages are lazy routes: hydration waits for the shown page's
    // split-out module, so the page is live only once this resolves. Only
    // then is it marked hydrated (`body[data-hydrated]`, which end-to-end
    // tests wait for): marked any earlier, a test could press a key the
    // page does not listen for yet.
    wasm_bindgen_futures::spawn_local(async move {
        let mounted = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        mounted.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
