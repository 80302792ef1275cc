import * as events from 'aws-cdk-lib/aws-events';

/**
 * A readable alert for a failure event, tailored to the services whose events carry a name and
 * a reason, so the person paged does not have to read raw event JSON.
 */
export function failureMessage(pipelineName: string, pattern: events.EventPattern): events.RuleTargetInput {
  const sources = pattern.source ?? [];
  const type = events.EventField.fromPath('$.detail-type');
  const time = events.EventField.time;
  const account = events.EventField.account;
  const region = events.EventField.region;
  const head = `Pipeline "${pipelineName}" failed (${type}) at ${time} in ${account}/${region}.`;
  if (sources.length === 1 && sources[0] === 'aws.glue') {
    return events.RuleTargetInput.fromText(
      `${head} Glue job ${events.EventField.fromPath('$.detail.jobName')} run ${events.EventField.fromPath('$.detail.jobRunId')} ended ${events.EventField.fromPath('$.detail.state')}: ${events.EventField.fromPath('$.detail.message')}`);
  }
  if (sources.length === 1 && sources[0] === 'aws.states') {
    return events.RuleTargetInput.fromText(
      `${head} Execution ${events.EventField.fromPath('$.detail.executionArn')} ended ${events.EventField.fromPath('$.detail.status')}: ${events.EventField.fromPath('$.detail.cause')}`);
  }
  if (sources.length === 1 && sources[0] === 'aws.dms') {
    return events.RuleTargetInput.fromText(
      `${head} DMS ${events.EventField.fromPath('$.detail.eventType')} on ${events.EventField.fromPath('$.resources[0]')}: ${events.EventField.fromPath('$.detail.detailMessage')}`);
  }
  return events.RuleTargetInput.fromText(
    `${head} Source ${events.EventField.source}, resources ${events.EventField.fromPath('$.resources')}.`);
}

/** The event as a JSON line for the lake: flat, Glue-safe keys, the detail kept whole. */
export function lakeEventRecord(pipelineName: string): events.RuleTargetInput {
  return events.RuleTargetInput.fromObject({
    pipeline: pipelineName,
    id: events.EventField.eventId,
    time: events.EventField.time,
    source: events.EventField.source,
    detail_type: events.EventField.detailType,
    account: events.EventField.account,
    region: events.EventField.region,
    resources: events.EventField.fromPath('$.resources'),
    detail: events.EventField.fromPath('$.detail'),
  });
}
