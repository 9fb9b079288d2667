//! Pieces shared by several pages.

mod layout;
mod widgets;

pub use layout::RequireUser;
pub use widgets::{ErrorNote, LastError, TextField, last_error};
