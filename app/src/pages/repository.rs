//! A project's repository (issue 18): which git repository the band works
//! on, where it stands, and the form to link one — a local repository
//! (inside the directories the server's operator allows), a clone, or a
//! new one. Unlinking never touches the repository's files.

use leptos::prelude::*;
use uuid::Uuid;

use crate::components::{ErrorNote, RequireUser, last_error, route_id};
use crate::server_fns::{LinkRepository, RepositoryView, UnlinkRepository, get_repository};

#[component]
pub fn RepositoryPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Repository />
        </RequireUser>
    }
}

#[component]
fn Repository() -> impl IntoView {
    let id = route_id();
    let link = ServerAction::<LinkRepository>::new();
    let unlink = ServerAction::<UnlinkRepository>::new();
    let current = Resource::new(
        move || (id.get(), link.version().get(), unlink.version().get()),
        |(id, ..)| async move {
            match id {
                Some(id) => get_repository(id).await,
                None => Ok(None),
            }
        },
    );
    let link_error = last_error(link.value());
    let unlink_error = last_error(unlink.value());
    view! {
        <section class="mx-auto max-w-3xl px-4 py-8">
            {move || id.get().map(|id| view! {
                <a href=format!("/projects/{id}") class="text-sm text-slate-400 hover:text-slate-200">"← Board"</a>
            })}
            <h1 class="text-2xl font-semibold">"Repository"</h1>
            <p class="text-sm text-slate-400">"The git repository the band reads and proposes changes to."</p>
            <Transition fallback=|| view! { <p class="mt-6 text-slate-400">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(Some(view)) => view! { <Linked view unlink /> }.into_any(),
                        Ok(None) => view! {
                            <p class="mt-6 text-sm text-slate-300" data-testid="repo-none">"No repository is linked yet."</p>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-6 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <div class="mt-4 space-y-2">
                // Every refusal here is about the one form, so each shows
                // whole (it names its field), not beside an input.
                {move || link_error.get().map(|e| view! {
                    <p class="rounded-md border border-rose-400/30 bg-rose-500/10 px-3 py-2 text-sm text-rose-200" role="alert" data-testid="repo-error">
                        {e.to_string()}
                    </p>
                })}
                <ErrorNote error=unlink_error />
            </div>
            {move || id.get().map(|id| view! { <LinkForm project_id=id link /> })}
        </section>
    }
}

/// The linked repository and its status.
#[component]
fn Linked(view: RepositoryView, unlink: ServerAction<UnlinkRepository>) -> impl IntoView {
    let RepositoryView { repository, status } = view;
    let project_id = repository.project_id;
    let short = |c: &Option<String>| {
        c.as_deref()
            .map(|c| c.chars().take(8).collect::<String>())
            .unwrap_or_else(|| "—".to_owned())
    };
    let state = match status.dirty_count {
        _ if status.bare => "bare (no work tree)".to_owned(),
        0 => "clean".to_owned(),
        1 => "1 changed file".to_owned(),
        n => format!("{n} changed files"),
    };
    let remote = match (status.ahead, status.behind, status.upstream.as_deref()) {
        (Some(a), Some(b), Some(up)) => Some(format!("{a} ahead, {b} behind {up}")),
        _ => None,
    };
    view! {
        <dl class="card mt-6 grid grid-cols-[auto,1fr] gap-x-6 gap-y-2 p-5 text-sm" data-testid="repo-linked">
            <dt class="text-slate-400">"Kind"</dt>
            <dd data-testid="repo-kind">{repository.kind.as_str()}</dd>
            <dt class="text-slate-400">"Path"</dt>
            <dd class="break-all font-mono" data-testid="repo-path">{repository.path.clone()}</dd>
            {repository.url.clone().map(|u| view! {
                <dt class="text-slate-400">"Origin"</dt>
                <dd class="break-all font-mono">{u}</dd>
            })}
            <dt class="text-slate-400">"Base branch"</dt>
            <dd>
                <span class="font-mono" data-testid="repo-base">{repository.base_branch.clone()}</span>
                " at "
                <span class="font-mono" data-testid="repo-base-commit">{short(&status.base_commit)}</span>
            </dd>
            <dt class="text-slate-400">"Work tree"</dt>
            <dd data-testid="repo-state">{state}</dd>
            {remote.map(|r| view! {
                <dt class="text-slate-400">"Remote"</dt>
                <dd>{r}</dd>
            })}
            <dt class="text-slate-400">"Push"</dt>
            <dd>{repository.push.as_str()}</dd>
        </dl>
        <ActionForm action=unlink attr:class="mt-3">
            <input type="hidden" name="project_id" value=project_id.to_string() />
            <button type="submit" class="btn-secondary" data-testid="repo-unlink">
                "Unlink (the files stay)"
            </button>
        </ActionForm>
    }
}

/// Link (or replace) the repository.
#[component]
fn LinkForm(project_id: Uuid, link: ServerAction<LinkRepository>) -> impl IntoView {
    let kind = RwSignal::new("local".to_owned());
    view! {
        <ActionForm action=link attr:class="card mt-8 space-y-4 p-5" attr:data-testid="repo-form">
            <h2 class="text-sm font-semibold uppercase tracking-wider text-slate-300">"Link a repository"</h2>
            <input type="hidden" name="project_id" value=project_id.to_string() />
            <label class="block text-sm">
                <span class="text-slate-300">"Kind"</span>
                <select
                    name="kind"
                    class="input mt-1"
                    data-testid="repo-kind-select"
                    on:change=move |ev| kind.set(event_target_value(&ev))
                >
                    <option value="local" selected>"A repository on this server"</option>
                    <option value="clone">"A clone of a URL"</option>
                    <option value="new">"A new, empty repository"</option>
                </select>
            </label>
            <label class="block text-sm" class:hidden=move || kind.get() != "local">
                <span class="text-slate-300">"Path on the server"</span>
                <input name="path" class="input mt-1 font-mono" placeholder="/srv/repos/my-app" data-testid="repo-path-input" />
            </label>
            <label class="block text-sm" class:hidden=move || kind.get() != "clone">
                <span class="text-slate-300">"URL (https, ssh or file)"</span>
                <input name="url" class="input mt-1 font-mono" placeholder="https://github.com/you/app.git" autocomplete="off" data-testid="repo-url-input" />
                <span class="text-xs text-slate-400">"A token in an https URL is stored encrypted and never shown again."</span>
            </label>
            <label class="block text-sm">
                <span class="text-slate-300">"Base branch"</span>
                <input name="base_branch" class="input mt-1 font-mono" placeholder="the current branch" data-testid="repo-base-input" />
            </label>
            <label class="block text-sm" class:hidden=move || kind.get() != "clone">
                <span class="text-slate-300">"After a merge, push"</span>
                <select name="push" class="input mt-1">
                    <option value="none" selected>"nothing"</option>
                    <option value="base">"the base branch (fast-forward only)"</option>
                    <option value="branch">"the task branch, for a pull request"</option>
                </select>
            </label>
            <button type="submit" class="btn-primary" data-testid="repo-link">"Link"</button>
        </ActionForm>
    }
}
