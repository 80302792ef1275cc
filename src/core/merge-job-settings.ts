import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { validateScheduleExpression } from './schedule';
import { propError } from './validation';

/**
 * Defaults and validation of a merge job's settings, in one place: `MergeJob` applies them to its
 * own props, and each ingestion to the props its users write (`mergeWorkerType`, `mergeNumberOfWorkers`...),
 * so an error always names the prop the user wrote.
 */

/** Worker types of the Glue developer guide's "AWS Glue worker types" page (G and memory-optimized R). */
export const WORKER_TYPES = ['G.1X', 'G.2X', 'G.4X', 'G.8X', 'G.12X', 'G.16X', 'R.1X', 'R.2X', 'R.4X', 'R.8X'];
/** Worker types a Flex run accepts (Glue developer guide, Flex execution: G.1X or G.2X; aws/aws-cdk PR #26203 checks the same). */
export const FLEX_WORKER_TYPES = ['G.1X', 'G.2X'];
/** Glue API, `JobRun.Timeout`: "Jobs must have timeout values less than 7 days or 10080 minutes." */
export const MAX_TIMEOUT_MINUTES = 10_080;

/** The settings of a merge job its owner's users may set, under the names they set them. */
export interface MergeSettingNames {
  readonly workerType?: string;
  readonly numberOfWorkers?: string;
  readonly timeout?: string;
  readonly flex?: string;
  readonly schedule?: string;
}

/** The props every ingestion names its merge settings with (docs/conventions.md). */
export const MERGE_SETTING_NAMES: MergeSettingNames = {
  workerType: 'mergeWorkerType', numberOfWorkers: 'mergeNumberOfWorkers', timeout: 'mergeTimeout', flex: 'mergeFlex', schedule: 'mergeSchedule',
};

/** Validates the merge settings a construct passes on; `names` are the props its users wrote. */
export function validateMergeSettings(construct: string, names: MergeSettingNames, s: {
  workerType?: string; numberOfWorkers?: number; timeout?: Duration; flex?: boolean; schedule?: scheduler.ScheduleExpression;
}): void {
  const n = { workerType: 'workerType', numberOfWorkers: 'numberOfWorkers', timeout: 'timeout', flex: 'flex', schedule: 'schedule', ...names };
  const workerType = s.workerType ?? 'G.1X';
  if (!Token.isUnresolved(workerType) && !WORKER_TYPES.includes(workerType)) {
    throw propError(construct, n.workerType, `"${workerType}" is not a Glue 5.0 Spark worker type`, `use one of ${WORKER_TYPES.join(', ')}`);
  }
  if (s.flex && !FLEX_WORKER_TYPES.includes(workerType)) {
    throw propError(construct, n.flex, `Flex runs only on ${FLEX_WORKER_TYPES.join(' or ')} workers, not ${workerType}`, `use ${n.workerType} G.1X or G.2X, or turn Flex off`);
  }
  if (s.numberOfWorkers !== undefined) {
    wholeIn(construct, n.numberOfWorkers, s.numberOfWorkers, 2, 10_000, 'give at least 2 workers (Glue\'s minimum for a Spark job)');
  }
  if (s.timeout !== undefined) {
    const minutes = s.timeout.toMinutes({ integral: false });
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_TIMEOUT_MINUTES) {
      throw propError(construct, n.timeout, `${s.timeout.toHumanString()} is not a whole number of minutes from 1 to ${MAX_TIMEOUT_MINUTES} (7 days)`, 'use e.g. Duration.hours(2)');
    }
  }
  if (s.schedule) validateScheduleExpression(construct, n.schedule, s.schedule);
}

/** What `resolveMergeJobProps` reads of `MergeJobProps` (declared here so the two files import one way only). */
interface MergeJobSettings {
  readonly pipelineName: string;
  readonly scriptPath: string;
  readonly jobNamePrefix?: string;
  readonly workerType?: string;
  readonly numberOfWorkers?: number;
  readonly flex?: boolean;
  readonly timeout?: Duration;
  readonly maxRetries?: number;
  readonly maxConcurrentRuns?: number;
  readonly schedule?: scheduler.ScheduleExpression;
  readonly connections?: string[];
  readonly removalPolicy?: RemovalPolicy;
}

/** Every default and every validation of `MergeJobProps`, in one place. */
export function resolveMergeJobProps(props: MergeJobSettings) {
  const NAME = 'MergeJob';
  if (!props.pipelineName || (!Token.isUnresolved(props.pipelineName) && props.pipelineName.trim() === '')) {
    throw propError(NAME, 'pipelineName', 'it is empty', 'give the name of the pipeline the job belongs to');
  }
  if (!Token.isUnresolved(props.scriptPath) && !props.scriptPath.endsWith('.py')) {
    throw propError(NAME, 'scriptPath', `"${props.scriptPath}" is not a .py file`, 'give the path of the PySpark script');
  }
  const jobNamePrefix = props.jobNamePrefix ?? `${props.pipelineName}-merge`;
  // Glue job names: 1-255 characters; the unique suffix takes 21.
  if (!Token.isUnresolved(jobNamePrefix) && (jobNamePrefix.length > 200 || !/^[A-Za-z0-9_.-]+$/.test(jobNamePrefix))) {
    throw propError(NAME, 'jobNamePrefix', `"${jobNamePrefix}" is not 1-200 letters, digits, "-", "_" or "."`, 'use a short name such as "orders-merge"');
  }
  const resolved = {
    jobNamePrefix,
    workerType: props.workerType ?? 'G.1X',
    flex: props.flex ?? false,
    numberOfWorkers: props.numberOfWorkers ?? 2,
    timeout: props.timeout ?? Duration.hours(2),
    maxRetries: props.maxRetries ?? 0,
    maxConcurrentRuns: props.maxConcurrentRuns ?? 1,
    connections: props.connections ?? [],
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
  };
  validateMergeSettings(NAME, {}, { ...resolved, schedule: props.schedule });
  wholeIn(NAME, 'maxRetries', resolved.maxRetries, 0, 10, 'give 0 to 10 retries');
  wholeIn(NAME, 'maxConcurrentRuns', resolved.maxConcurrentRuns, 1, 1000, 'give at least 1 concurrent run');
  return resolved;
}

function wholeIn(construct: string, prop: string, value: number, min: number, max: number, fix: string): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw propError(construct, prop, `${value} is not a whole number from ${min} to ${max}`, fix);
  }
}
