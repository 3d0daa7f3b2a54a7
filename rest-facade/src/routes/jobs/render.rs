//! JSON ⇄ proto for jobs: the job object (absent optionals `null`) and the `PATCH` body, whose
//! allowed keys are fixed by API.md §8 (any other → 400 `unsupported_job_field`). Schedules and
//! values are the service's to validate.

use caduceus_proto::v1::{Job, Repeat, Schedule, StringList, UpdateJobRequest};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::routes::responses::{FieldError, opt_str};

/// A job object.
#[derive(Debug, Serialize)]
pub(crate) struct JobJson<'a> {
    id: &'a str,
    name: &'a str,
    prompt: &'a str,
    skills: &'a [String],
    schedule: Option<ScheduleJson<'a>>,
    repeat: Option<RepeatJson>,
    enabled: bool,
    state: &'a str,
    created_at: f64,
    next_run_at: Option<f64>,
    last_run_at: Option<f64>,
    last_status: Option<&'a str>,
    last_error: Option<&'a str>,
    last_run_id: Option<&'a str>,
    deliver: Option<&'a str>,
}

/// `schedule {kind, display}`.
#[derive(Debug, Serialize)]
struct ScheduleJson<'a> {
    kind: &'a str,
    display: &'a str,
}

/// `repeat {times, completed}`; `times` null = unlimited.
#[derive(Debug, Serialize)]
struct RepeatJson {
    times: Option<i64>,
    completed: i64,
}

/// The JSON object for a proto `Job`.
pub(crate) fn job_json(job: &Job) -> JobJson<'_> {
    JobJson {
        id: &job.id,
        name: &job.name,
        prompt: &job.prompt,
        skills: &job.skills,
        schedule: job
            .schedule
            .as_ref()
            .map(|Schedule { kind, display }| ScheduleJson { kind, display }),
        repeat: job
            .repeat
            .as_ref()
            .map(|Repeat { times, completed }| RepeatJson {
                times: *times,
                completed: *completed,
            }),
        enabled: job.enabled,
        state: &job.state,
        created_at: job.created_at,
        next_run_at: job.next_run_at,
        last_run_at: job.last_run_at,
        last_status: job.last_status.as_deref(),
        last_error: job.last_error.as_deref(),
        last_run_id: job.last_run_id.as_deref(),
        deliver: job.deliver.as_deref(),
    }
}

/// The keys a `PATCH /api/jobs/{id}` body may carry.
const PATCHABLE: &[&str] = &[
    "name", "schedule", "prompt", "skills", "repeat", "enabled", "deliver",
];

/// The proto update for a `PATCH` body: unknown keys → 400 `unsupported_job_field` naming the
/// key; wrong JSON types → 400 naming the field; `null` leaves the field unchanged.
pub(crate) fn update_request(
    id: String,
    body: &Map<String, Value>,
) -> Result<UpdateJobRequest, FieldError> {
    if let Some(key) = body.keys().find(|key| !PATCHABLE.contains(&key.as_str())) {
        return Err(FieldError {
            code: "unsupported_job_field",
            message: format!(
                "Field '{key}' cannot be updated; allowed: {}.",
                PATCHABLE.join(", ")
            ),
            param: key.clone(),
        });
    }
    let skills = match body.get("skills") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => Some(StringList {
            values: values
                .iter()
                .enumerate()
                .map(|(i, value)| match value {
                    Value::String(skill) => Ok(skill.clone()),
                    _ => Err(FieldError::wrong_type(format!("skills[{i}]"), "a string")),
                })
                .collect::<Result<_, _>>()?,
        }),
        Some(_) => return Err(FieldError::wrong_type("skills", "an array of strings")),
    };
    let repeat = match body.get("repeat") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .ok_or_else(|| FieldError::wrong_type("repeat", "an integer"))?,
        ),
    };
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(enabled)) => Some(*enabled),
        Some(_) => return Err(FieldError::wrong_type("enabled", "a boolean")),
    };
    Ok(UpdateJobRequest {
        id,
        name: opt_str(body, "name", "")?,
        schedule: opt_str(body, "schedule", "")?,
        prompt: opt_str(body, "prompt", "")?,
        skills,
        repeat,
        enabled,
        deliver: opt_str(body, "deliver", "")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("object expected, got {other}"),
        }
    }

    #[test]
    fn full_job_renders_in_order() {
        let job = Job {
            id: "0123456789ab".into(),
            name: "n".into(),
            prompt: "p".into(),
            skills: vec!["s".into()],
            schedule: Some(Schedule {
                kind: "interval".into(),
                display: "every 30m".into(),
            }),
            repeat: Some(Repeat {
                times: Some(3),
                completed: 1,
            }),
            enabled: true,
            state: "scheduled".into(),
            created_at: 1.5,
            next_run_at: Some(2.5),
            last_run_at: Some(1.75),
            last_status: Some("completed".into()),
            last_error: Some("e".into()),
            last_run_id: Some("run_1".into()),
            deliver: Some("local".into()),
        };
        assert_eq!(
            serde_json::to_string(&job_json(&job)).unwrap(),
            concat!(
                r#"{"id":"0123456789ab","name":"n","prompt":"p","skills":["s"],"#,
                r#""schedule":{"kind":"interval","display":"every 30m"},"#,
                r#""repeat":{"times":3,"completed":1},"enabled":true,"state":"scheduled","#,
                r#""created_at":1.5,"next_run_at":2.5,"last_run_at":1.75,"last_status":"completed","#,
                r#""last_error":"e","last_run_id":"run_1","deliver":"local"}"#
            )
        );
    }

    #[test]
    fn absent_optionals_are_null() {
        let job = Job {
            repeat: Some(Repeat {
                times: None,
                completed: 0,
            }),
            ..Job::default()
        };
        assert_eq!(
            serde_json::to_value(job_json(&job)).unwrap(),
            json!({"id": "", "name": "", "prompt": "", "skills": [], "schedule": null,
                   "repeat": {"times": null, "completed": 0}, "enabled": false, "state": "",
                   "created_at": 0.0, "next_run_at": null, "last_run_at": null,
                   "last_status": null, "last_error": null, "last_run_id": null, "deliver": null})
        );
    }

    #[test]
    fn patch_maps_every_allowed_key() {
        let request = update_request(
            "j".into(),
            &object(
                json!({"name": "n", "schedule": "1h", "prompt": "p", "skills": ["a", "b"],
                           "repeat": 2, "enabled": false, "deliver": "origin"}),
            ),
        )
        .unwrap();
        assert_eq!(
            request,
            UpdateJobRequest {
                id: "j".into(),
                name: Some("n".into()),
                schedule: Some("1h".into()),
                prompt: Some("p".into()),
                skills: Some(StringList {
                    values: vec!["a".into(), "b".into()]
                }),
                repeat: Some(2),
                enabled: Some(false),
                deliver: Some("origin".into()),
            }
        );
        let empty = update_request("j".into(), &object(json!({"name": null}))).unwrap();
        assert_eq!(
            empty,
            UpdateJobRequest {
                id: "j".into(),
                ..UpdateJobRequest::default()
            }
        );
    }

    #[test]
    fn patch_errors_name_the_field() {
        let err =
            update_request("j".into(), &object(json!({"name": "n", "state": "x"}))).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_str()),
            ("unsupported_job_field", "state")
        );
        for (body, param) in [
            (json!({"name": 1}), "name"),
            (json!({"skills": "a"}), "skills"),
            (json!({"skills": ["a", 2]}), "skills[1]"),
            (json!({"repeat": "2"}), "repeat"),
            (json!({"repeat": 1.5}), "repeat"),
            (json!({"enabled": "yes"}), "enabled"),
        ] {
            let err = update_request("j".into(), &object(body.clone())).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_str()),
                ("invalid_request", param),
                "{body}"
            );
        }
    }
}
