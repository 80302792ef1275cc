import * as events from 'aws-cdk-lib/aws-events';

/**
 * EventBridge patterns for the failures that are not metrics: a Glue job run that failed or
 * timed out, a DMS task that stopped or failed, a Step Functions execution that failed. A
 * pipeline puts them in its `failureEvents`; `PipelineObservability` turns each into an alert.
 */
export class FailureEvents {
  /**
   * Glue job runs that end FAILED, TIMEOUT or ERROR, for the named jobs.
   * @param jobNames names of the Glue jobs
   */
  public static glueJob(jobNames: string[]): events.EventPattern {
    return {
      source: ['aws.glue'],
      detailType: ['Glue Job State Change'],
      detail: { jobName: jobNames, state: ['FAILED', 'TIMEOUT', 'ERROR'] },
    };
  }

  /**
   * Step Functions executions that end FAILED, TIMED_OUT or ABORTED, for the state machines.
   * @param stateMachineArns ARNs of the state machines
   */
  public static stateMachine(stateMachineArns: string[]): events.EventPattern {
    return {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: stateMachineArns, status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
    };
  }

  /**
   * DMS replication tasks that failed or stopped, for the task ARNs.
   * @param replicationTaskArns ARNs of the DMS replication tasks or configurations
   */
  public static dmsTask(replicationTaskArns: string[]): events.EventPattern {
    return {
      source: ['aws.dms'],
      detailType: ['DMS Replication Task State Change'],
      resources: replicationTaskArns,
      detail: { eventType: ['REPLICATION_TASK_FAILED', 'REPLICATION_TASK_STOPPED'] },
    };
  }

  private constructor() {}
}
