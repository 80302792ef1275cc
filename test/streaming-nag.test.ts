import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { DedupCapacity, LakehouseTier, StreamingDedupIngestion } from '../src';

function stackWith(build: (stack: Stack, lake: LakehouseTier) => void): Stack {
  const stack = new Stack(new App(), 'NagStreaming');
  const lake = new LakehouseTier(stack, 'Lake');
  build(stack, lake);
  return stack;
}

describe('cdk-nag AwsSolutions on StreamingDedupIngestion', () => {
  test('defaults: no error or warning left', () => {
    const findings = nagFindings(stackWith((stack, lake) => {
      const events = new StreamingDedupIngestion(stack, 'Events', { lake });
      const producer = new iam.Role(stack, 'Producer', { assumedBy: new iam.AccountRootPrincipal() });
      events.grantPut(producer);
      NagSuppressions.addResourceSuppressions(producer, [
        { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'The user\'s own role (fixture): how its policies are managed is its owner\'s choice.' },
      ], true);
    }));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });

  test('no dedup, provisioned stream: no error or warning left', () => {
    const findings = nagFindings(stackWith((stack, lake) => {
      new StreamingDedupIngestion(stack, 'Events', { lake, deduplicate: false, streamMode: kinesis.StreamMode.PROVISIONED, shardCount: 2 });
    }));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });

  test('provisioned dedup capacity: no error or warning left', () => {
    const findings = nagFindings(stackWith((stack, lake) => {
      new StreamingDedupIngestion(stack, 'Events', {
        lake, dedupCapacity: DedupCapacity.provisioned({ minWriteCapacity: 50, maxWriteCapacity: 1000 }),
      });
    }));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
