//! The checks a configuration's pipelines need their plugins for, each naming the pipeline, the
//! stage and the problem: a plugin without the world its stage needs, two routers or two dedup
//! stages, and routing loops: a built-in router (whose destinations its config names) sending
//! to a topic the same pipeline covers. A user router's destinations are known only when it
//! runs; a loop there fails the batch (`on_error`).

use lockgate_filters::route::TopicRouter;
use lockgate_filters::route::content::ContentRouter;
use lockgate_filters::route::exchange::TopicExchange;

use super::spec::PipelineConfig;
use crate::plugin::{PluginSpec, Role};

/// The roles of a plugin by name: `None` when not known yet (compiling in the background; it
/// is checked when first used), else its roles or why it cannot load.
pub type RolesOf<'a> = &'a dyn Fn(&str) -> Option<Result<Vec<Role>, String>>;

/// Every problem, one line each (`pipeline[0].ingress.stages[1]: …`).
pub fn validate(
    pipelines: &[PipelineConfig],
    specs: &[PluginSpec],
    roles: RolesOf<'_>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let spec_of = |name: &str| {
        specs
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| PluginSpec::builtin(name))
    };
    for (i, p) in pipelines.iter().enumerate() {
        if let Some(ingress) = &p.ingress {
            let mut seen: Vec<Role> = Vec::new();
            for (n, name) in ingress.stages.iter().enumerate() {
                let at = format!("pipeline[{i}].ingress.stages[{n}]");
                let role = match roles(name) {
                    None => continue,
                    Some(Err(e)) => {
                        problems.push(format!("{at}: {e}"));
                        continue;
                    }
                    Some(Ok(r)) => match super::stage_role(name, &r) {
                        Ok(role) => role,
                        Err(e) => {
                            problems.push(format!("{at}: {e}"));
                            continue;
                        }
                    },
                };
                if seen.contains(&role) {
                    problems.push(format!(
                        "{at}: a second {} stage ({name:?}); a pipeline has at most one of each",
                        role.name()
                    ));
                }
                seen.push(role);
                if role == Role::Router {
                    let spec = spec_of(name);
                    if let Err(e) = builtin_loops(p, &spec) {
                        problems.push(format!("{at}: {e}"));
                    }
                }
            }
        }
        if let Some(retry) = &p.retry {
            match roles(&retry.plugin) {
                Some(Ok(r)) if !r.contains(&Role::Retry) => problems.push(format!(
                    "pipeline[{i}].retry.plugin: plugin {:?} does not implement the retry-plugin world (it implements {})",
                    retry.plugin,
                    r.iter().map(|r| r.world()).collect::<Vec<_>>().join(", ")
                )),
                Some(Err(e)) => problems.push(format!("pipeline[{i}].retry.plugin: {e}")),
                _ => {}
            }
        }
    }
    problems
}

/// Makes an instance of a stage's plugin with its config (`create`), or says why not.
pub type MakeStage<'a> = &'a dyn Fn(Role, &str) -> Result<(), String>;

/// Makes every ingress and retry stage of `pipelines` once, as serving would at the first
/// batch, so that a config the plugin's `create` refuses is reported now, naming the pipeline
/// and stage. Stages whose roles are not known (`roles` gives `None`: still compiling) are
/// skipped; wrong worlds are [`validate`]'s to report.
pub fn create_stages(
    pipelines: &[PipelineConfig],
    roles: RolesOf<'_>,
    make: MakeStage<'_>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut try_make = |at: String, name: &str, wanted: Option<Role>| {
        let Some(Ok(r)) = roles(name) else { return };
        let role = match wanted {
            Some(w) if r.contains(&w) => w,
            Some(_) => return,
            None => match super::stage_role(name, &r) {
                Ok(role) => role,
                Err(_) => return,
            },
        };
        if let Err(e) = make(role, name) {
            problems.push(format!("{at}: {e}"));
        }
    };
    for (i, p) in pipelines.iter().enumerate() {
        for (n, name) in p.ingress.iter().flat_map(|g| g.stages.iter()).enumerate() {
            try_make(format!("pipeline[{i}].ingress.stages[{n}]"), name, None);
        }
        if let Some(retry) = &p.retry {
            try_make(
                format!("pipeline[{i}].retry.plugin"),
                &retry.plugin,
                Some(Role::Retry),
            );
        }
    }
    problems
}

/// For the built-in routers: their config, and the topics it routes to, none covered by the
/// pipeline itself.
fn builtin_loops(p: &PipelineConfig, spec: &PluginSpec) -> Result<(), String> {
    let topics: Vec<String> = match spec.source.as_str() {
        "builtin:topic-exchange" => topics_of::<TopicExchange>(spec)?,
        "builtin:content-router" => topics_of::<ContentRouter>(spec)?,
        _ => return Ok(()),
    };
    match topics.iter().find(|t| p.applies_to(t)) {
        Some(t) => Err(format!(
            "router {:?} routes to {t:?}, a topic this pipeline covers (a routing loop)",
            spec.name
        )),
        None => Ok(()),
    }
}

fn topics_of<R: TopicRouter>(spec: &PluginSpec) -> Result<Vec<String>, String> {
    R::new(&spec.config)
        .map(|r| r.topics().to_vec())
        .map_err(|e| format!("plugins.{}.config: {e}", spec.name))
}
