// Public API of cdk-lakehouse. Shared contract first, then one construct family per folder.
export * from './core/lake';
export * from './core/pipeline';

export * from './lakehouse/data-format';
export * from './lakehouse/partition-projection';
export * from './lakehouse/table-props';
export * from './lakehouse/lake-table';
export * from './lakehouse/raw-table';
export * from './lakehouse/iceberg-table';
export * from './lakehouse/lake-zone';
export * from './lakehouse/lake-crawler';
export * from './lakehouse/lakehouse-tier-props';
export * from './lakehouse/lakehouse-tier';

// PipelineObservability
export * from './core/failure-events';
export * from './observability/pipeline-observability-props';
export * from './observability/pipeline-observability';

// AthenaServing
export * from './serving/athena-serving-props';
export * from './serving/scheduled-query';
export * from './serving/athena-serving';

// StreamingDedupIngestion
export * from './ingestion/streaming/streaming-dedup-ingestion-props';
export * from './ingestion/streaming/streaming-dedup-ingestion';
export * from './ingestion/streaming/kafka-source';
export * from './ingestion/streaming/speed-view';

// ApiPullIngestion
export * from './ingestion/api-pull/api-auth';
export * from './ingestion/api-pull/api-pagination';
export * from './ingestion/api-pull/api-pull-ingestion-props';
export * from './ingestion/api-pull/api-pull-ingestion';

// CdcIngestion
export * from './ingestion/cdc/cdc-ingestion-props';
export * from './ingestion/cdc/cdc-ingestion';

// Deploy-time rules (physical-name clashes, quotas, VPC roles) as synth-time errors
export * from './core/deploy-rules';

// The merge job every ingestion uses (and a user's own merges)
export * from './core/merge-job';
export * from './core/quality-rules';
