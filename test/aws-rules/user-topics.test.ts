/**
 * Topics a user brings (encrypted with their own key): the workflows that publish to them must
 * be able to use the topic's key, or every notification fails.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Edge, ENV, expectEdge, StackPolicies, viaSns } from './iam-harness';
import { ApiPullIngestion, AthenaServing, LakehouseTier } from '../../src';

function userTopic(stack: Stack) {
  const key = new kms.Key(stack, 'TeamKey');
  return { key, topic: new sns.Topic(stack, 'TeamTopic', { masterKey: key, enforceSSL: true }) };
}

test('ApiPullIngestion notificationTopic: the workflow can use the topic key', async () => {
  const stack = new Stack(new App(), 'ApiTopic', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const { key, topic } = userTopic(stack);
  const api = new ApiPullIngestion(stack, 'Api', {
    lake,
    pipelineName: 'shop',
    notificationTopic: topic,
    endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
  });
  const p = new StackPolicies(stack);
  const topicArn = p.str(topic.topicArn);
  const who = p.str(api.stateMachine.role.roleArn);
  const edges: Edge[] = [
    { name: 'publish', who, action: 'sns:Publish', resource: topicArn, expect: 'allow', why: 'Notify failure' },
    { name: 'data key', who, action: 'kms:GenerateDataKey', resource: p.str(key.keyArn), context: viaSns(topicArn), expect: 'allow', why: 'SSE topic with the team key' },
  ];
  for (const e of edges) await expectEdge(p, e);
});

test('AthenaServing notificationTopic: the report workflows can use the topic key', async () => {
  const stack = new Stack(new App(), 'AthenaTopic', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const { key, topic } = userTopic(stack);
  const serving = new AthenaServing(stack, 'Analysts', { lake, workGroupName: 'analysts', notificationTopic: topic });
  const report = serving.addScheduledQuery('Daily', { queryName: 'daily', sql: 'SELECT 1', schedule: scheduler.ScheduleExpression.expression('cron(0 6 * * ? *)') });
  const p = new StackPolicies(stack);
  const topicArn = p.str(topic.topicArn);
  const who = p.str(report.stateMachine.role.roleArn);
  await expectEdge(p, { name: 'publish', who, action: 'sns:Publish', resource: topicArn, expect: 'allow', why: 'report notice' });
  await expectEdge(p, {
    name: 'data key', who, action: 'kms:GenerateDataKey', resource: p.str(key.keyArn), context: viaSns(topicArn), expect: 'allow', why: 'SSE topic with the team key',
  });
});
