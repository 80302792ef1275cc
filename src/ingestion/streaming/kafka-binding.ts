import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ManagedKafkaEventSource, SelfManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';

// Not exported from the package: what `KafkaSource._bind` takes and answers.

/** What binding a Kafka source set up. @internal */
export interface KafkaBinding {
  readonly eventSource: ManagedKafkaEventSource | SelfManagedKafkaEventSource;
  readonly offsetLagAlarmThreshold: number;
  readonly environment: Record<string, string>;
  readonly securityGroup?: ec2.ISecurityGroup;
}

/** Batch settings the ingestion passes to the source. @internal */
export interface KafkaBindContext {
  readonly pipelineName: string;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  /** The event fields, to check that key or header fields are top-level. */
  readonly fields: { id: string; type: string; subtype: string; time: string };
}
