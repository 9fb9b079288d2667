//! Accounts: sign-up, sign-in and the user's profile (spec `User`).

mod client;
mod error;
mod model;
mod ports;
mod service;
mod throttle;

pub use client::ClientKey;
pub use error::AccountError;
pub use model::{
    AiPreferences, Email, NewUser, Password, PasswordHash, SubscriptionTier, Tone, User, UserName,
};
pub use ports::{PasswordHasher, UserRepository};
pub use service::{AccountService, SignUp};
pub use throttle::{AuthThrottle, SignInThrottle, ThrottlePolicy};
