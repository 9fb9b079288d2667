//! The browser entry point: hydrates the server-rendered page with the same
//! `App` the server rendered.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: hydration waits for the shown page's split-out module.
    leptos::mount::hydrate_lazy(app::App);
}
