//! What forms offer, from the API: the places (projects, registries, collections) that exist,
//! and for each event kind the variables a template will get.

use serde_json::{Value, json};

use crate::common::{Server, create_automation, expect_status, post_event};

#[tokio::test]
async fn places_come_from_automations_and_events_of_the_entity_only() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let body = json!({"name": "a", "scope": {"type": "collection", "registry": "models",
                                              "collection": "churn"},
                      "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "no-op"}});
    create_automation(&admin, body).await;
    let body = json!({"name": "b", "scope": {"type": "project", "project": "train"},
                      "event": {"type": "RUN_STATE"}, "action": {"type": "no-op"}});
    create_automation(&admin, body).await;
    let event = json!({"type": "CREATE_ARTIFACT", "entity": "default", "project": "vision",
                       "collection": "resnet", "version": "v1"});
    post_event(&admin, &event).await;
    let places = expect_status(&admin.get("/v1/places").await, 200).clone();
    assert_eq!(places["projects"], json!(["train", "vision"]));
    assert_eq!(places["registries"], json!(["models"]));
    assert_eq!(
        places["collections"],
        json!([
            {"project": null, "registry": "models", "collection": "churn"},
            {"project": "vision", "registry": null, "collection": "resnet"},
        ])
    );
    // Another entity sees none of them.
    let rival = admin.post("/v1/entities", &json!({"name": "rival"})).await;
    let rival = expect_status(&rival, 201);
    let other = server.client(rival["admin_key"]["key"].as_str().unwrap());
    let places = expect_status(&other.get("/v1/places").await, 200).clone();
    assert_eq!(
        places,
        json!({"projects": [], "registries": [], "collections": []})
    );
}

#[tokio::test]
async fn each_trigger_names_its_event_type_and_each_variable_the_types_that_set_it() {
    let server = Server::ingest_only();
    let catalog = expect_status(&server.admin().get("/v1/triggers").await, 200).clone();
    let trigger = |kind: &str| -> Value {
        catalog["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == kind)
            .unwrap()["event_type"]
            .clone()
    };
    assert_eq!(trigger("RUN_METRIC_ZSCORE"), "RUN_METRIC");
    assert_eq!(trigger("ADD_ARTIFACT_ALIAS"), "ADD_ARTIFACT_ALIAS");
    let variable = |name: &str| -> Vec<String> {
        let found = catalog["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap();
        serde_json::from_value(found["event_types"].clone()).unwrap()
    };
    assert_eq!(variable("alias"), ["ADD_ARTIFACT_ALIAS"]);
    assert_eq!(variable("metric_value"), ["RUN_METRIC"]);
    assert!(variable("event_id").contains(&"INTEGRATION_DISABLED".to_string()));
    assert!(!variable("project_name").contains(&"INTEGRATION_DISABLED".to_string()));
}
