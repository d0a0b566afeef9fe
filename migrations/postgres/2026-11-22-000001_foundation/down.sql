DROP TABLE events;
DROP FUNCTION events_append_only();
DROP TABLE event_log_head;
DROP TABLE activities;
DROP TABLE goals;
DROP TABLE plan_changelog;
DROP TABLE plans;
DROP TABLE organizations;
