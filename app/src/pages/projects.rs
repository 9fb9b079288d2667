//! The project list: create, rename, change status, open a board.

use domain::projects::{Project, ProjectStatus};
use leptos::prelude::*;

use crate::components::{ErrorNote, RequireUser, TextArea, TextField, last_error};
use crate::server_fns::{CreateProject, UpdateProject, list_projects};

#[component]
pub fn ProjectsPage() -> impl IntoView {
    view! {
        <RequireUser>
            <Projects />
        </RequireUser>
    }
}

#[component]
fn Projects() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let update = ServerAction::<UpdateProject>::new();
    let projects = Resource::new(
        move || (create.version().get(), update.version().get()),
        |_| list_projects(),
    );
    let create_error = last_error(create.value());
    let update_error = last_error(update.value());
    view! {
        <section class="mx-auto max-w-5xl px-4 py-8">
            <div class="flex flex-wrap items-end justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-semibold">"Projects"</h1>
                    <p class="text-sm text-slate-400">"Each project has its own board."</p>
                </div>
                <ActionForm action=create>
                    <div class="flex items-start gap-2" data-testid="new-project">
                        <div>
                            <TextField label="New project" name="name" placeholder="e.g. Blue Bebop API" error=create_error />
                        </div>
                        <button type="submit" class="btn-primary mt-6" disabled=move || create.pending().get()>
                            "Create"
                        </button>
                    </div>
                </ActionForm>
            </div>
            <div class="mt-4"><ErrorNote error=create_error /></div>
            <div class="mt-2"><ErrorNote error=update_error /></div>
            <Transition fallback=|| view! { <p class="mt-8 text-slate-400">"Loading projects…"</p> }>
                {move || Suspend::new(async move {
                    match projects.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-10 rounded-lg border border-dashed border-white/15 p-8 text-center text-slate-400">
                                "No projects yet. Name one above to start your first board."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-8 grid gap-4 sm:grid-cols-2" data-testid="project-list">
                                {list.into_iter().map(|p| view! { <ProjectCard project=p update /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="mt-8 text-rose-300">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ProjectCard(project: Project, update: ServerAction<UpdateProject>) -> impl IntoView {
    let id = project.id.to_string();
    let href = format!("/projects/{}", project.id);
    let status = project.status;
    let name = project.name.clone();
    let description = project.description.clone();
    let has_description = !description.is_empty();
    let description_text = description.clone();
    let card_id = id.clone();
    view! {
        <li class="card p-4" data-testid="project-card" data-project-id=card_id>
            <div class="flex items-start justify-between gap-2">
                <a href=href class="text-lg font-medium hover:text-brass-300" data-testid="project-link">
                    {name.clone()}
                </a>
                <span class=format!("badge badge-{}", status.as_str())>{status.as_str()}</span>
            </div>
            {has_description.then(|| view! {
                <p class="mt-2 line-clamp-2 whitespace-pre-line text-sm text-slate-400" data-testid="project-description">
                    {description_text}
                </p>
            })}
            <details class="mt-3 text-sm">
                <summary class="cursor-pointer text-slate-400 hover:text-slate-200">"Edit name, description or status"</summary>
                <ActionForm action=update>
                    <input type="hidden" name="id" value=id />
                    <div class="mt-3 flex flex-wrap items-end gap-2">
                        <label class="flex-1">
                            <span class="block text-slate-400">"Name"</span>
                            <input name="name" value=name required class="input mt-1" />
                        </label>
                        <label>
                            <span class="block text-slate-400">"Status"</span>
                            <select name="status" class="input mt-1">
                                {ProjectStatus::ALL
                                    .into_iter()
                                    .map(|s| view! { <option value=s.as_str() selected=s == status>{s.as_str()}</option> })
                                    .collect_view()}
                            </select>
                        </label>
                        <label class="w-full">
                            <span class="block text-slate-400">"Description"</span>
                            <TextArea value=RwSignal::new(description) name="description" rows=2 attr:class="input mt-1" />
                        </label>
                        <button type="submit" class="btn-secondary">"Save"</button>
                    </div>
                </ActionForm>
            </details>
        </li>
    }
}
