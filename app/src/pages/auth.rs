//! Sign-in and sign-up pages. Plain forms: they work before the WebAssembly
//! has loaded, and without it.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::components::last_error;
use crate::components::{ErrorNote, TextField};
use crate::server_fns::{SignIn, SignUp, current_user};

/// Sends an already signed-in visitor to their projects.
#[component]
fn RedirectIfSignedIn() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                matches!(user.await, Ok(Some(_))).then(|| view! { <Redirect path="/" /> })
            })}
        </Suspense>
    }
}

#[component]
fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <RedirectIfSignedIn />
        <section class="mx-auto flex min-h-screen max-w-md flex-col justify-center px-4">
            <p class="mb-2 text-center text-sm tracking-[0.3em] text-brass-400">"EXITON"</p>
            <h1 class="mb-6 text-center text-2xl font-semibold">{title}</h1>
            <div class="card p-6">{children()}</div>
        </section>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = last_error(action.value());
    view! {
        <AuthCard title="Sign in">
            <ActionForm action=action>
                <div class="space-y-4">
                    <div>
                        <TextField label="Email" name="email" kind="email" autocomplete="email" error />
                    </div>
                    <div>
                        <TextField label="Password" name="password" kind="password" autocomplete="current-password" error />
                    </div>
                    <ErrorNote error />
                    <button type="submit" class="btn-primary w-full" disabled=move || action.pending().get()>
                        "Sign in"
                    </button>
                </div>
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-400">
                "New here? " <a href="/signup" class="link">"Create an account"</a>
            </p>
        </AuthCard>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = last_error(action.value());
    view! {
        <AuthCard title="Create your account">
            <ActionForm action=action>
                <div class="space-y-4">
                    <div>
                        <TextField label="Name" name="name" autocomplete="name" error />
                    </div>
                    <div>
                        <TextField label="Email" name="email" kind="email" autocomplete="email" error />
                    </div>
                    <div>
                        <TextField label="Password (8+ characters)" name="password" kind="password" autocomplete="new-password" error />
                    </div>
                    <ErrorNote error />
                    <button type="submit" class="btn-primary w-full" disabled=move || action.pending().get()>
                        "Sign up"
                    </button>
                </div>
            </ActionForm>
            <p class="mt-4 text-center text-sm text-slate-400">
                "Already in the band? " <a href="/login" class="link">"Sign in"</a>
            </p>
        </AuthCard>
    }
}
