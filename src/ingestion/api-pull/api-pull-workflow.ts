import { Duration } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { EndpointConfig } from './runtime/config';
import { ERROR_NAMES } from './runtime/errors';

/** What the ApiPullIngestion workflow is built from. */
export interface ApiPullWorkflowOptions {
  readonly pipelineName: string;
  readonly puller: lambda.IFunction;
  readonly transformJob: glue.CfnJob;
  readonly rawBucket: s3.IBucket;
  readonly notificationTopic: sns.ITopic;
  /** Where failed runs are recorded (`<prefix><execution name>.json` in the raw bucket). */
  readonly failuresPrefix: string;
  readonly notifyOnSuccess: boolean;
  /** Whether the pipeline has an upload drop (adds the uploads branch). */
  readonly uploads: boolean;
  readonly endpoints: EndpointConfig[];
}

/** The error a failed run ends with (its cause names the error that failed it). */
export const RUN_FAILED = 'ApiPull.RunFailed';

const LAMBDA_SERVICE_ERRORS = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'];

/**
 * The ApiPullIngestion workflow (JSONPath): Read input → Which endpoint? → Pull → Transform →
 * Commit → (Notify success) → Run succeeded; a failed step, or an endpoint the definition does
 * not know, → Record failure → Notify failure → Run failed.
 *
 * No state reads an input field that a trigger may leave out. Step Functions ends an execution on
 * a `States.Runtime` error (a JSONPath missing from the input, say) without running any Catch,
 * `States.ALL` included, so a missing optional field (`windowStart`, `windowEnd`, `scheduledTime`)
 * must never be referenced by path. The puller gets the run's input itself, merged with the fields
 * the definition fixes: an optional field that is absent stays absent. (A `Pass` state's defaults
 * of `null` cannot fill the gaps: CDK drops `null` values from a definition.)
 */
export function apiPullWorkflow(scope: Construct, options: ApiPullWorkflowOptions): sfn.IChainable {
  const { endpoints } = options;

  // ---- failure path ------------------------------------------------------------------------
  const record = new tasks.CallAwsService(scope, 'RecordFailure', {
    stateName: 'Record failure',
    comment: 'Keeps the failed run\'s input and error under the lake\'s _ops/ prefix',
    service: 's3',
    action: 'putObject',
    parameters: {
      'Bucket': options.rawBucket.bucketName,
      'Key.$': `States.Format('${options.failuresPrefix}{}.json', $$.Execution.Name)`,
      'Body.$': 'States.JsonToString($)',
      'ContentType': 'application/json',
    },
    iamResources: [options.rawBucket.arnForObjects(`${options.failuresPrefix}*`)],
    iamAction: 's3:PutObject',
    resultPath: sfn.JsonPath.DISCARD,
  });
  record.addRetry({ maxAttempts: 3, interval: Duration.seconds(2), backoffRate: 2 });
  const notifyFailure = new tasks.SnsPublish(scope, 'NotifyFailure', {
    stateName: 'Notify failure',
    topic: options.notificationTopic,
    subject: `ApiPullIngestion ${options.pipelineName}: run failed`,
    message: sfn.TaskInput.fromObject({
      'pipeline': options.pipelineName,
      'execution.$': '$$.Execution.Id',
      'error.$': '$.error',
      'run.$': '$',
      'rerun': 'Start a new execution with this execution\'s input: the same window is pulled again into the same keys and merged by record id (no duplicates, no gap).',
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  notifyFailure.addRetry({ maxAttempts: 3, interval: Duration.seconds(2), backoffRate: 2 });
  // A fixed error name: the caught one may be a built-in `States.*` name, which a state must not
  // report as its own (Amazon States Language: custom error names MUST NOT begin with "States.").
  // The cause carries the caught error and its cause; `$.error` is set on every path to this state.
  const failed = new sfn.Fail(scope, 'Failed', {
    stateName: 'Run failed',
    error: RUN_FAILED,
    causePath: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.error')),
  });
  record.next(notifyFailure).next(failed);
  // Recording must not stop the notification, nor the notification the Fail state.
  record.addCatch(notifyFailure, { resultPath: '$.recordError' });
  notifyFailure.addCatch(failed, { resultPath: '$.notifyError' });

  // ---- pull run ----------------------------------------------------------------------------
  // The puller's event is the run's input merged with what the definition fixes (the action, the
  // start time, then the endpoint's configuration): optional fields the trigger left out stay out.
  const pull = new tasks.LambdaInvoke(scope, 'Pull', {
    stateName: 'Pull pages into raw',
    comment: 'Walks the pages of one window and streams each body into the raw zone unchanged; writes the run manifest last',
    lambdaFunction: options.puller,
    payloadResponseOnly: true,
    resultPath: '$.pull',
    retryOnServiceExceptions: false,
  });
  pull.addRetry({
    errors: LAMBDA_SERVICE_ERRORS, interval: Duration.seconds(2), maxAttempts: 4, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL,
  });
  pull.addRetry({ errors: [ERROR_NAMES.transient, 'States.Timeout', 'Sandbox.Timedout'], interval: Duration.minutes(1), maxAttempts: 2, backoffRate: 3, jitterStrategy: sfn.JitterType.FULL });

  const transform = new tasks.GlueStartJobRun(scope, 'Transform', {
    stateName: 'Transform into curated',
    comment: 'Explodes the records of the run\'s pages, flattens them and MERGEs them into the curated Iceberg table',
    glueJobName: options.transformJob.ref,
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    arguments: sfn.TaskInput.fromObject({
      '--manifest_url.$': '$.pull.manifestUrl',
      '--records_path.$': '$.pull.recordsPath',
      '--record_id.$': '$.pull.recordIdField',
      '--table.$': '$.pull.tableName',
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  transform.addRetry({ errors: ['Glue.ConcurrentRunsExceededException', 'Glue.InternalServiceException', 'Glue.ThrottlingException'], interval: Duration.minutes(1), maxAttempts: 5, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
  // A MERGE by record id makes a repeated transform harmless: one retry for transient job failures.
  transform.addRetry({ errors: ['States.TaskFailed'], interval: Duration.minutes(2), maxAttempts: 1 });

  const commit = new tasks.LambdaInvoke(scope, 'Commit', {
    stateName: 'Commit watermark',
    comment: 'Moves the endpoint\'s watermark to the end of the window, only now that the run is landed and merged',
    lambdaFunction: options.puller,
    payload: sfn.TaskInput.fromObject({
      'action': 'commit',
      'endpoint.$': '$.pull.endpoint',
      'runId.$': '$.pull.runId',
      'windowEnd.$': '$.pull.windowEnd',
    }),
    payloadResponseOnly: true,
    resultPath: '$.commit',
    retryOnServiceExceptions: false,
  });
  commit.addRetry({ errors: [...LAMBDA_SERVICE_ERRORS, 'States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 5, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
  for (const step of [pull, transform, commit]) step.addCatch(record, { resultPath: '$.error' });

  // Defaults that are not null (CDK keeps them), overridden by the input, then the fixed fields
  // over both: a run cannot choose the action, and the endpoint is always a string for the Choice.
  const readInput = new sfn.Pass(scope, 'Defaults', {
    stateName: 'Read input',
    parameters: {
      'defaults': { endpoint: '' },
      'fixed': { 'action': 'pull', 'executionStartTime.$': '$$.Execution.StartTime' },
      'input.$': '$',
    },
  });
  const merge = new sfn.Pass(scope, 'MergeInput', {
    stateName: 'Fill input defaults',
    parameters: { 'merged.$': 'States.JsonMerge(States.JsonMerge($.defaults, $.input, false), $.fixed, false)' },
    outputPath: '$.merged',
  });

  // One branch per endpoint sets its configuration from the definition: the run's input names
  // the endpoint but cannot change what is pulled, from where, or with which secret.
  const unknown = new sfn.Pass(scope, 'UnknownEndpoint', {
    stateName: 'Unknown endpoint',
    comment: 'A run for an endpoint the definition does not know fails like any other run: recorded and notified',
    result: sfn.Result.fromObject({
      Error: ERROR_NAMES.config,
      Cause: `The input's "endpoint" is not one of: ${endpoints.map((e) => e.name).join(', ')}`,
    }),
    resultPath: '$.error',
  });
  unknown.next(record);
  const which = new sfn.Choice(scope, 'WhichEndpoint', { stateName: 'Which endpoint?' });
  for (const ep of endpoints) {
    which.when(sfn.Condition.stringEquals('$.endpoint', ep.name), new sfn.Pass(scope, `Config-${ep.name}`, {
      stateName: `Endpoint ${ep.name}`,
      result: sfn.Result.fromObject(ep as unknown as Record<string, unknown>),
      resultPath: '$.config',
    }).next(pull));
  }
  which.otherwise(unknown);
  readInput.next(merge).next(which);

  let chain = sfn.Chain.custom(readInput, [pull], pull).next(transform).next(commit);
  if (options.notifyOnSuccess) {
    const notifySuccess = new tasks.SnsPublish(scope, 'NotifySuccess', {
      stateName: 'Notify success',
      topic: options.notificationTopic,
      subject: `ApiPullIngestion ${options.pipelineName}: run succeeded`,
      message: sfn.TaskInput.fromJsonPathAt('$.pull'),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notifySuccess.addRetry({ maxAttempts: 3, interval: Duration.seconds(2), backoffRate: 2 });
    // The run is committed; a notice that cannot be sent is still recorded and ends the run FAILED so it is seen.
    notifySuccess.addCatch(record, { resultPath: '$.error' });
    chain = chain.next(notifySuccess);
  }
  const pullRun = chain.next(new sfn.Succeed(scope, 'Succeeded', { stateName: 'Run succeeded' }));
  if (!options.uploads) return pullRun;

  // ---- upload drop: list the waiting files, merge each with the same job, move it to _done/ ----
  const listUploads = new tasks.LambdaInvoke(scope, 'ListUploads', {
    stateName: 'List uploads',
    lambdaFunction: options.puller,
    payload: sfn.TaskInput.fromObject({ action: 'listUploads', endpoints }),
    payloadResponseOnly: true,
    resultPath: '$.list',
    retryOnServiceExceptions: false,
  });
  listUploads.addRetry({
    errors: LAMBDA_SERVICE_ERRORS, interval: Duration.seconds(2), maxAttempts: 4, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL,
  });
  const transformUpload = new tasks.GlueStartJobRun(scope, 'TransformUpload', {
    stateName: 'Transform upload',
    comment: 'Merges one uploaded CSV/JSON file like a pulled run; a file that cannot be parsed is quarantined with its reason',
    glueJobName: options.transformJob.ref,
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    arguments: sfn.TaskInput.fromObject({
      '--upload_url.$': '$.uploadUrl',
      '--endpoint.$': '$.endpoint',
      '--records_path.$': '$.recordsPath',
      '--record_id.$': '$.recordIdField',
      '--table.$': '$.tableName',
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  transformUpload.addRetry({ errors: ['Glue.ConcurrentRunsExceededException', 'Glue.InternalServiceException', 'Glue.ThrottlingException'], interval: Duration.minutes(1), maxAttempts: 5, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
  const finishUpload = new tasks.LambdaInvoke(scope, 'FinishUpload', {
    stateName: 'Move upload to _done',
    lambdaFunction: options.puller,
    payload: sfn.TaskInput.fromObject({ 'action': 'finishUpload', 'endpoint.$': '$.endpoint', 'key.$': '$.key' }),
    payloadResponseOnly: true,
    resultPath: sfn.JsonPath.DISCARD,
    retryOnServiceExceptions: false,
  });
  finishUpload.addRetry({ errors: [...LAMBDA_SERVICE_ERRORS, 'States.TaskFailed'], interval: Duration.seconds(2), maxAttempts: 5, backoffRate: 2, jitterStrategy: sfn.JitterType.FULL });
  const eachUpload = new sfn.Map(scope, 'EachUpload', {
    stateName: 'Each upload',
    itemsPath: '$.list.uploads',
    maxConcurrency: 2,
    resultPath: sfn.JsonPath.DISCARD,
  });
  eachUpload.itemProcessor(transformUpload.next(finishUpload));
  listUploads.addCatch(record, { resultPath: '$.error' });
  eachUpload.addCatch(record, { resultPath: '$.error' });
  const uploadRun = listUploads.next(eachUpload).next(new sfn.Succeed(scope, 'UploadsSucceeded', { stateName: 'Uploads merged' }));

  // IsPresent first: a Choice rule on a path the input lacks is a States.Runtime error.
  return new sfn.Choice(scope, 'Mode', { stateName: 'Pull or uploads?' })
    .when(sfn.Condition.and(sfn.Condition.isPresent('$.mode'), sfn.Condition.stringEquals('$.mode', 'uploads')), uploadRun)
    .otherwise(pullRun);
}
