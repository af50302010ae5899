-- The W3C traceparent of the request that wrote the message: the dispatcher publishes it as part of that trace.
ALTER TABLE outbox ADD COLUMN trace_parent text;
