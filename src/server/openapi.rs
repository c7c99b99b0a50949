//! Each port's OpenAPI 3.1 document (`GET /openapi.json`), generated from what serves the
//! requests: every HTTP route is added with its endpoint-table entry and its handler's
//! `#[utoipa::path]` ([`super::http::Api::route`]), so a route cannot be served without
//! being documented. The statuses every call can get for reasons outside its handler
//! (a bad parameter, admission control, auth, a query string too long, a failure inside)
//! come from its entry's [`Policy`] and the auth mode here, once, as the port's layers
//! answer them.

use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, ResponseBuilder,
    path::Operation,
    schema::{ObjectBuilder, Schema, Type},
    security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
};

use super::table::{Http, Policy};
use crate::{auth::settings::Mode, service::ServiceKind};

/// The security scheme's name in the documents.
const BEARER: &str = "bearer";

/// The JSON body of every error answer: `{"error": "…"}`, its message naming the value
/// at fault and what was expected.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// What went wrong.
    pub error: String,
}

/// An HTTP body of raw bytes (uploads, profiles).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// What a route's `#[utoipa::path]` says of it: path, methods, operation, and the schemas
/// its operation refers to.
#[derive(Clone)]
pub struct Documented {
    pub path: String,
    pub methods: Vec<HttpMethod>,
    operation: Operation,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Documented {
    /// The documentation `#[utoipa::path]` generated for a handler: pass its `__path_<fn>`.
    pub fn of<P: utoipa::Path + utoipa::__dev::SchemaReferences>(_: P) -> Self {
        let mut schemas = Vec::new();
        P::schemas(&mut schemas);
        Self {
            path: P::path(),
            methods: P::methods(),
            operation: P::operation(),
            schemas,
        }
    }

    /// Whether it documents the route of `entry` (the same path and method).
    pub fn describes(&self, entry: &Http) -> bool {
        self.path == entry.path && self.methods.iter().any(|m| method_name(m) == entry.method)
    }
}

/// The method as the endpoint tables write it.
pub fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

/// The document of a port serving `routes` for `service`, under the auth `mode`.
pub fn document<'a>(
    service: ServiceKind,
    routes: impl IntoIterator<Item = (&'a Http, &'a Documented)>,
    mode: Mode,
) -> OpenApi {
    let mut paths = PathsBuilder::new();
    let mut components = ComponentsBuilder::new().schema_from::<ApiError>();
    let mut secured = false;
    for (entry, doc) in routes {
        let mut operation = doc.operation.clone();
        // Named for its route, not its handler's function.
        operation.operation_id = Some(operation_id(entry));
        let needs = entry.policy.access.needs(mode);
        for (status, why) in common_errors(&entry.policy, &operation, needs.is_some()) {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| error_response(why));
        }
        if let Some(role) = needs {
            secured = true;
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            let note = format!("Needs a bearer token with the {role} role (auth.mode: {mode}).");
            operation.description = Some(match operation.description.take() {
                Some(text) => format!("{text}\n\n{note}"),
                None => note,
            });
        }
        for method in &doc.methods {
            paths = paths.path(entry.path, PathItem::new(method.clone(), operation.clone()));
        }
        for (name, schema) in &doc.schemas {
            components = components.schema(name.clone(), schema.clone());
        }
    }
    if secured {
        components = components.security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A token from the auth service (`movieapp login`, or POST /token)",
                    ))
                    .build(),
            ),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(format!("movieapp {service} service"))
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "The HTTP/JSON API of the {service} service's port, with the probes, metrics and this document every port serves. The same port speaks gRPC (see proto/movie.proto)."
                )))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// `GET /metadata` → `getMetadata`.
fn operation_id(entry: &Http) -> String {
    let mut id = entry.method.to_ascii_lowercase();
    let mut upper = true;
    for c in entry.path.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                id.extend(c.to_uppercase());
            } else {
                id.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    id
}

/// The statuses a call can get outside its handler, with why.
fn common_errors(
    policy: &Policy,
    operation: &Operation,
    authenticated: bool,
) -> Vec<(&'static str, &'static str)> {
    let mut errors = vec![(
        "414",
        "The query string is longer than the port accepts (8 KiB)",
    )];
    let takes_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
        || operation.request_body.is_some();
    if takes_input {
        errors.push((
            "400",
            "A parameter or the body is not valid; the message names it and what was expected",
        ));
    }
    if operation.request_body.is_some() {
        errors.push(("413", "The body is larger than the limit"));
    }
    if authenticated {
        errors.push(("401", "No bearer token, or not a valid one"));
        errors.push(("403", "The token's role may not call this"));
    }
    if policy.limited {
        errors.push((
            "429",
            "Refused by admission control (rateLimit, maxConcurrentCalls); Retry-After says when to try again",
        ));
        errors.push(("503", "The service, or one it depends on, cannot serve now"));
        errors.push(("504", "The call's deadline ran out"));
        errors.push(("500", "An internal error; the server's log has the detail"));
    }
    errors
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ApiError")))
                .build(),
        )
        .build()
        .into()
}
