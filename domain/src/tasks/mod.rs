//! Tasks on the board (spec `Task`): the four columns, search, moves.

mod error;
mod model;
mod ports;
mod service;

pub use error::TaskError;
pub use model::{CreatedBy, NewTask, SearchTerms, Task, TaskPatch, TaskQuery, TaskStatus};
pub use ports::TaskRepository;
pub use service::TaskService;
