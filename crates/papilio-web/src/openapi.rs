//! The OpenAPI 3.1 document, generated from the route table ([`crate::routes`]) and the
//! entity definitions, so it lists every route the program serves and cannot drift from them.

use papilio_core::entities;
use papilio_core::schema::{EntityDef, FieldKind};
use papilio_store::documents::Registry;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema,
};

use crate::routes::{Body, api_routes};

fn field_schema(kind: FieldKind) -> Schema {
    let b = ObjectBuilder::new();
    let b = match kind {
        FieldKind::Code { max } | FieldKind::Text { max } => {
            b.schema_type(Type::String).max_length(Some(max))
        }
        FieldKind::Decimal { .. } => b
            .schema_type(Type::String)
            .description(Some("exact decimal as a string, at most 6 places")),
        FieldKind::Int { min, max } => {
            b.schema_type(Type::Integer).minimum(Some(min as f64)).maximum(Some(max as f64))
        }
        FieldKind::Bool => b.schema_type(Type::Boolean),
        FieldKind::Date => b.schema_type(Type::String).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date),
        )),
        FieldKind::Choice(options) => {
            b.schema_type(Type::String).enum_values(Some(options.to_vec()))
        }
        FieldKind::Ref(target) => {
            b.schema_type(Type::String).description(Some(format!("code of a {target}")))
        }
    };
    Schema::Object(b.build())
}

fn entity_schema(def: &EntityDef) -> Schema {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("id", ObjectBuilder::new().schema_type(Type::String).read_only(true))
        .property("version", ObjectBuilder::new().schema_type(Type::Integer));
    for f in def.fields {
        b = b.property(f.name, field_schema(f.kind));
        if f.required {
            b = b.required(f.name);
        }
    }
    Schema::Object(b.build())
}

fn error_schema() -> Schema {
    let field = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("field", ObjectBuilder::new().schema_type(Type::String))
        .property("code", ObjectBuilder::new().schema_type(Type::String))
        .property("message", ObjectBuilder::new().schema_type(Type::String));
    let inner = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("code", ObjectBuilder::new().schema_type(Type::String))
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .property("field", ObjectBuilder::new().schema_type(Type::String))
        .property("fields", utoipa::openapi::schema::ArrayBuilder::new().items(field));
    Schema::Object(ObjectBuilder::new().schema_type(Type::Object).property("error", inner).build())
}

fn json_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// The OpenAPI document of the program with `docs` registered.
pub fn document(docs: &Registry) -> serde_json::Value {
    let mut components = ComponentsBuilder::new().schema("Error", error_schema()).security_scheme(
        "token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    for def in entities::ALL {
        components = components.schema(def.kind, entity_schema(def));
    }

    let mut paths = PathsBuilder::new();
    for route in api_routes(docs) {
        let method = match route.method {
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            _ => HttpMethod::Get,
        };
        let op_id = format!(
            "{}_{}",
            route.method.to_lowercase(),
            route
                .path
                .trim_start_matches("/api/v1/")
                .replace(['/', '{', '}'], "_")
                .trim_matches('_')
        );
        let permission = match &route.resource {
            Some(r) => format!("Needs `{}` on `{r}` (area {}).", route.action.code(), route.area),
            None => "Any signed-in user.".to_owned(),
        };
        let mut op = OperationBuilder::new()
            .operation_id(Some(op_id))
            .summary(Some(route.summary.clone()))
            .description(Some(permission))
            .tag(route.tag.clone());
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
        }
        let body = match &route.body {
            Body::None => None,
            Body::Record(kind) => Some(("application/json", json_ref(kind), String::new())),
            Body::Draft => Some((
                "application/json",
                Schema::Object(ObjectBuilder::new().schema_type(Type::Object).build()).into(),
                "document header and lines".to_owned(),
            )),
            Body::Transition => Some((
                "application/json",
                Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("version", ObjectBuilder::new().schema_type(Type::Integer))
                        .property("comment", ObjectBuilder::new().schema_type(Type::String))
                        .required("version")
                        .build(),
                )
                .into(),
                String::new(),
            )),
            Body::File => Some((
                "text/csv",
                Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()).into(),
                "CSV text, or XLSX, or multipart field `file`".to_owned(),
            )),
            Body::Json(shape) => Some((
                "application/json",
                Schema::Object(ObjectBuilder::new().schema_type(Type::Object).build()).into(),
                (*shape).to_owned(),
            )),
        };
        if let Some((content_type, schema, description)) = body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .description((!description.is_empty()).then_some(description))
                    .content(content_type, ContentBuilder::new().schema(Some(schema)).build())
                    .build(),
            ));
        }
        let ok = if route.list { "A page: {data, page, per_page, total}" } else { "Success" };
        let error = ContentBuilder::new().schema(Some(json_ref("Error"))).build();
        op = op
            .response(
                if route.method == "POST" && route.body != Body::Transition {
                    "201"
                } else {
                    "200"
                },
                ResponseBuilder::new().description(ok),
            )
            .response(
                "401",
                ResponseBuilder::new()
                    .description("Not signed in")
                    .content("application/json", error.clone()),
            )
            .response(
                "403",
                ResponseBuilder::new()
                    .description("Not allowed for your roles")
                    .content("application/json", error.clone()),
            )
            .response(
                "404",
                ResponseBuilder::new()
                    .description("Not found")
                    .content("application/json", error.clone()),
            )
            .response(
                "409",
                ResponseBuilder::new()
                    .description("Stale version, duplicate, in use or busy")
                    .content("application/json", error.clone()),
            )
            .response(
                "422",
                ResponseBuilder::new()
                    .description("Invalid input; names the field and the rule")
                    .content("application/json", error),
            );
        paths = paths.path(route.path.clone(), PathItem::new(method, op));
    }

    let api = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Papilio API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Manufacturing ERP. Authenticate with a session cookie or `Authorization: Bearer <token>`. \
                     Ids and decimals are strings. A POST with `Idempotency-Key` runs once.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some(vec![SecurityRequirement::new("token", Vec::<String>::new())]))
        .build();
    serde_json::to_value(&api).unwrap_or_default()
}
