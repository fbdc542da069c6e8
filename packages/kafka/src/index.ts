export { createKafka, registryOf, topicDefaultsOf, type Kafka, type KafkaSettings, type Log, type TopicDefaults } from './client.js';
export { clusterTopicDefaults, ensureTopics, pingKafka, consumerLag, type TopicSpec, type PartitionLag } from './admin.js';
export { EventProducer, type EventProducerOptions, type OutgoingMessage } from './producer.js';
export { startConsumer, decodeHeaders, type ConsumedMessage, type ConsumerHandle, type ConsumerOptions } from './consumer.js';
export { kafkaMetrics, type KafkaMetrics } from './metrics.js';
export { traceHeaders } from './tracing.js';
export { kafkaPlugin, parseBrokers, type KafkaPluginOptions } from './plugin.js';
