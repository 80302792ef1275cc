/**
 * The dedup Lambda: a Kinesis or Kafka (MSK, self-managed) batch in, new events to Firehose, duplicates dropped, malformed
 * records quarantined. The logic lives in `dedup-core.ts`; this file wires the AWS clients,
 * Powertools Metrics (embedded metric format) and Logger, and reads the configuration the
 * construct sets in the environment.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { DedupConfig, processBatch } from './dedup-core';
import { isKafkaEvent, KafkaEvent, kafkaSourcesFromEnv, processKafkaBatch } from './kafka-records';

const logger = new Logger();
// Adaptive retries: DynamoDB throttling slows the claims down instead of failing them.
const dynamodb = new DynamoDBClient({ maxAttempts: 5, retryMode: 'adaptive' });
// The handler retries Firehose entries itself (partial failures are not SDK errors).
const firehose = new FirehoseClient({ maxAttempts: 2 });
const s3 = new S3Client({ maxAttempts: 3 });

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`environment variable ${name} is not set`);
  return value;
}

// Powertools adds a `service` dimension to every metric; the library keys its metrics by `Pipeline`
// alone (docs/conventions.md), so the default dimensions are replaced: what the handler emits is
// what `StreamingDedupIngestion.metric()` reads (test/streaming-lambda.test.ts).
const metrics = new Metrics();
metrics.clearDefaultDimensions();
metrics.setDefaultDimensions({ Pipeline: env('PIPELINE_NAME') });

const config: DedupConfig = {
  idField: env('ID_FIELD'),
  typeField: env('TYPE_FIELD'),
  subtypeField: env('SUBTYPE_FIELD'),
  timeField: env('TIME_FIELD'),
  tableName: env('DEDUP_TABLE_NAME'),
  ttlSeconds: Number(env('DEDUP_WINDOW_SECONDS')),
  deliveryStreamName: env('DELIVERY_STREAM_NAME'),
  quarantineBucket: env('QUARANTINE_BUCKET'),
  quarantinePrefix: env('QUARANTINE_PREFIX'),
  forwardAttempts: Number(env('FORWARD_ATTEMPTS', '6')),
  claimConcurrency: Number(env('CLAIM_CONCURRENCY', '64')),
};

const kafkaSources = kafkaSourcesFromEnv(process.env);

export const handler = async (event: KinesisStreamEvent | KafkaEvent): Promise<KinesisStreamBatchResponse | void> => {
  // One value per metric and invocation (counts add up here, not as EMF value arrays).
  const counts = new Map<string, number>();
  const deps = {
    dynamodb,
    firehose,
    s3,
    metrics: { count: (name: string, value: number) => { counts.set(name, (counts.get(name) ?? 0) + value); } },
    log: (level: 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>) => logger[level](message, details ?? {}),
  };
  try {
    // Kafka: no partial batch response; a failure throws and Lambda retries the whole batch.
    if (isKafkaEvent(event)) return await processKafkaBatch(event, config, deps, kafkaSources);
    return await processBatch(event as KinesisStreamEvent, config, deps);
  } finally {
    counts.forEach((value, name) => metrics.addMetric(name, MetricUnit.Count, value));
    metrics.publishStoredMetrics();
  }
};
