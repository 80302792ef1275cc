/**
 * Integ test: PipelineObservability watching a pipeline that fails on purpose. The pipeline is
 * a Step Functions state machine whose only state is a Fail state; the test starts it, then
 * asserts that
 *  1. the failure event reaches the alert topic as a readable message (an SQS queue subscribed
 *     to the topic receives "Pipeline "integ-failing" failed ..."), and
 *  2. the pipeline's errors alarm (ExecutionsFailed > 0) goes to ALARM.
 * The lake is there too, so the logs and events Firehoses, their role and tables deploy.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.observability.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns_subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
// Modules rather than the index, so this test compiles whatever else is being written in src/.
import { FailureEvents } from '../src/core/failure-events';
import { DataPipeline, PipelineKind } from '../src/core/pipeline';
import { DESTROY_ON_REMOVAL_CONTEXT, LakehouseTier } from '../src/lakehouse/lakehouse-tier';
import { PipelineObservability } from '../src/observability/pipeline-observability';

// Everything this test creates is deleted with the stack (the topic key included).
const app = new App({ context: { [DESTROY_ON_REMOVAL_CONTEXT]: true } });
const stack = new Stack(app, 'ObservabilityIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_observability', removalPolicy: RemovalPolicy.DESTROY });

// The pipeline that fails on purpose.
const machineLogs = new logs.LogGroup(stack, 'MachineLogs', { removalPolicy: RemovalPolicy.DESTROY, retention: logs.RetentionDays.ONE_DAY });
const machine = new sfn.StateMachine(stack, 'FailingPull', {
  definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Fail(stack, 'AlwaysFails', { error: 'IntegFailure', cause: 'failing on purpose' })),
  logs: { destination: machineLogs, level: sfn.LogLevel.ALL },
  tracingEnabled: true,
});
const pipeline = new DataPipeline(stack, 'Failing', {
  pipelineName: 'integ-failing',
  pipelineKind: PipelineKind.API_PULL,
  metrics: {
    throughput: machine.metricSucceeded({ period: Duration.minutes(1) }),
    errors: machine.metricFailed({ period: Duration.minutes(1) }),
  },
  failureEvents: [FailureEvents.stateMachine([machine.stateMachineArn])],
  logGroups: [machineLogs],
});

const observability = new PipelineObservability(stack, 'Observability', { pipelines: [pipeline], lake });

// The test's subscriber: whatever reaches the topic lands here.
const inbox = new sqs.Queue(stack, 'AlertInbox', {
  encryption: sqs.QueueEncryption.SQS_MANAGED,
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
});
observability.topic.addSubscription(new sns_subscriptions.SqsSubscription(inbox, { rawMessageDelivery: true }));

const integ = new IntegTest(app, 'ObservabilityInteg', { testCases: [stack], regions: ['us-east-1'] });

const start = integ.assertions.awsApiCall('StepFunctions', 'startExecution', { stateMachineArn: machine.stateMachineArn });

const alert = integ.assertions.awsApiCall('SQS', 'receiveMessage', {
  QueueUrl: inbox.queueUrl,
  WaitTimeSeconds: 20,
  MaxNumberOfMessages: 10,
});
alert.expect(ExpectedResult.objectLike({
  Messages: Match.arrayWith([Match.objectLike({ Body: Match.stringLikeRegexp('integ-failing.*failed.*ended FAILED') })]),
}));
alert.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });

const alarm = integ.assertions.awsApiCall('CloudWatch', 'describeAlarms', {
  AlarmNames: [observability.watchedPipeline('integ-failing').errorsAlarm!.alarmName],
});
alarm.expect(ExpectedResult.objectLike({ MetricAlarms: [Match.objectLike({ StateValue: 'ALARM' })] }));
alarm.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(30) });

start.next(alert).next(alarm);
