//! The document's operation ids and the links between operations: an id is the operation's tag
//! and its handler (`automations_create`), unique in the document; a link says which field of a
//! creating answer another operation takes (a created automation's `id` is what
//! `automations_read` reads). Clients follow links, and so does a stateful test run.

use serde_json::{Map, Value, json};

/// An answer of operation `from` with `status` names what each operation of `to` takes: each
/// parameter is a runtime expression (`$response.body#/id`, `$request.path.entity`).
struct Link {
    from: &'static str,
    status: &'static str,
    to: &'static [&'static str],
    parameters: &'static [(&'static str, &'static str)],
}

const LINKS: &[Link] = &[
    Link {
        from: "automations_create",
        status: "201",
        to: &[
            "automations_read",
            "automations_update",
            "automations_remove",
            "automations_executions",
        ],
        parameters: AUTOMATION,
    },
    Link {
        from: "integrations_create",
        status: "201",
        to: &[
            "integrations_read",
            "integrations_update",
            "integrations_remove",
        ],
        parameters: INTEGRATION,
    },
    Link {
        from: "secrets_set",
        status: "201",
        to: &["secrets_remove"],
        parameters: SECRET,
    },
    Link {
        from: "events_ingest_one",
        status: "202",
        to: &["events_read"],
        parameters: EVENT,
    },
    Link {
        from: "launch_save_job",
        status: "201",
        to: &["launch_read_job", "launch_job_versions"],
        parameters: JOB,
    },
    Link {
        from: "launch_create_queue",
        status: "201",
        to: &["launch_enqueue", "launch_list_items"],
        parameters: QUEUE,
    },
    Link {
        from: "launch_enqueue",
        status: "201",
        to: &[
            "launch_read_item",
            "launch_read_output",
            "launch_cancel_item",
        ],
        parameters: ITEM,
    },
    Link {
        from: "integrations_recover",
        status: "202",
        to: &["tasks_read"],
        parameters: TASK,
    },
    Link {
        from: "executions_retry_many",
        status: "202",
        to: &["tasks_read"],
        parameters: TASK,
    },
];

const TASK: &[(&str, &str)] = &[("id", "$response.body#/id")];
const AUTOMATION: &[(&str, &str)] = &[("id", "$response.body#/id")];
const INTEGRATION: &[(&str, &str)] = &[
    ("entity", "$request.path.entity"),
    ("name", "$response.body#/name"),
];
const SECRET: &[(&str, &str)] = &[
    ("entity", "$request.path.entity"),
    ("name", "$request.path.name"),
];
const EVENT: &[(&str, &str)] = &[("id", "$response.body#/event_id")];
const JOB: &[(&str, &str)] = &[
    ("entity", "$request.path.entity"),
    ("name", "$request.path.name"),
];
const QUEUE: &[(&str, &str)] = &[
    ("entity", "$request.path.entity"),
    ("queue", "$response.body#/name"),
];
const ITEM: &[(&str, &str)] = &[
    ("entity", "$request.path.entity"),
    ("id", "$response.body#/id"),
];

/// Makes every operation id `{tag}_{handler}`, then adds [`LINKS`] to the answers they start
/// from.
pub(super) fn apply(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let tag = operation["tags"][0].as_str().map(str::to_string);
            if let (Some(tag), Some(id)) = (tag, operation["operationId"].as_str()) {
                operation["operationId"] = json!(format!("{tag}_{id}"));
            }
        }
    }
    for link in LINKS {
        let Some(answer) = answer(paths, link.from, link.status) else {
            continue;
        };
        let parameters: Map<String, Value> = link
            .parameters
            .iter()
            .map(|(name, expression)| (name.to_string(), json!(expression)))
            .collect();
        let Some(answer) = answer.as_object_mut() else {
            continue;
        };
        let links = answer.entry("links").or_insert_with(|| json!({}));
        for to in link.to {
            links[*to] = json!({"operationId": to, "parameters": parameters});
        }
    }
}

/// The answer `status` of the operation whose id is `id`.
fn answer<'a>(paths: &'a mut Map<String, Value>, id: &str, status: &str) -> Option<&'a mut Value> {
    paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|operation| operation["operationId"] == id)
        .and_then(|operation| operation.get_mut("responses")?.get_mut(status))
}
