//! Pieces shared by several pages.

mod format;
pub mod keys;
mod layout;
pub mod live;
mod route;
mod widgets;

pub use format::thousands;
pub use layout::RequireUser;
pub use route::route_id;
pub use widgets::{ErrorNote, LastError, TextArea, TextAreaField, TextField, last_error};
