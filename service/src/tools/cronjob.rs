//! The `cronjob` tool: lets the model create and list scheduled jobs (API.md §8, §9) through the
//! same core as `/api/jobs` (`crate::jobs`), so schedules and fields are validated identically;
//! a validation failure comes back to the model as an error result naming the field. Firing is
//! the in-server scheduler's job.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, function_definition};
use crate::error::Error;
use crate::jobs::{self, JobSpec};
use crate::store::JobRecord;

pub(crate) struct CronJob;

#[async_trait]
impl Tool for CronJob {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Schedule an agent prompt to run later or repeatedly on this server, or list the \
             scheduled jobs. Schedules: a delay (`30m`, `2h`, `1d`) runs once; `every 30m` \
             repeats; a 5- or 6-field cron expression (UTC); or an ISO-8601 time. Scheduled runs \
             have no human to approve risky commands, so those are denied.",
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["create", "list"]},
                    "name": {"type": "string", "description": "Job name (create)."},
                    "schedule": {"type": "string", "description": "When to run (create)."},
                    "prompt": {"type": "string", "description": "What the agent should do (create)."},
                    "skills": {"type": "array", "items": {"type": "string"},
                               "description": "Skills the run should read first (create)."},
                    "repeat": {"type": "integer", "minimum": 1,
                               "description": "Total runs for a repeating schedule (create)."},
                    "include_disabled": {"type": "boolean",
                                         "description": "Also list paused and completed jobs (list)."}
                },
                "required": ["action"]
            }),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        run(ctx, &args).await.unwrap_or_else(ToolOutput::error)
    }
}

async fn run(ctx: &ToolContext, value: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(value)?;
    match args.non_empty("action")? {
        "create" => {
            let skills = match value.get("skills") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| "`skills` must be an array of strings".to_owned())
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`skills` must be an array of strings".to_owned()),
            };
            let repeat = args
                .opt_u64("repeat")?
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            let spec = JobSpec {
                name: args.string("name")?.to_owned(),
                schedule: args.string("schedule")?.to_owned(),
                prompt: args.string("prompt")?.to_owned(),
                skills,
                repeat,
                deliver: None,
            };
            let job = jobs::create(&ctx.store, spec).await.map_err(describe)?;
            Ok(ToolOutput::json(&json!({"created": summary(&job)})))
        }
        "list" => {
            let include = args.opt_bool("include_disabled")?.unwrap_or(false);
            let jobs = jobs::list(&ctx.store, include).await.map_err(describe)?;
            let jobs: Vec<Value> = jobs.iter().map(summary).collect();
            Ok(ToolOutput::json(&json!({"jobs": jobs})))
        }
        other => Err(format!("unknown action {other:?}: use create or list")),
    }
}

/// What the model needs to know about a job.
fn summary(job: &JobRecord) -> Value {
    json!({
        "id": job.id,
        "name": job.name,
        "schedule": job.schedule_display,
        "kind": job.schedule_kind,
        "state": job.state,
        "next_run_at": job.next_run_at,
        "repeat": {"times": job.repeat_times, "completed": job.repeat_completed},
        "last_status": job.last_status,
    })
}

/// A core error as text for the model, naming the field at fault.
fn describe(error: Error) -> String {
    match error {
        Error::InvalidArgument {
            message,
            param: Some(param),
            ..
        } => format!("{param}: {message}"),
        Error::Internal(_) => "the job store failed; try again later".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::approvals::NoApprovalChannel;
    use crate::config::{Config, Overrides};
    use crate::store::Store;

    async fn context() -> (tempfile::TempDir, ToolContext) {
        let home = tempfile::tempdir().unwrap();
        let env = HashMap::from([(
            "API_SERVER_KEY".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        )]);
        let overrides = Overrides {
            home: Some(home.path().to_path_buf()),
            ..Default::default()
        };
        let config = Config::load(&env, &overrides).unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", home.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let ctx = ToolContext {
            session_id: "s1".into(),
            session_key: None,
            config: Arc::new(config),
            store,
            cancel: tokio_util::sync::CancellationToken::new(),
            approvals: Arc::new(NoApprovalChannel),
        };
        (home, ctx)
    }

    #[tokio::test]
    async fn creates_and_lists_jobs_through_the_core() {
        let (_home, ctx) = context().await;
        let created = CronJob
            .call(
                &ctx,
                json!({"action": "create", "name": "digest", "schedule": "every 2h",
                       "prompt": "summarise", "skills": ["news"], "repeat": 3}),
            )
            .await;
        assert!(!created.is_error, "{}", created.content);
        let value: Value = serde_json::from_str(&created.content).unwrap();
        assert_eq!(value["created"]["kind"], "interval");
        assert_eq!(value["created"]["repeat"]["times"], 3);
        let listed = CronJob.call(&ctx, json!({"action": "list"})).await;
        let value: Value = serde_json::from_str(&listed.content).unwrap();
        assert_eq!(value["jobs"][0]["name"], "digest");
        let stored = ctx.store.list_jobs(true).await.unwrap();
        assert_eq!(stored[0].skills, ["news"]);
    }

    #[tokio::test]
    async fn bad_arguments_are_error_results_naming_the_field() {
        let (_home, ctx) = context().await;
        for (args, needle) in [
            (
                json!({"action": "create", "name": "x", "schedule": "someday", "prompt": "p"}),
                "schedule",
            ),
            (
                json!({"action": "create", "name": "", "schedule": "1h", "prompt": "p"}),
                "name",
            ),
            (
                json!({"action": "create", "name": "x", "schedule": "1h"}),
                "prompt",
            ),
            (
                json!({"action": "create", "name": "x", "schedule": "1h", "prompt": "p", "skills": "a"}),
                "skills",
            ),
            (json!({"action": "delete"}), "unknown action"),
        ] {
            let output = CronJob.call(&ctx, args.clone()).await;
            assert!(output.is_error, "{args}");
            assert!(
                output.content.contains(needle),
                "{args}: {}",
                output.content
            );
        }
        assert!(ctx.store.list_jobs(true).await.unwrap().is_empty());
    }
}
