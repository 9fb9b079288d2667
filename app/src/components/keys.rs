//! Keyboard helpers for pages with shortcuts. They run in the browser
//! only (from key handlers); each answers whether it did something, so the
//! handler knows whether to swallow the key.

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Whether the key went to a field the user is typing in: shortcuts must
/// not fire there.
pub fn typing(ev: &KeyboardEvent) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| {
            matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || el.get_attribute("contenteditable").is_some()
        })
}

fn html_element(selector: &str) -> Option<web_sys::HtmlElement> {
    document()
        .query_selector(selector)
        .ok()
        .flatten()
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
}

/// Focuses the first element matching `selector`.
pub fn focus_selector(selector: &str) -> bool {
    html_element(selector).is_some_and(|el| el.focus().is_ok())
}

/// Clicks the first element matching `selector` (a disabled button
/// ignores it, as it would a mouse click).
pub fn click_selector(selector: &str) -> bool {
    html_element(selector).map(|el| el.click()).is_some()
}

/// Submits the form (one matching `forms`) the focus is in, through its
/// submit button, exactly as a click would.
pub fn submit_focused_form(forms: &str) -> bool {
    let Some(form) = document()
        .active_element()
        .and_then(|el| el.closest(forms).ok().flatten())
    else {
        return false;
    };
    form.query_selector("button[type='submit']")
        .ok()
        .flatten()
        .and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok())
        .map(|b| b.click())
        .is_some()
}

/// Moves focus `step` items forward (1) or back (-1) among the elements
/// matching `selector`, in document order, starting from the first when
/// none of them has focus.
pub fn focus_step(selector: &str, step: isize) -> bool {
    let Ok(items) = document().query_selector_all(selector) else {
        return false;
    };
    let items: Vec<web_sys::HtmlElement> = (0..items.length())
        .filter_map(|i| items.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let Some(last) = items.len().checked_sub(1) else {
        return false;
    };
    let active = document().active_element();
    let current = items
        .iter()
        .position(|c| active.as_ref().is_some_and(|a| a.is_same_node(Some(c))));
    let next = match current {
        None => 0,
        Some(i) => i.saturating_add_signed(step).min(last),
    };
    items.get(next).is_some_and(|c| c.focus().is_ok())
}
