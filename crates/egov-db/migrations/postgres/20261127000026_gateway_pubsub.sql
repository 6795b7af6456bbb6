-- Asynchronous messaging through the gateway (egov-gateway::pubsub and
-- ::outbox), after the GovStack Information Mediator PubSub API: rooms
-- (subsystems) hold event types; publishers publish events into a room;
-- subscribers get them pushed (through the gateway, to a service of theirs)
-- or pull and acknowledge them.
CREATE TABLE gateway_event_types (
    room TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- A JSON Schema describing the events, for subscribers.
    schema TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room, event_type)
);

CREATE TABLE gateway_subscriptions (
    id UUID PRIMARY KEY NOT NULL,
    room TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    delivery TEXT NOT NULL CHECK (delivery IN ('push', 'pull')),
    -- For push: the subscriber's service the events are posted to.
    push_service TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (room, event_type, subscriber),
    FOREIGN KEY (room, event_type) REFERENCES gateway_event_types (room, event_type) ON DELETE CASCADE
);

-- An event is published once per publisher and message id: a retried
-- publication finds the event it made.
CREATE TABLE gateway_events (
    id UUID PRIMARY KEY NOT NULL,
    room TEXT NOT NULL,
    event_type TEXT NOT NULL,
    publisher TEXT NOT NULL,
    message_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    UNIQUE (room, publisher, message_id)
);

CREATE TABLE gateway_event_deliveries (
    event_id UUID NOT NULL REFERENCES gateway_events (id),
    subscription_id UUID NOT NULL REFERENCES gateway_subscriptions (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'acknowledged')),
    delivered_at BIGINT,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX gateway_event_deliveries_pending ON gateway_event_deliveries (subscription_id, status, event_id);

-- The sender's side: what became of each message sent through the outbox
-- (its delivery receipt: the receiver's status and answer).
CREATE TABLE gateway_outbox_receipts (
    message_id TEXT PRIMARY KEY NOT NULL,
    target TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    delivered_at BIGINT NOT NULL
);
