//! The diesel schema, portable across both backends: only Text, Integer,
//! BigInt, Date and Timestamp. Ids are UUID strings, JSON is Text, times are UTC.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        code -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        member_ids -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    plans (id) {
        id -> Text,
        organization_id -> Text,
        title -> Text,
        diary_number -> Nullable<Text>,
        document_version -> Nullable<Text>,
        period_start -> Nullable<Date>,
        period_end -> Nullable<Date>,
        owner -> Nullable<Text>,
        summary -> Nullable<Text>,
        perspectives -> Text,
        status -> Text,
        decision -> Nullable<Text>,
        background_decisions -> Text,
        superseded_by -> Nullable<Text>,
        search_text -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    plan_changelog (plan_id, position) {
        plan_id -> Text,
        position -> Integer,
        document_version -> Nullable<Text>,
        date -> Nullable<Date>,
        change -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_on -> Nullable<Date>,
    }
}

diesel::table! {
    goals (id) {
        id -> Text,
        plan_id -> Text,
        position -> Integer,
        number -> Nullable<Text>,
        title -> Text,
        reference -> Nullable<Text>,
        parent_goal_id -> Nullable<Text>,
        status -> Text,
        targets -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        goal_id -> Text,
        plan_id -> Text,
        position -> Integer,
        title -> Text,
        target_group -> Nullable<Text>,
        measure -> Nullable<Text>,
        targets -> Text,
        start_year -> Nullable<Integer>,
        end_year -> Nullable<Integer>,
        timeline -> Nullable<Text>,
        due_date -> Nullable<Date>,
        responsible_execution -> Nullable<Text>,
        responsible_followup -> Nullable<Text>,
        indicator_id -> Nullable<Text>,
        status -> Text,
        comment -> Nullable<Text>,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    event_log_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        occurred_at -> Timestamp,
        actor_sub -> Text,
        actor_organization_id -> Nullable<Text>,
        subject_type -> Text,
        subject_id -> Text,
        organization_id -> Nullable<Text>,
        plan_id -> Nullable<Text>,
        data -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(plans -> organizations (organization_id));
diesel::joinable!(goals -> plans (plan_id));
diesel::joinable!(activities -> goals (goal_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    plans,
    plan_changelog,
    goals,
    activities,
    event_log_head,
    events,
);

diesel::table! {
    api_clients (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        roles -> Text,
        secret_hash -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(api_clients, organizations);

diesel::table! {
    idempotency_keys (caller, idempotency_key) {
        caller -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        response_status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        event_types -> Text,
        secret -> Text,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        last_delivered_seq -> BigInt,
        failed_attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        leased_until -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        seq -> BigInt,
        event_id -> Text,
        attempt -> Integer,
        started_at -> Timestamp,
        duration_ms -> BigInt,
        outcome -> Text,
        response_status -> Nullable<Integer>,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);

diesel::table! {
    follow_ups (id) {
        id -> Text,
        plan_id -> Text,
        period -> Text,
        kind -> Text,
        status -> Text,
        summary -> Nullable<Text>,
        goal_assessments -> Text,
        activity_updates -> Text,
        measurements -> Text,
        submitted_by -> Nullable<Text>,
        submitted_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    indicators (id) {
        id -> Text,
        code -> Text,
        title -> Text,
        unit -> Text,
        direction -> Text,
        source -> Text,
        update_frequency -> Text,
        target -> Nullable<Double>,
        organization_id -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    indicator_values (indicator_id, organization_id, period, gender) {
        indicator_id -> Text,
        organization_id -> Text,
        period -> Text,
        gender -> Text,
        value -> Nullable<Double>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(indicator_values -> indicators (indicator_id));
diesel::allow_tables_to_appear_in_same_query!(indicators, indicator_values, organizations);

diesel::table! {
    plan_documents (plan_id) {
        plan_id -> Text,
        seq -> BigInt,
        format -> Text,
        body -> Text,
    }
}

diesel::joinable!(plan_documents -> plans (plan_id));
diesel::allow_tables_to_appear_in_same_query!(plan_documents, plans);
diesel::allow_tables_to_appear_in_same_query!(plan_documents, events);
diesel::allow_tables_to_appear_in_same_query!(follow_ups, plans);
