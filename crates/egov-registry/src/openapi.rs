//! The OpenAPI 3 description of a dataset's reading service, as the
//! gateway publishes it (getOpenAPI) and uses it: its paths are the only
//! calls the service takes, so a client granted the reading service can
//! search, read and ask whether a record exists, and nothing else.
//! Paths are relative to the dataset's Data API,
//! `/registry/data/{dataset}/{version}`.

use serde_json::{Value, json};

/// The reading service of `dataset` at `version`, as JSON.
pub fn reading_service(dataset: &str, version: &str) -> String {
    let headers = json!([
        { "name": "X-Road-UserId", "in": "header", "required": true,
          "description": "Who is acting, e.g. VN001082005566", "schema": { "type": "string" } },
        { "name": "X-Road-Issue", "in": "header", "required": true,
          "description": "Why: a purpose granted to the client, optionally `:` and a case reference",
          "schema": { "type": "string" } },
    ]);
    let query_body = json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "required": ["query"],
            "properties": { "query": { "type": "object", "required": ["content"],
                "properties": { "content": { "type": "object",
                    "description": "Field values the record must have; the key field finds one record" } } } }
        } } }
    });
    let errors = json!({
        "400": { "description": "Bad request, or no purpose stated (`{\"code\", \"message\"}`)" },
        "403": { "description": "The purpose is not granted to the client for this dataset" },
    });
    let with = |mut responses: Value| {
        if let (Some(map), Some(extra)) = (responses.as_object_mut(), errors.as_object()) {
            map.extend(extra.clone());
        }
        responses
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("Base registry: {dataset} (reading)"),
            "version": version,
            "description": "GovStack Digital Registries Data API, reading part. Every person read is recorded in the citizen's data tracker.",
        },
        "paths": {
            "/": { "get": {
                "summary": "Search records",
                "parameters": [headers[0], headers[1],
                    { "name": "search", "in": "query", "schema": { "type": "string" } },
                    { "name": "page", "in": "query", "schema": { "type": "integer", "minimum": 1 } },
                    { "name": "pageSize", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100 } }],
                "responses": with(json!({ "200": { "description": "A page of records" } })),
            } },
            "/read": { "post": {
                "summary": "Read one record",
                "parameters": headers,
                "requestBody": query_body,
                "responses": with(json!({ "200": { "description": "The record's content" }, "404": { "description": "No such record" } })),
            } },
            "/exists": { "post": {
                "summary": "Whether a record exists",
                "parameters": headers,
                "requestBody": query_body,
                "responses": with(json!({ "200": { "description": "`{\"answer\": {\"status\": bool}}`" } })),
            } },
        },
    })
    .to_string()
}
