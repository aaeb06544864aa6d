// Package bus is Lethe's JetStream adapter: the embedded server, the streams of the contract,
// CloudEvents published and consumed in the NATS binding, dead letters and trace propagation.
//
// Users: ServerUsers turns lethe.yaml's bus users and the services' own into nats-server users
// with the least privilege of their role (publisher: its institutions' inboxes; consumer: its
// own durables on LETHE_RESULTS); given to StartEmbedded, no connection gets in without them.
//
// Publishing: NewPublisher(js).Publish waits for the JetStream ack and sets Nats-Msg-Id from
// the event so a retried publish is stored once; PublishBatch pipelines many events through
// async publish for ingest's throughput. Events travel in binary mode (ce-* headers, the data
// as the body); consumers accept binary and structured messages alike.
//
// Consuming: Consume and ConsumeBatch run a durable pull consumer with explicit acks until the
// context ends, then drain. A handler returns nil (ack), an error (nak with back-off by
// delivery count), or Permanent(err) (dead letter, then term). The final allowed delivery
// that fails is dead-lettered too, and the consumer's max-deliveries and terminated
// advisories are watched so that a message whose consumer died still reaches LETHE_DLQ.
//
// Trace context rides in the CloudEvents traceparent/tracestate extensions; spans carry ids,
// types, sources and subjects, never data. ObserveConsumerLag exports every durable
// consumer's lag (num_pending, num_ack_pending) as gauges read from JetStream at collection.
package bus
