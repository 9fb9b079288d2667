//! Task progress (spec TrackProgress, issue 17): a run moves its task's
//! card across the board and sets the task's AI fields — by reacting to
//! the run's events, never inside the run itself.
//!
//! A run moves its card to In progress when it starts (and again when an
//! approval at the gate sets it playing on), to Review when it waits for a
//! human, and to Done on final approval. It never moves a card a human has
//! moved since the run started: the card stays where the human put it
//! (final approval, itself the human's act, only yields to a move made
//! after it). Each move and each change of the AI fields is an event of
//! its own (`TaskMoved` naming the session, `TaskUpdated`).

mod model;
mod reaction;

pub use model::Stage;
pub use reaction::TaskProgressReaction;

#[cfg(test)]
mod tests;
