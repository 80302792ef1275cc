import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { LakehouseTier, LakeZoneName, PartitionProjection } from '../src';

function lakeStack(removalPolicy: RemovalPolicy): Stack {
  const stack = new Stack(new App(), 'NagLake');
  const lake = new LakehouseTier(stack, 'Lake', { removalPolicy });
  const raw = lake.addRawTable('Raw', {
    tableName: 'events',
    columns: [{ name: 'id', type: 'string' }],
    partitionKeys: [{ name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: '2024-01-01' }) }],
  });
  const curated = lake.addIcebergTable('Curated', { tableName: 'events', columns: [{ name: 'id', type: 'string' }] });
  lake.addCrawler('Crawler', LakeZoneName.CLEAN);

  // A user's role granted through the lake. Object ARNs under a table prefix are the narrowest
  // S3 resource an object grant can have; that is what IAM5 flags here.
  const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
  raw.grantReadWrite(analyst);
  curated.grantRead(analyst);
  NagSuppressions.addResourceSuppressions(analyst, [{
    id: 'AwsSolutions-IAM5',
    reason: 'Grants from the lake: object ARNs under the granted table prefixes (events/*), nothing wider.',
    appliesTo: [{ regex: '/^Resource::<LakeRawBucket.*\\.Arn>/events/\\*$/' }, { regex: '/^Resource::<LakeCuratedBucket.*\\.Arn>/events/\\*$/' }],
  }, { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'The user\'s own role (fixture): how its policies are managed is its owner\'s choice.' }], true);
  return stack;
}

describe('cdk-nag AwsSolutions on a LakehouseTier with tables, a crawler and grants', () => {
  test.each([RemovalPolicy.RETAIN, RemovalPolicy.DESTROY])('no error or warning left (removal policy %s)', (policy) => {
    const findings = nagFindings(lakeStack(policy));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});

test('the nag harness reports findings (so an empty list above means something)', () => {
  const stack = new Stack(new App(), 'Bare');
  new s3.Bucket(stack, 'Plain');
  expect(nagFindings(stack).errors.join('\n')).toMatch(/AwsSolutions-S10/);
});
