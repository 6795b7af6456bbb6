//! The API documentation page: the OpenAPI description rendered on the
//! server, so it needs no script and no CDN and obeys the strict CSP.

use askama::Template;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr, Required};

use crate::i18n::ShellText;
use crate::layout::PageMeta;

/// One operation as the page shows it.
#[derive(Debug)]
pub struct OperationView {
    pub method: &'static str,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub parameters: Vec<ParameterView>,
    pub responses: Vec<(String, String)>,
}

/// One parameter as the page shows it.
#[derive(Debug)]
pub struct ParameterView {
    pub name: String,
    pub location: &'static str,
    pub required: bool,
    pub description: String,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
pub(crate) struct ApiDocsPage {
    pub(crate) page: PageMeta,
    pub(crate) shell: &'static ShellText,
    pub(crate) operations: Vec<OperationView>,
}

/// Flattens the description into the operations, in path order.
pub fn operations(openapi: &OpenApi) -> Vec<OperationView> {
    let mut views = Vec::new();
    for (path, item) in &openapi.paths.paths {
        let methods = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                views.push(view(method, path, operation));
            }
        }
    }
    views
}

fn view(method: &'static str, path: &str, operation: &Operation) -> OperationView {
    let parameters = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) => Some(ParameterView {
                name: parameter.name.clone(),
                location: match parameter.parameter_in {
                    ParameterIn::Path => "path",
                    ParameterIn::Header => "header",
                    ParameterIn::Cookie => "cookie",
                    _ => "query",
                },
                required: matches!(parameter.required, Required::True),
                description: parameter.description.clone().unwrap_or_default(),
            }),
            RefOr::Ref(_) => None,
        })
        .collect();
    let responses = operation
        .responses
        .responses
        .iter()
        .map(|(status, response)| {
            let description = match response {
                RefOr::T(response) => response.description.clone(),
                RefOr::Ref(reference) => reference.ref_location.clone(),
            };
            (status.clone(), description)
        })
        .collect();
    OperationView {
        method,
        path: path.to_owned(),
        summary: operation.summary.clone().unwrap_or_default(),
        description: operation.description.clone().unwrap_or_default(),
        parameters,
        responses,
    }
}
