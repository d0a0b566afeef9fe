//! The HTTP routes. Each handler reads: extract → one store call → response.

/// A page type of a list: `items` and `next_cursor`. Defined before the route modules so they can use it.
macro_rules! list_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; null on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<Page<$item>> for $name {
            fn from(page: Page<$item>) -> Self {
                Self { items: page.items, next_cursor: page.next_cursor }
            }
        }
    };
}

mod clients;
mod events;
mod follow_ups;
mod import;
mod indicators;
mod organizations;
mod plans;
pub mod problems;
mod reports;
mod service;
mod webhooks;

use planledger_domain::activity::Activity;
use planledger_domain::goal::GoalView;
use planledger_domain::organization::OrganizationView;
use planledger_domain::plan::PlanView;
use planledger_persistence::Page;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(service::healthz)
        .service(service::readyz)
        .service(service::metrics)
        .service(organizations::list)
        .service(organizations::create)
        .service(organizations::get)
        .service(organizations::update)
        .service(plans::list)
        .service(plans::create)
        .service(plans::get)
        .service(plans::update)
        .service(plans::transition)
        .service(plans::changelog)
        .service(plans::history)
        .service(plans::list_goals)
        .service(plans::create_goal)
        .service(plans::get_goal)
        .service(plans::update_goal)
        .service(plans::list_activities)
        .service(plans::create_activity)
        .service(plans::get_activity)
        .service(plans::update_activity)
        .service(events::list)
        .service(events::verify)
        .service(events::stream)
        .service(import::import_plans)
        .service(import::export_plans)
        .service(reports::overdue_activities)
        .service(reports::status)
        .service(reports::county)
        .service(reports::due)
        .service(clients::create)
        .service(clients::list)
        .service(clients::revoke)
        .service(clients::token)
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get)
        .service(webhooks::delete)
        .service(webhooks::replay)
        .service(webhooks::deliveries)
        .service(follow_ups::list)
        .service(follow_ups::create)
        .service(follow_ups::get)
        .service(follow_ups::update)
        .service(follow_ups::transition)
        .service(indicators::list)
        .service(indicators::create)
        .service(indicators::import_kolada)
        .service(indicators::get)
        .service(indicators::update)
        .service(indicators::values)
        .service(indicators::put_values)
        .service(indicators::comparison)
        .service(problems::page);
}

list_type!(
    /// A page of organizations.
    OrganizationList,
    OrganizationView
);
list_type!(
    /// A page of plans.
    PlanList,
    PlanView
);
list_type!(
    /// A page of goals.
    GoalList,
    GoalView
);
list_type!(
    /// A page of activities.
    ActivityList,
    Activity
);

/// A link from an answer: `(name, operationId, [(parameter, expression)], description)`.
type LinkSpec<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

/// A `201 Created` answer of `schema`, with `ETag` and `Location`, and the links a client (or a
/// stateful test) follows from it.
fn created_with_links(
    schema: &str,
    links: &[LinkSpec<'_>],
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::link::LinkBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let text = || {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .build()
    };
    let mut response = ResponseBuilder::new()
        .description("Created")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .header("ETag", text())
        .header("Location", text());
    for (name, operation, parameters, description) in links {
        let mut link = LinkBuilder::new().description(*description);
        for (parameter, expression) in *parameters {
            link = link.parameter(*parameter, *expression);
        }
        let mut link = link.build();
        // utoipa 5 writes `operation_id`; OpenAPI's name is `operationId`.
        link.extensions
            .get_or_insert_with(Default::default)
            .insert("operationId".to_owned(), (*operation).into());
        response = response.link(*name, link);
    }
    std::collections::BTreeMap::from([("201".to_owned(), response.build().into())])
}

/// `POST /v1/plans`: the plan, and where to go from it.
pub struct PlanCreated;

impl utoipa::IntoResponses for PlanCreated {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        created_with_links(
            "PlanView",
            &[
                (
                    "GetPlan",
                    "get_plan",
                    &[("id", "$response.body#/id")],
                    "The plan just created.",
                ),
                (
                    "TransitionPlan",
                    "transition_plan",
                    &[("id", "$response.body#/id"), ("If-Match", "$response.header.ETag")],
                    "Move the new draft on, naming the revision just read.",
                ),
                (
                    "AddGoal",
                    "create_goal",
                    &[("id", "$response.body#/id")],
                    "Add a goal to the plan.",
                ),
            ],
        )
    }
}

/// `POST /v1/plans/{id}/goals`: the goal, and where to go from it.
pub struct GoalCreated;

impl utoipa::IntoResponses for GoalCreated {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        created_with_links(
            "GoalView",
            &[
                (
                    "GetGoal",
                    "get_goal",
                    &[("id", "$response.body#/id")],
                    "The goal just created.",
                ),
                (
                    "AddActivity",
                    "create_activity",
                    &[("id", "$response.body#/id")],
                    "Add an activity to the goal.",
                ),
            ],
        )
    }
}

/// `POST /v1/goals/{id}/activities`: the activity, and where to go from it.
pub struct ActivityCreated;

impl utoipa::IntoResponses for ActivityCreated {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        created_with_links(
            "Activity",
            &[
                (
                    "GetActivity",
                    "get_activity",
                    &[("id", "$response.body#/id")],
                    "The activity just created.",
                ),
                (
                    "UpdateActivity",
                    "update_activity",
                    &[("id", "$response.body#/id"), ("If-Match", "$response.header.ETag")],
                    "Change the activity, naming the revision just read.",
                ),
            ],
        )
    }
}
