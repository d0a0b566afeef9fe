//! The authorization matrix over real HTTP: every endpoint × caller (no
//! token, or a token holding one role) × where the caller's organization
//! sits relative to the resource's owner × the resource's state, each
//! answer compared with what the documented rules say — on both backends.
//!
//! The expected answers come from [`expected`], written from the rules in
//! API.md and the OpenAPI description, not from the server's permission
//! function: a token acts within its organization and the organization's
//! descendants; members of a network act on what the network owns (read,
//! edit, approve — not administer); each action needs its own role; public
//! material (plans out of draft, their goals and activities) is readable by
//! anyone; a resource the caller may not see answers 404, one it may see but
//! not change 403, and no token where one is needed 401. API clients are
//! administrative: an admin registers, lists and revokes those of the
//! organizations it administers (its own and those below it, not a network
//! it is a member of), and outside that scope a client does not exist.
//!
//! Every write is checked for what it left behind: a refused write must not
//! append an event nor change the resource's revision or status, and an
//! allowed one must append its event. Each case's token has its own subject,
//! so every event is traced to the case whose actor wrote it; that lets the
//! reads and the refused writes of one endpoint run all at once (a few
//! seconds per backend), while allowed writes run one by one — transitions
//! on fresh plans and revocations of fresh clients, so that the shared
//! fixtures keep their state.

use futures::future::join_all;
use planledger_domain::permissions::Role;
use planledger_tests::{backend_tests, TestApp, AUDIENCE, ISSUER, JWT_SECRET};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------- the matrix

/// Who calls: no token, or a token of the caller's organization holding one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Reader,
    Editor,
    Approver,
    Admin,
}

impl Caller {
    const ALL: [Caller; 5] = [
        Caller::Anonymous,
        Caller::Reader,
        Caller::Editor,
        Caller::Approver,
        Caller::Admin,
    ];

    fn role(self) -> Option<Role> {
        match self {
            Caller::Anonymous => None,
            Caller::Reader => Some(Role::Reader),
            Caller::Editor => Some(Role::Editor),
            Caller::Approver => Some(Role::Approver),
            Caller::Admin => Some(Role::Admin),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Reader => "reader",
            Caller::Editor => "editor",
            Caller::Approver => "approver",
            Caller::Admin => "admin",
        }
    }
}

/// Where the caller's organization sits relative to the resource's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// The caller's organization owns the resource (municipality A).
    Own,
    /// The caller is a unit under the owner (a unit of A).
    Child,
    /// The caller is the owner's parent (the region above A).
    Parent,
    /// The caller is the owner's sibling (municipality B, beside A).
    Sibling,
    /// A network owns the resource and the caller (A) is one of its members.
    Member,
}

impl Relation {
    const ALL: [Relation; 5] = [
        Relation::Own,
        Relation::Child,
        Relation::Parent,
        Relation::Sibling,
        Relation::Member,
    ];

    fn name(self) -> &'static str {
        match self {
            Relation::Own => "own",
            Relation::Child => "child",
            Relation::Parent => "parent",
            Relation::Sibling => "sibling",
            Relation::Member => "member",
        }
    }
}

/// The state of the plan a case is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Draft,
    Adopted,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Adopted => "adopted",
        }
    }
}

const PLAN_STATES: &[Option<State>] = &[Some(State::Draft), Some(State::Adopted)];
const DRAFT: &[Option<State>] = &[Some(State::Draft)];
const ADOPTED: &[Option<State>] = &[Some(State::Adopted)];
const STATELESS: &[Option<State>] = &[None];

/// Every endpoint there is today; transitions one per legal target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ListOrganizations,
    CreateOrganization,
    GetOrganization,
    PatchOrganization,
    ListPlans,
    CreatePlan,
    GetPlan,
    PatchPlan,
    Adopt,
    Withdraw,
    Revise,
    Close,
    Supersede,
    Changelog,
    History,
    ListGoals,
    CreateGoal,
    GetGoal,
    PatchGoal,
    ListActivities,
    CreateActivity,
    GetActivity,
    PatchActivity,
    Events,
    VerifyEvents,
    ImportPlans,
    CreateClient,
    ListClients,
    RevokeClient,
    /// A plan's follow-up reports, looked for its approved report.
    ListFollowUps,
    /// A plan's follow-up reports, looked for its draft report.
    ListFollowUpDrafts,
    CreateFollowUp,
    /// The plan's approved report.
    GetFollowUp,
    /// The plan's draft report.
    GetFollowUpDraft,
    PatchFollowUp,
    SubmitFollowUp,
    ApproveFollowUp,
    ReturnFollowUp,
    ListIndicators,
    CreateIndicator,
    GetIndicator,
    PatchIndicator,
    ListValues,
    PutValues,
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    DeleteWebhook,
    ReplayWebhook,
    ListDeliveries,
    ExportPlans,
    OverdueActivities,
}

/// The documented rule an endpoint follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The organization directory: readable with any token that has a role.
    Directory,
    /// Managing organizations: `admin` within the organization's hierarchy.
    Administer,
    /// Adding plans (directly or by import) or indicators to an organization: `editor` acting for it.
    AddPlans,
    /// Reading a plan or what is under it, or an indicator and its values.
    Read,
    /// A plan's follow-up list looked for a report not yet approved: answered
    /// as the plan is read, but only those acting for the owner see the report.
    ReadDrafts,
    /// Reading material that is never public (a report not yet approved):
    /// only those acting for the owner see it.
    ReadScoped,
    /// Changing a plan or what is under it, or an indicator and its values:
    /// this role, acting for the owner.
    Change(Role),
    /// Changing material that is never public (a report not yet approved):
    /// this role, acting for the owner; hidden from everyone else.
    ChangeScoped(Role),
    /// The overdue-activities report: anyone, listing the activities of plans
    /// in force (which are public material).
    InForce,
    /// The plan list: answers everyone (public read is on) with what each may read.
    PlanList,
    /// The event feed: any token with a role, showing the events of its scope.
    Feed,
    /// The API-client list: `admin` only, showing the clients of the organizations it administers.
    ClientList,
    /// An administrative resource (an API client, a webhook): `admin` administering
    /// its organization; outside the organizations a token administers, it is hidden.
    Administrative,
}

impl Endpoint {
    const ALL: [Endpoint; 52] = [
        Endpoint::ListOrganizations,
        Endpoint::CreateOrganization,
        Endpoint::GetOrganization,
        Endpoint::PatchOrganization,
        Endpoint::ListPlans,
        Endpoint::CreatePlan,
        Endpoint::GetPlan,
        Endpoint::PatchPlan,
        Endpoint::Adopt,
        Endpoint::Withdraw,
        Endpoint::Revise,
        Endpoint::Close,
        Endpoint::Supersede,
        Endpoint::Changelog,
        Endpoint::History,
        Endpoint::ListGoals,
        Endpoint::CreateGoal,
        Endpoint::GetGoal,
        Endpoint::PatchGoal,
        Endpoint::ListActivities,
        Endpoint::CreateActivity,
        Endpoint::GetActivity,
        Endpoint::PatchActivity,
        Endpoint::Events,
        Endpoint::VerifyEvents,
        Endpoint::ImportPlans,
        Endpoint::CreateClient,
        Endpoint::ListClients,
        Endpoint::RevokeClient,
        Endpoint::ListFollowUps,
        Endpoint::ListFollowUpDrafts,
        Endpoint::CreateFollowUp,
        Endpoint::GetFollowUp,
        Endpoint::GetFollowUpDraft,
        Endpoint::PatchFollowUp,
        Endpoint::SubmitFollowUp,
        Endpoint::ApproveFollowUp,
        Endpoint::ReturnFollowUp,
        Endpoint::ListIndicators,
        Endpoint::CreateIndicator,
        Endpoint::GetIndicator,
        Endpoint::PatchIndicator,
        Endpoint::ListValues,
        Endpoint::PutValues,
        Endpoint::ListWebhooks,
        Endpoint::CreateWebhook,
        Endpoint::GetWebhook,
        Endpoint::DeleteWebhook,
        Endpoint::ReplayWebhook,
        Endpoint::ListDeliveries,
        Endpoint::ExportPlans,
        Endpoint::OverdueActivities,
    ];

    fn method(self) -> Method {
        use Endpoint::*;
        match self {
            ListOrganizations | GetOrganization | ListPlans | GetPlan | Changelog | History | ListGoals | GetGoal
            | ListActivities | GetActivity | Events | VerifyEvents | ListClients | ListFollowUps
            | ListFollowUpDrafts | GetFollowUp | GetFollowUpDraft | ListIndicators | GetIndicator | ListValues
            | ListWebhooks | GetWebhook | ListDeliveries | ExportPlans | OverdueActivities => Method::GET,
            PatchOrganization | PatchPlan | PatchGoal | PatchActivity | PatchFollowUp | PatchIndicator => Method::PATCH,
            CreateOrganization | CreatePlan | Adopt | Withdraw | Revise | Close | Supersede | CreateGoal
            | CreateActivity | ImportPlans | CreateClient | CreateFollowUp | SubmitFollowUp | ApproveFollowUp
            | ReturnFollowUp | CreateIndicator | CreateWebhook | ReplayWebhook => Method::POST,
            PutValues => Method::PUT,
            RevokeClient | DeleteWebhook => Method::DELETE,
        }
    }

    fn template(self) -> &'static str {
        use Endpoint::*;
        match self {
            ListOrganizations | CreateOrganization => "/v1/organizations",
            GetOrganization | PatchOrganization => "/v1/organizations/{id}",
            ListPlans | CreatePlan => "/v1/plans",
            GetPlan | PatchPlan => "/v1/plans/{id}",
            Adopt | Withdraw | Revise | Close | Supersede => "/v1/plans/{id}/transitions",
            Changelog => "/v1/plans/{id}/changelog",
            History => "/v1/plans/{id}/history",
            ListGoals | CreateGoal => "/v1/plans/{id}/goals",
            GetGoal | PatchGoal => "/v1/goals/{id}",
            ListActivities | CreateActivity => "/v1/goals/{id}/activities",
            GetActivity | PatchActivity => "/v1/activities/{id}",
            Events => "/v1/events",
            VerifyEvents => "/v1/events/verify",
            ImportPlans => "/v1/import/plans",
            CreateClient | ListClients => "/v1/clients",
            RevokeClient => "/v1/clients/{id}",
            ListFollowUps | ListFollowUpDrafts | CreateFollowUp => "/v1/plans/{id}/follow-ups",
            GetFollowUp | GetFollowUpDraft | PatchFollowUp => "/v1/follow-ups/{id}",
            SubmitFollowUp | ApproveFollowUp | ReturnFollowUp => "/v1/follow-ups/{id}/transitions",
            ListIndicators | CreateIndicator => "/v1/indicators",
            GetIndicator | PatchIndicator => "/v1/indicators/{id}",
            ListValues | PutValues => "/v1/indicators/{id}/values",
            ListWebhooks | CreateWebhook => "/v1/webhooks",
            GetWebhook | DeleteWebhook => "/v1/webhooks/{id}",
            ReplayWebhook => "/v1/webhooks/{id}/replay",
            ListDeliveries => "/v1/webhooks/{id}/deliveries",
            ExportPlans => "/v1/export/plans",
            OverdueActivities => "/v1/reports/overdue-activities",
        }
    }

    /// The status a follow-up transition moves a report to, and the status it moves it from.
    fn follow_up_move(self) -> Option<(&'static str, &'static str)> {
        match self {
            Endpoint::SubmitFollowUp => Some(("draft", "submitted")),
            Endpoint::ApproveFollowUp => Some(("submitted", "approved")),
            Endpoint::ReturnFollowUp => Some(("submitted", "returned")),
            _ => None,
        }
    }

    /// What tells apart cases that share a method and path.
    fn label(self) -> Option<String> {
        use Endpoint::*;
        match self {
            ListFollowUps | GetFollowUp => Some("(approved report)".into()),
            ListFollowUpDrafts | GetFollowUpDraft => Some("(draft report)".into()),
            _ => self
                .transition_to()
                .or(self.follow_up_move().map(|(_, to)| to))
                .map(|to| format!("to={to}")),
        }
    }

    /// Indicators and their values are public material whatever state a plan is in.
    fn about_indicators(self) -> bool {
        use Endpoint::*;
        matches!(
            self,
            ListIndicators | CreateIndicator | GetIndicator | PatchIndicator | ListValues | PutValues
        )
    }

    /// The target status of a transition.
    fn transition_to(self) -> Option<&'static str> {
        match self {
            Endpoint::Adopt => Some("adopted"),
            Endpoint::Withdraw => Some("withdrawn"),
            Endpoint::Revise => Some("under_revision"),
            Endpoint::Close => Some("closed"),
            Endpoint::Supersede => Some("superseded"),
            _ => None,
        }
    }

    /// The plan states the endpoint is tried in (transitions: the states they are legal from).
    fn states(self) -> &'static [Option<State>] {
        use Endpoint::*;
        match self {
            ListOrganizations | CreateOrganization | GetOrganization | PatchOrganization | CreatePlan
            | VerifyEvents | ImportPlans | CreateClient | ListClients | RevokeClient | ListIndicators
            | CreateIndicator | GetIndicator | PatchIndicator | ListValues | PutValues | ListWebhooks
            | CreateWebhook | GetWebhook | DeleteWebhook | ReplayWebhook | ListDeliveries => STATELESS,
            Adopt | Withdraw => DRAFT,
            Revise | Close | Supersede => ADOPTED,
            ListPlans | GetPlan | PatchPlan | Changelog | History | ListGoals | CreateGoal | GetGoal | PatchGoal
            | ListActivities | CreateActivity | GetActivity | PatchActivity | Events | ListFollowUps
            | ListFollowUpDrafts | CreateFollowUp | GetFollowUp | GetFollowUpDraft | PatchFollowUp | SubmitFollowUp
            | ApproveFollowUp | ReturnFollowUp | ExportPlans | OverdueActivities => PLAN_STATES,
        }
    }

    fn rule(self) -> Rule {
        use Endpoint::*;
        match self {
            ListOrganizations | GetOrganization => Rule::Directory,
            // Registering a client or a webhook is administering its organization.
            CreateOrganization | PatchOrganization | CreateClient | CreateWebhook => Rule::Administer,
            CreatePlan | ImportPlans | CreateIndicator => Rule::AddPlans,
            // Approved reports of public plans, indicators and values are public material.
            GetPlan | Changelog | History | ListGoals | GetGoal | ListActivities | GetActivity | ListFollowUps
            | GetFollowUp | ListIndicators | GetIndicator | ListValues => Rule::Read,
            ListFollowUpDrafts => Rule::ReadDrafts,
            GetFollowUpDraft => Rule::ReadScoped,
            // Editors change plans, goals, activities, indicators and values, withdraw
            // drafts, and write follow-up reports.
            PatchPlan | Withdraw | CreateGoal | PatchGoal | CreateActivity | PatchActivity | CreateFollowUp
            | PatchIndicator | PutValues => Rule::Change(Role::Editor),
            // Editors change and submit draft reports; approvers approve or return submitted ones.
            PatchFollowUp | SubmitFollowUp => Rule::ChangeScoped(Role::Editor),
            ApproveFollowUp | ReturnFollowUp => Rule::ChangeScoped(Role::Approver),
            // Approvers adopt, revise, close and supersede.
            Adopt | Revise | Close | Supersede => Rule::Change(Role::Approver),
            // An export holds the organization's plans that the caller may read.
            ListPlans | ExportPlans => Rule::PlanList,
            OverdueActivities => Rule::InForce,
            Events | VerifyEvents => Rule::Feed,
            ListClients | ListWebhooks => Rule::ClientList,
            RevokeClient | GetWebhook | DeleteWebhook | ReplayWebhook | ListDeliveries => Rule::Administrative,
        }
    }

    /// The status of a successful answer.
    fn success(self) -> u16 {
        use Endpoint::*;
        match self {
            CreateOrganization | CreatePlan | CreateGoal | CreateActivity | CreateClient | CreateFollowUp
            | CreateIndicator | CreateWebhook => 201,
            DeleteWebhook => 204,
            _ => 200,
        }
    }

    /// Whether the answer is a list in which the resource under test is looked for.
    fn has_probe(self) -> bool {
        use Endpoint::*;
        matches!(
            self,
            ListOrganizations
                | ListPlans
                | History
                | ListGoals
                | ListActivities
                | Events
                | ListClients
                | ListFollowUps
                | ListFollowUpDrafts
                | ListIndicators
                | ListValues
                | ListWebhooks
                | ExportPlans
                | OverdueActivities
        )
    }

    fn writes(self) -> bool {
        self.method() != Method::GET
    }
}

/// The answer the documented rules call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    status: u16,
    /// For a list answered 200: whether the resource under test is among the items.
    listed: Option<bool>,
    /// For a revocation answered 200: whether the answer shows the client revoked.
    revoked: Option<bool>,
}

/// What the documented rules say `caller` at `relation` gets from `endpoint`
/// on a resource in `state`. Written from API.md and the OpenAPI
/// description, independently of `planledger_domain::permissions`.
fn expected(endpoint: Endpoint, state: Option<State>, caller: Caller, relation: Relation) -> Expect {
    let role = caller.role();
    // A token acts within its organization and that organization's descendants
    // (so the owner's parent acts for it, a unit under the owner does not), and
    // members' tokens act on what their network owns as on their own.
    let acts_for_owner = matches!(relation, Relation::Own | Relation::Parent | Relation::Member);
    // Managing organizations and their API clients follows the hierarchy only:
    // members read, edit and approve a network's material but do not administer
    // the network, nor see or revoke its clients.
    let administers_owner = matches!(relation, Relation::Own | Relation::Parent);
    // Public material: plans not in draft, with their goals, activities and
    // approved follow-up reports; indicators and their values.
    let public = endpoint.about_indicators() || state == Some(State::Adopted);
    // Any role reads in scope, drafts too; anyone reads public material.
    let in_scope = role.is_some() && acts_for_owner;
    let reads = public || in_scope;
    let answer = |status: u16, listed: bool| Expect {
        status,
        listed: (endpoint.has_probe() && status == 200).then_some(listed),
        revoked: (endpoint == Endpoint::RevokeClient && status == 200).then_some(true),
    };
    let success = endpoint.success();
    match endpoint.rule() {
        Rule::Directory => match role {
            None => answer(401, false),
            Some(_) => answer(success, true),
        },
        // The directory is readable, so what may not be administered is refused, not hidden.
        Rule::Administer => match role {
            None => answer(401, false),
            Some(Role::Admin) if administers_owner => answer(success, true),
            Some(_) => answer(403, false),
        },
        Rule::AddPlans => match role {
            None => answer(401, false),
            Some(Role::Editor) if acts_for_owner => answer(success, true),
            Some(_) => answer(403, false),
        },
        Rule::Read if reads => answer(success, true),
        Rule::Read => answer(404, false),
        Rule::ReadDrafts if reads => answer(success, in_scope),
        Rule::ReadDrafts => answer(404, false),
        Rule::ReadScoped if in_scope => answer(success, true),
        Rule::ReadScoped => answer(404, false),
        Rule::Change(needed) => match role {
            None => answer(401, false),
            Some(held) if held == needed && acts_for_owner => answer(success, true),
            Some(_) if reads => answer(403, false),
            Some(_) => answer(404, false),
        },
        Rule::ChangeScoped(needed) => match role {
            None => answer(401, false),
            Some(held) if held == needed && acts_for_owner => answer(success, true),
            Some(_) if in_scope => answer(403, false),
            Some(_) => answer(404, false),
        },
        Rule::PlanList => answer(200, reads),
        // Plans in force are public: their overdue activities are listed to anyone.
        Rule::InForce => answer(200, public),
        // The feed shows the events of the caller's scope only, public material or not.
        Rule::Feed => match role {
            None => answer(401, false),
            Some(_) => answer(200, acts_for_owner),
        },
        // Only an admin lists clients, and only those of the organizations it administers.
        Rule::ClientList => match role {
            None => answer(401, false),
            Some(Role::Admin) => answer(200, administers_owner),
            Some(_) => answer(403, false),
        },
        // Outside the organizations a token administers, a client does not exist;
        // within them, only an admin revokes it.
        Rule::Administrative => match role {
            None => answer(401, false),
            Some(_) if !administers_owner => answer(404, false),
            Some(Role::Admin) => answer(success, true),
            Some(_) => answer(403, false),
        },
    }
}

// ---------------------------------------------------------------- the world

/// A plan with one goal, one overdue activity and three follow-up reports.
#[derive(Debug, Clone)]
struct PlanSet {
    plan: String,
    /// The plan's diary number, unique: how an export is searched for the plan.
    diary: String,
    goal: String,
    /// Due before [`OVERDUE_AS_OF`] and not done.
    activity: String,
    approved_report: String,
    draft_report: String,
    submitted_report: String,
}

/// The day the overdue-activities report is asked about.
const OVERDUE_AS_OF: &str = "2026-06-30";

/// An owner of resources under test, with its fixtures.
#[derive(Debug, Clone)]
struct Owner {
    id: String,
    name: &'static str,
    kind: &'static str,
    code: &'static str,
    draft: PlanSet,
    adopted: PlanSet,
    /// An adopted plan that others are superseded by.
    successor: String,
    /// An active API client of the owner: listed, and refused revocation, by the matrix.
    client: String,
    /// An indicator of the owner, with a value of the owner.
    indicator: String,
    /// A webhook subscription of the owner: listed, and refused deletion, by the matrix.
    webhook: String,
}

impl Owner {
    fn set(&self, state: Option<State>) -> &PlanSet {
        match state {
            Some(State::Adopted) => &self.adopted,
            _ => &self.draft,
        }
    }

    fn set_mut(&mut self, state: Option<State>) -> &mut PlanSet {
        match state {
            Some(State::Adopted) => &mut self.adopted,
            _ => &mut self.draft,
        }
    }
}

/// root → region → {municipality A → unit, municipality B}; network N (member A).
struct World {
    region: String,
    municipality: String,
    unit: String,
    sibling: String,
    /// [municipality A, network N]
    owners: [Owner; 2],
    /// Makes names, titles and diary numbers unique.
    counter: usize,
    /// The log's head as last seen.
    seen_seq: i64,
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
struct Case {
    endpoint: Endpoint,
    state: Option<State>,
    caller: Caller,
    relation: Relation,
}

impl Case {
    fn describe(&self) -> String {
        let to = self
            .endpoint
            .label()
            .map(|label| format!(" {label}"))
            .unwrap_or_default();
        let state = self
            .state
            .map(|state| format!(" [{}]", state.name()))
            .unwrap_or_default();
        format!(
            "{} {}{to}{state} as {}@{}",
            self.endpoint.method(),
            self.endpoint.template(),
            self.caller.name(),
            self.relation.name()
        )
    }
}

fn describe(status: u16, listed: Option<bool>, revoked: Option<bool>) -> String {
    let listed = match listed {
        Some(true) => ", listed",
        Some(false) => ", not listed",
        None => "",
    };
    let revoked = match revoked {
        Some(true) => ", revoked_at set",
        Some(false) => ", revoked_at not set",
        None => "",
    };
    format!("{status}{listed}{revoked}")
}

async fn create_organization(app: &TestApp, body: Value) -> String {
    app.post("/v1/organizations", Some(&app.root_token()), &body)
        .await
        .created()["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// An API client of `organization` with the role `reader`, registered by the root; answers its id.
async fn register_client(app: &TestApp, organization: &str, name: &str) -> String {
    let body = json!({"organization_id": organization, "name": name, "roles": ["reader"]});
    let issued = app.post("/v1/clients", Some(&app.root_token()), &body).await.created();
    assert!(issued["revoked_at"].is_null(), "a new client is active: {issued}");
    issued["id"].as_str().expect("client id").to_owned()
}

/// The API client `id` as the root lists it (there is no single-client read).
async fn client_as_root(app: &TestApp, id: &str) -> Value {
    let token = app.root_token();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("/v1/clients?limit=500&cursor={cursor}"), Some(&token))
            .await
            .ok();
        let items = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of clients: {page}"));
        if let Some(client) = items.iter().find(|client| client["id"] == id) {
            return client.clone();
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => panic!("the root does not list the client {id}"),
        }
    }
}

fn adoption() -> Value {
    json!({"to": "adopted", "decided_by": "Kommunfullmäktige", "decided_on": "2026-01-15"})
}

/// A plan of `owner` in `state`, made by the root.
async fn fresh_plan(app: &TestApp, owner: &str, state: State, title: &str) -> String {
    let plan = app.create_plan(owner, title).await;
    if state == State::Adopted {
        let adopted = app
            .post(
                &format!("/v1/plans/{plan}/transitions"),
                Some(&app.root_token()),
                &adoption(),
            )
            .await
            .ok();
        assert_eq!(adopted["status"], "adopted");
    }
    plan
}

fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id: {resource}"))
        .to_owned()
}

/// A follow-up report of `plan` for `period`, moved by the root to `status`.
async fn fresh_report(app: &TestApp, plan: &str, status: &str, period: &str) -> String {
    let root = app.root_token();
    let body = json!({"period": period, "kind": "annual", "summary": "Årets uppföljning"});
    let report = id_of(
        &app.post(&format!("/v1/plans/{plan}/follow-ups"), Some(&root), &body)
            .await
            .created(),
    );
    let steps: &[&str] = match status {
        "draft" => &[],
        "submitted" => &["submitted"],
        "approved" => &["submitted", "approved"],
        other => panic!("no fixture report in {other}"),
    };
    for to in steps {
        let moved = app
            .post(
                &format!("/v1/follow-ups/{report}/transitions"),
                Some(&root),
                &json!({"to": to}),
            )
            .await
            .ok();
        assert_eq!(moved["status"], *to);
    }
    report
}

fn webhook_body(organization: &str) -> Value {
    // Nothing listens there, and no event of that type is ever written: nothing is delivered.
    json!({"organization_id": organization, "url": "http://127.0.0.1:9/planledger", "types": ["indicator.status_changed"]})
}

/// A webhook subscription of `organization`, made by the root.
async fn register_webhook(app: &TestApp, organization: &str) -> String {
    id_of(
        &app.post("/v1/webhooks", Some(&app.root_token()), &webhook_body(organization))
            .await
            .created(),
    )
}

fn indicator_body(code: &str, organization: &str) -> Value {
    json!({
        "code": code, "title": "Andel våldsutsatta som fått stöd (%)", "unit": "percent",
        "direction": "increasing", "source": "kolada", "update_frequency": "yearly", "target": 90,
        "organization_id": organization
    })
}

/// A plan of `owner` with a goal, an overdue activity and reports (approved,
/// draft, submitted), in `state`, made by the root.
async fn plan_set(app: &TestApp, owner: &str, state: State, title: &str) -> PlanSet {
    let root = app.root_token();
    let diary = format!("MATRIS/{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "organization_id": owner, "title": title, "diary_number": diary,
        "period_start": "2026-01-01", "period_end": "2028-12-31"
    });
    let plan = id_of(&app.post("/v1/plans", Some(&root), &body).await.created());
    let goal = app
        .post(
            &format!("/v1/plans/{plan}/goals"),
            Some(&root),
            &json!({"number": "1", "title": "En jämställd och jämlik verksamhet"}),
        )
        .await
        .created()["id"]
        .as_str()
        .expect("goal id")
        .to_owned();
    let activity = app
        .post(
            &format!("/v1/goals/{goal}/activities"),
            Some(&root),
            &json!({"title": "Utbilda chefer i jämställdhetsintegrering", "status": "planned", "due_date": "2026-03-01"}),
        )
        .await
        .created()["id"]
        .as_str()
        .expect("activity id")
        .to_owned();
    if state == State::Adopted {
        let adopted = app
            .post(&format!("/v1/plans/{plan}/transitions"), Some(&root), &adoption())
            .await
            .ok();
        assert_eq!(adopted["status"], "adopted");
    }
    let approved_report = fresh_report(app, &plan, "approved", "2025").await;
    let draft_report = fresh_report(app, &plan, "draft", "2026").await;
    let submitted_report = fresh_report(app, &plan, "submitted", "2027").await;
    PlanSet {
        plan,
        diary,
        goal,
        activity,
        approved_report,
        draft_report,
        submitted_report,
    }
}

async fn owner(app: &TestApp, id: String, (name, kind, code): (&'static str, &'static str, &'static str)) -> Owner {
    let draft = plan_set(app, &id, State::Draft, "Handlingsplan (utkast)").await;
    let adopted = plan_set(app, &id, State::Adopted, "Handlingsplan (antagen)").await;
    let successor = fresh_plan(app, &id, State::Adopted, "Ersättande handlingsplan").await;
    let client = register_client(app, &id, &format!("{name} – ärendesystem")).await;
    let root = app.root_token();
    let indicator = id_of(
        &app.post(
            "/v1/indicators",
            Some(&root),
            &indicator_body(&format!("MATRIS-{code}"), &id),
        )
        .await
        .created(),
    );
    let value = json!({"values": [{"organization_id": id, "period": "2016", "gender": "T", "value": 87.0}]});
    app.request(
        Method::PUT,
        &format!("/v1/indicators/{indicator}/values"),
        Some(&root),
        Some(&value),
    )
    .await
    .ok();
    let webhook = register_webhook(app, &id).await;
    Owner {
        id,
        name,
        kind,
        code,
        draft,
        adopted,
        successor,
        client,
        indicator,
        webhook,
    }
}

/// The events appended after `after`, and the new head (the root sees every event).
async fn events_since(app: &TestApp, mut after: i64) -> (Vec<Value>, i64) {
    let token = app.root_token();
    let mut events = Vec::new();
    loop {
        let page = app
            .get(&format!("/v1/events?after={after}&limit=1000"), Some(&token))
            .await
            .ok();
        let batch = page["events"].as_array().expect("events").clone();
        after = page["next_after"].as_i64().expect("next_after");
        let full = batch.len() == 1000;
        events.extend(batch);
        if !full {
            return (events, after);
        }
    }
}

/// The revision and status of a single resource, as the root reads it; for
/// an API client, its revision and `revoked_at` in the root's client list.
async fn snapshot(app: &TestApp, path: &str) -> Value {
    if let Some(id) = path.strip_prefix("/v1/clients/") {
        let client = client_as_root(app, id).await;
        return json!([client["revision"], client["revoked_at"]]);
    }
    if path.ends_with("/values") {
        let values = app
            .get(&format!("{path}?limit=500"), Some(&app.root_token()))
            .await
            .ok();
        return values["items"].clone();
    }
    let reply = app.get(path, Some(&app.root_token())).await;
    if reply.status.as_u16() != 200 {
        return json!({"answered": reply.status.as_u16()});
    }
    let resource = reply.json();
    json!([resource["revision"], resource["status"]])
}

fn contains_field(list: &Value, key: &str, field: &str, value: &str) -> bool {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("a list with {key}: {list}"))
        .iter()
        .any(|item| item[field] == value)
}

fn contains_id(list: &Value, key: &str, id: &str) -> bool {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("a list with {key}: {list}"))
        .iter()
        .any(|item| item["id"] == id)
}

fn contains_subject(list: &Value, id: &str) -> bool {
    list["events"]
        .as_array()
        .unwrap_or_else(|| panic!("a list with events: {list}"))
        .iter()
        .any(|event| event["subject"]["id"] == id)
}

/// A case made concrete: the request, the token, and what must come back.
struct Prepared {
    case: Case,
    expect: Expect,
    owner_index: usize,
    /// The token's subject, by which the events a case appends are told apart.
    subject: String,
    token: Option<String>,
    path: String,
    body: Option<Value>,
    /// For writes: the single resource whose revision and status (a client's
    /// `revoked_at`) a refusal must leave alone.
    watched: Option<String>,
    /// For lists: the id the list is searched for.
    probe: Option<String>,
}

/// What a case got.
struct Outcome {
    status: u16,
    listed: Option<bool>,
    /// For a revocation answered 200: whether the answer has `revoked_at` set.
    revoked: Option<bool>,
    detail: String,
}

impl Prepared {
    fn describe(&self) -> String {
        self.case.describe()
    }

    async fn call(&self, app: &TestApp) -> Outcome {
        let reply = app
            .request(
                self.case.endpoint.method(),
                &self.path,
                self.token.as_deref(),
                self.body.as_ref(),
            )
            .await;
        let status = reply.status.as_u16();
        let listed = match (&self.probe, status) {
            (Some(probe), 200) => {
                let answer = reply.json();
                Some(match self.case.endpoint {
                    Endpoint::History | Endpoint::Events => contains_subject(&answer, probe),
                    Endpoint::ListValues => contains_field(&answer, "items", "organization_id", probe),
                    Endpoint::ExportPlans => contains_field(&answer, "plans", "diary_number", probe),
                    Endpoint::OverdueActivities => contains_field(&answer, "items", "activity_id", probe),
                    _ => contains_id(&answer, "items", probe),
                })
            }
            _ => None,
        };
        let revoked = (self.case.endpoint == Endpoint::RevokeClient && status == 200)
            .then(|| serde_json::from_str::<Value>(&reply.text).is_ok_and(|client| client["revoked_at"].is_string()));
        let detail = serde_json::from_str::<Value>(&reply.text)
            .ok()
            .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
            .filter(|_| status >= 400)
            .map(|detail| format!(" ({detail})"))
            .unwrap_or_default();
        Outcome {
            status,
            listed,
            revoked,
            detail,
        }
    }

    /// The mismatch between what the rules call for and what came back, if any.
    fn compare(&self, outcome: &Outcome) -> Option<String> {
        let both_200 = self.expect.status == 200 && outcome.status == 200;
        let body_differs = both_200 && (outcome.listed != self.expect.listed || outcome.revoked != self.expect.revoked);
        (outcome.status != self.expect.status || body_differs).then(|| {
            format!(
                "{}: expected {}, got {}{}",
                self.describe(),
                describe(self.expect.status, self.expect.listed, self.expect.revoked),
                describe(outcome.status, outcome.listed, outcome.revoked),
                outcome.detail
            )
        })
    }
}

/// A token for `organization` with `roles` and the subject `sub`, valid for an hour.
fn token(organization: &str, roles: &[Role], sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": sub, "org": organization,
        "roles": roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
        "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, "iat": now
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("token")
}

impl World {
    async fn build(app: &TestApp) -> World {
        const MUNICIPALITY: (&str, &str, &str) = ("Krokoms kommun", "municipality", "2309");
        const NETWORK: (&str, &str, &str) = ("Jämtlands kommunnätverk", "network", "NAT-23");
        let region = create_organization(
            app,
            json!({"name": "Region Jämtland Härjedalen", "kind": "region", "code": "23"}),
        )
        .await;
        let municipality = create_organization(
            app,
            json!({"name": MUNICIPALITY.0, "kind": MUNICIPALITY.1, "code": MUNICIPALITY.2, "parent_id": region}),
        )
        .await;
        let sibling = create_organization(
            app,
            json!({"name": "Östersunds kommun", "kind": "municipality", "code": "2380", "parent_id": region}),
        )
        .await;
        let unit = create_organization(
            app,
            json!({"name": "Socialtjänsten Krokom", "kind": "unit", "parent_id": municipality}),
        )
        .await;
        let network = create_organization(
            app,
            json!({"name": NETWORK.0, "kind": NETWORK.1, "code": NETWORK.2, "member_ids": [municipality]}),
        )
        .await;
        let owners = [
            owner(app, municipality.clone(), MUNICIPALITY).await,
            owner(app, network, NETWORK).await,
        ];
        let seen_seq = app.head_seq().await;
        World {
            region,
            municipality,
            unit,
            sibling,
            owners,
            counter: 0,
            seen_seq,
        }
    }

    fn caller_organization(&self, relation: Relation) -> &str {
        match relation {
            Relation::Own | Relation::Member => &self.municipality,
            Relation::Child => &self.unit,
            Relation::Parent => &self.region,
            Relation::Sibling => &self.sibling,
        }
    }

    /// Makes `case` concrete; `fresh` replaces the fixture plan (for transitions
    /// on fresh plans) or the fixture client (for revocations of fresh clients).
    fn prepare(&mut self, case: Case, fresh: Option<String>) -> Prepared {
        self.counter += 1;
        let n = self.counter;
        let expect = expected(case.endpoint, case.state, case.caller, case.relation);
        let owner_index = usize::from(case.relation == Relation::Member);
        let owner = &self.owners[owner_index];
        let set = owner.set(case.state);
        let subject = format!("matrix-case-{n}");
        let token = case
            .caller
            .role()
            .map(|role| token(self.caller_organization(case.relation), &[role], &subject));
        let acted_on = fresh.unwrap_or_else(|| match case.endpoint {
            Endpoint::RevokeClient => owner.client.clone(),
            Endpoint::DeleteWebhook => owner.webhook.clone(),
            Endpoint::SubmitFollowUp => set.draft_report.clone(),
            Endpoint::ApproveFollowUp | Endpoint::ReturnFollowUp => set.submitted_report.clone(),
            _ => set.plan.clone(),
        });
        let (path, body, watched) = request(case.endpoint, owner, set, &acted_on, n);
        let probe = match case.endpoint {
            Endpoint::ListOrganizations => Some(owner.id.clone()),
            Endpoint::ListPlans | Endpoint::History | Endpoint::Events => Some(set.plan.clone()),
            Endpoint::ListGoals => Some(set.goal.clone()),
            Endpoint::ListActivities => Some(set.activity.clone()),
            Endpoint::ListClients => Some(owner.client.clone()),
            Endpoint::ListFollowUps => Some(set.approved_report.clone()),
            Endpoint::ListFollowUpDrafts => Some(set.draft_report.clone()),
            Endpoint::ListIndicators => Some(owner.indicator.clone()),
            Endpoint::ListValues => Some(owner.id.clone()),
            Endpoint::ListWebhooks => Some(owner.webhook.clone()),
            Endpoint::ExportPlans => Some(set.diary.clone()),
            Endpoint::OverdueActivities => Some(set.activity.clone()),
            _ => None,
        };
        Prepared {
            case,
            expect,
            owner_index,
            subject,
            token,
            path,
            body,
            watched,
            probe,
        }
    }

    /// The events appended since last seen.
    async fn new_events(&mut self, app: &TestApp) -> Vec<Value> {
        let (events, head) = events_since(app, self.seen_seq).await;
        self.seen_seq = head;
        events
    }

    /// Runs every caller × relation of one endpoint in one state; answers the mismatches.
    async fn run_group(&mut self, app: &TestApp, endpoint: Endpoint, state: Option<State>) -> Vec<String> {
        let cases: Vec<Case> = Caller::ALL
            .into_iter()
            .flat_map(|caller| {
                Relation::ALL.into_iter().map(move |relation| Case {
                    endpoint,
                    state,
                    caller,
                    relation,
                })
            })
            .collect();
        let mut mismatches = Vec::new();

        // Reads change nothing: all at once.
        if !endpoint.writes() {
            let prepared: Vec<Prepared> = cases.into_iter().map(|case| self.prepare(case, None)).collect();
            let outcomes = join_all(prepared.iter().map(|p| p.call(app))).await;
            mismatches.extend(prepared.iter().zip(&outcomes).filter_map(|(p, o)| p.compare(o)));
            return mismatches;
        }

        // Refused writes must change nothing, so they too run all at once; the
        // events that appear anyway are traced to their case by the token's subject.
        let (allowed, refused): (Vec<Case>, Vec<Case>) = cases
            .into_iter()
            .partition(|case| expected(case.endpoint, case.state, case.caller, case.relation).status < 300);
        let prepared: Vec<Prepared> = refused.into_iter().map(|case| self.prepare(case, None)).collect();
        let mut watched: Vec<String> = prepared.iter().filter_map(|p| p.watched.clone()).collect();
        watched.sort();
        watched.dedup();
        self.new_events(app).await;
        let before = join_all(watched.iter().map(|path| snapshot(app, path))).await;
        let outcomes = join_all(prepared.iter().map(|p| p.call(app))).await;
        mismatches.extend(prepared.iter().zip(&outcomes).filter_map(|(p, o)| p.compare(o)));
        for event in self.new_events(app).await {
            let culprit = prepared
                .iter()
                .zip(&outcomes)
                .find(|(p, _)| event["actor"]["sub"] == p.subject.as_str());
            let what = format!(
                "{} on {} {}",
                event["type"], event["subject"]["type"], event["subject"]["id"]
            );
            mismatches.push(match culprit {
                Some((p, o)) => format!("{}: answered {} but appended {what}", p.describe(), o.status),
                None => format!(
                    "{} {} [{}]: a refused caller appended {what} (actor {})",
                    endpoint.method(),
                    endpoint.template(),
                    state.map_or("-", State::name),
                    event["actor"]
                ),
            });
        }
        let after = join_all(watched.iter().map(|path| snapshot(app, path))).await;
        for ((path, before), after) in watched.iter().zip(&before).zip(&after) {
            if before != after {
                let callers: Vec<String> = prepared
                    .iter()
                    .filter(|p| p.watched.as_deref() == Some(path.as_str()))
                    .map(|p| format!("{}@{}", p.case.caller.name(), p.case.relation.name()))
                    .collect();
                mismatches.push(format!(
                    "{} {} [{}]: refused to {callers:?}, yet {path} moved from {before} to {after}",
                    endpoint.method(),
                    endpoint.template(),
                    state.map_or("-", State::name),
                ));
            }
        }
        // A refused transition that went through anyway spent its fixture: replace it.
        if endpoint.transition_to().is_some() {
            let mut spent: Vec<usize> = prepared
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.status < 300)
                .map(|(p, _)| p.owner_index)
                .collect();
            spent.sort_unstable();
            spent.dedup();
            for index in spent {
                let state_now = state.expect("a transition has a state");
                let owner = self.owners[index].id.clone();
                let replacement = plan_set(app, &owner, state_now, "Handlingsplan (ersatt fixtur)").await;
                *self.owners[index].set_mut(state) = replacement;
            }
            self.new_events(app).await;
        }
        // Likewise a refused follow-up transition or webhook deletion that went through.
        if endpoint.follow_up_move().is_some() || endpoint == Endpoint::DeleteWebhook {
            let mut spent: Vec<usize> = prepared
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.status < 300)
                .map(|(p, _)| p.owner_index)
                .collect();
            spent.sort_unstable();
            spent.dedup();
            for index in spent {
                let counter = self.counter;
                let owner = &mut self.owners[index];
                match endpoint.follow_up_move() {
                    Some((from, _)) => {
                        let set = owner.set_mut(state);
                        let period = format!("2031-{counter}");
                        let report = fresh_report(app, &set.plan, from, &period).await;
                        match from {
                            "draft" => set.draft_report = report,
                            _ => set.submitted_report = report,
                        }
                    }
                    None => owner.webhook = register_webhook(app, &owner.id).await,
                }
            }
            self.new_events(app).await;
        }

        // Allowed writes one at a time: each must succeed and append its own events.
        for case in allowed {
            let owner = self.owners[usize::from(case.relation == Relation::Member)].id.clone();
            let fresh = match (endpoint.transition_to(), state) {
                (Some(_), Some(state)) => {
                    let title = format!("Handlingsplan {}", self.counter);
                    let plan = fresh_plan(app, &owner, state, &title).await;
                    self.new_events(app).await;
                    Some(plan)
                }
                _ if endpoint == Endpoint::RevokeClient => {
                    let name = format!("Verksamhetssystem {}", self.counter);
                    let client = register_client(app, &owner, &name).await;
                    self.new_events(app).await;
                    Some(client)
                }
                _ if endpoint == Endpoint::DeleteWebhook => {
                    let webhook = register_webhook(app, &owner).await;
                    self.new_events(app).await;
                    Some(webhook)
                }
                _ if endpoint.follow_up_move().is_some() => {
                    let (from, _) = endpoint.follow_up_move().expect("a follow-up transition");
                    let index = usize::from(case.relation == Relation::Member);
                    let plan = self.owners[index].set(state).plan.clone();
                    let report = fresh_report(app, &plan, from, &format!("2029-{}", self.counter)).await;
                    self.new_events(app).await;
                    Some(report)
                }
                _ => None,
            };
            let prepared = self.prepare(case, fresh);
            let outcome = prepared.call(app).await;
            mismatches.extend(prepared.compare(&outcome));
            let events = self.new_events(app).await;
            let own = events
                .iter()
                .filter(|e| e["actor"]["sub"] == prepared.subject.as_str())
                .count();
            if outcome.status < 300 && own == 0 {
                mismatches.push(format!(
                    "{}: answered {} but appended no event",
                    prepared.describe(),
                    outcome.status
                ));
            }
        }
        mismatches
    }
}

/// The path, body and (for writes) the single resource whose revision must
/// not move when the write is refused. `subject` is the plan a transition
/// moves or the client a revocation revokes.
fn request(
    endpoint: Endpoint,
    owner: &Owner,
    set: &PlanSet,
    subject: &str,
    n: usize,
) -> (String, Option<Value>, Option<String>) {
    let plan = &set.plan;
    let goal = &set.goal;
    let activity = &set.activity;
    let owner_path = format!("/v1/organizations/{}", owner.id);
    let indicator = format!("/v1/indicators/{}", owner.indicator);
    let webhook = format!("/v1/webhooks/{}", owner.webhook);
    let draft_report = format!("/v1/follow-ups/{}", set.draft_report);
    let follow_up_transition = |body: Value| {
        (
            format!("/v1/follow-ups/{subject}/transitions"),
            Some(body),
            Some(format!("/v1/follow-ups/{subject}")),
        )
    };
    let transition = |body: Value| {
        (
            format!("/v1/plans/{subject}/transitions"),
            Some(body),
            Some(format!("/v1/plans/{subject}")),
        )
    };
    match endpoint {
        Endpoint::ListOrganizations => ("/v1/organizations?limit=500".into(), None, None),
        Endpoint::CreateOrganization => (
            "/v1/organizations".into(),
            Some(json!({"name": format!("Enhet {n}"), "kind": "unit", "parent_id": owner.id})),
            None,
        ),
        Endpoint::GetOrganization => (owner_path, None, None),
        Endpoint::PatchOrganization => (
            owner_path.clone(),
            Some(json!({"name": format!("{} ({n})", owner.name)})),
            Some(owner_path),
        ),
        Endpoint::ListPlans => (format!("/v1/plans?organization_id={}&limit=500", owner.id), None, None),
        Endpoint::CreatePlan => (
            "/v1/plans".into(),
            Some(json!({
                "organization_id": owner.id, "title": format!("Handlingsplan {n}"),
                "diary_number": format!("KS/{n}/2026"), "period_start": "2026-01-01", "period_end": "2028-12-31"
            })),
            None,
        ),
        Endpoint::GetPlan => (format!("/v1/plans/{plan}"), None, None),
        Endpoint::PatchPlan => (
            format!("/v1/plans/{plan}"),
            Some(json!({"title": format!("Handlingsplan mot våld i nära relation {n}")})),
            Some(format!("/v1/plans/{plan}")),
        ),
        Endpoint::Adopt => transition(adoption()),
        Endpoint::Withdraw => transition(json!({"to": "withdrawn", "reason": "Arbetet samordnas regionalt"})),
        Endpoint::Revise => transition(json!({"to": "under_revision", "reason": "Årlig översyn"})),
        Endpoint::Close => transition(json!({"to": "closed", "reason": "Planperioden är slut"})),
        Endpoint::Supersede => transition(json!({"to": "superseded", "superseded_by": owner.successor})),
        Endpoint::Changelog => (format!("/v1/plans/{plan}/changelog"), None, None),
        Endpoint::History => (format!("/v1/plans/{plan}/history?limit=1000"), None, None),
        Endpoint::ListGoals => (format!("/v1/plans/{plan}/goals?limit=500"), None, None),
        Endpoint::CreateGoal => (
            format!("/v1/plans/{plan}/goals"),
            Some(json!({"number": n.to_string(), "title": format!("Mål {n}")})),
            Some(format!("/v1/plans/{plan}")),
        ),
        Endpoint::GetGoal => (format!("/v1/goals/{goal}"), None, None),
        Endpoint::PatchGoal => (
            format!("/v1/goals/{goal}"),
            Some(json!({"title": format!("Mål {n}")})),
            Some(format!("/v1/goals/{goal}")),
        ),
        Endpoint::ListActivities => (format!("/v1/goals/{goal}/activities?limit=500"), None, None),
        Endpoint::CreateActivity => (
            format!("/v1/goals/{goal}/activities"),
            Some(json!({"title": format!("Aktivitet {n}")})),
            Some(format!("/v1/goals/{goal}")),
        ),
        Endpoint::GetActivity => (format!("/v1/activities/{activity}"), None, None),
        Endpoint::PatchActivity => (
            format!("/v1/activities/{activity}"),
            Some(json!({"comment": format!("Kommentar {n}")})),
            Some(format!("/v1/activities/{activity}")),
        ),
        Endpoint::Events => (
            format!("/v1/events?organization_id={}&types=plan.created&limit=1000", owner.id),
            None,
            None,
        ),
        Endpoint::VerifyEvents => ("/v1/events/verify".into(), None, None),
        Endpoint::ImportPlans => (
            "/v1/import/plans".into(),
            Some(json!({
                "organization": {"name": owner.name, "kind": owner.kind, "code": owner.code},
                "plans": [{
                    "title": format!("Importerad handlingsplan {n}"), "diary_number": format!("IMP/{n}/2026"),
                    "document_version": "1", "status": "draft",
                    "period_start": "2026-01-01", "period_end": "2028-12-31"
                }]
            })),
            None,
        ),
        Endpoint::CreateClient => (
            "/v1/clients".into(),
            Some(json!({"organization_id": owner.id, "name": format!("Verksamhetssystem {n}"), "roles": ["reader"]})),
            None,
        ),
        Endpoint::ListClients => ("/v1/clients?limit=500".into(), None, None),
        Endpoint::RevokeClient => (
            format!("/v1/clients/{subject}"),
            None,
            Some(format!("/v1/clients/{subject}")),
        ),
        Endpoint::ListFollowUps | Endpoint::ListFollowUpDrafts => {
            (format!("/v1/plans/{plan}/follow-ups?limit=500"), None, None)
        }
        Endpoint::CreateFollowUp => (
            format!("/v1/plans/{plan}/follow-ups"),
            Some(json!({"period": format!("2028-{n}"), "kind": "interim", "summary": format!("Delår {n}")})),
            Some(format!("/v1/plans/{plan}")),
        ),
        Endpoint::GetFollowUp => (format!("/v1/follow-ups/{}", set.approved_report), None, None),
        Endpoint::GetFollowUpDraft => (draft_report, None, None),
        Endpoint::PatchFollowUp => (
            draft_report.clone(),
            Some(json!({"summary": format!("Uppföljning {n}")})),
            Some(draft_report),
        ),
        Endpoint::SubmitFollowUp => follow_up_transition(json!({"to": "submitted"})),
        Endpoint::ApproveFollowUp => follow_up_transition(json!({"to": "approved"})),
        Endpoint::ReturnFollowUp => follow_up_transition(json!({"to": "returned", "reason": "Komplettera mål 1"})),
        Endpoint::ListIndicators => (
            format!("/v1/indicators?organization_id={}&limit=500", owner.id),
            None,
            None,
        ),
        Endpoint::CreateIndicator => (
            "/v1/indicators".into(),
            Some(indicator_body(&format!("MATRIS-{n}"), &owner.id)),
            None,
        ),
        Endpoint::GetIndicator => (indicator, None, None),
        Endpoint::PatchIndicator => (
            indicator.clone(),
            Some(json!({"title": format!("Mätetal {n}")})),
            Some(indicator),
        ),
        Endpoint::ListValues => (format!("{indicator}/values?limit=500"), None, None),
        Endpoint::PutValues => (
            format!("{indicator}/values"),
            Some(json!({"values": [{"organization_id": owner.id, "period": "2016", "gender": "T", "value": n}]})),
            Some(format!("{indicator}/values")),
        ),
        Endpoint::ListWebhooks => ("/v1/webhooks?limit=500".into(), None, None),
        Endpoint::CreateWebhook => ("/v1/webhooks".into(), Some(webhook_body(&owner.id)), None),
        Endpoint::GetWebhook => (webhook, None, None),
        Endpoint::DeleteWebhook => (
            format!("/v1/webhooks/{subject}"),
            None,
            Some(format!("/v1/webhooks/{subject}")),
        ),
        Endpoint::ReplayWebhook => (format!("{webhook}/replay"), Some(json!({"after": 0})), Some(webhook)),
        Endpoint::ListDeliveries => (format!("{webhook}/deliveries?limit=500"), None, None),
        Endpoint::ExportPlans => (format!("/v1/export/plans?organization_id={}", owner.id), None, None),
        Endpoint::OverdueActivities => (
            format!("/v1/reports/overdue-activities?as_of={OVERDUE_AS_OF}"),
            None,
            None,
        ),
    }
}

// ---------------------------------------------------------------- the test

backend_tests! {
    async fn every_endpoint_answers_every_caller_as_the_rules_say(app: TestApp) {
        let started = std::time::Instant::now();
        let mut world = World::build(&app).await;
        let mut mismatches = Vec::new();
        let mut cases = 0;
        for endpoint in Endpoint::ALL {
            for &state in endpoint.states() {
                cases += Caller::ALL.len() * Relation::ALL.len();
                mismatches.extend(world.run_group(&app, endpoint, state).await);
            }
        }
        assert_eq!(cases, 1925, "the matrix covers every cell");
        let verification = app.get("/v1/events/verify", Some(&app.root_token())).await.ok();
        assert_eq!(verification["ok"], true, "the log is intact after the matrix: {verification}");
        println!(
            "{:?}: {cases} cases, {} mismatches, {:.1?}",
            app.backend,
            mismatches.len(),
            started.elapsed()
        );
        assert!(
            mismatches.is_empty(),
            "{} mismatches in {cases} cases with the documented rules:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}
