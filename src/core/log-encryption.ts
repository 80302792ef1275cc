import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { suppressNag } from './nag';

/** Log-group settings every construct passes the same way. */
export interface LakeLogGroupProps extends Omit<logs.LogGroupProps, 'encryptionKey'> {
  /** The `logEncryptionKey` prop the user gave (used as is: its owner allowed CloudWatch Logs). */
  readonly userKey?: kms.IKey;
  /** The construct's own key, used when the construct may change its key policy. */
  readonly constructKey: kms.IKey;
  /** The prop that names a key for the logs, for the acknowledgement text. */
  readonly keyProp: string;
}

/**
 * A log group encrypted with a KMS key (NIST 800-53 R5 SC-13/SC-28: CloudWatchLogGroupEncrypted).
 *
 * - A `logEncryptionKey` the user passes is used as is.
 * - Otherwise the construct's own key, when it is a `kms.Key` of this app: the construct adds the
 *   key-policy statement CloudWatch Logs needs (the `logs.<region>` principal, only for log groups
 *   of the key's account and Region, through the `aws:logs:arn` encryption context), as the
 *   CloudWatch Logs User Guide ("Encrypt log data in CloudWatch Logs using AWS KMS") describes.
 * - An imported key's policy cannot be changed here: the group then keeps CloudWatch Logs' own
 *   encryption at rest, and the finding is acknowledged on that one group with the fix.
 */
export function lakeLogGroup(scope: Construct, id: string, props: LakeLogGroupProps): logs.LogGroup {
  const { userKey, constructKey, keyProp, ...groupProps } = props;
  const key = userKey ?? (constructKey instanceof kms.Key ? allowCloudWatchLogs(constructKey) : undefined);
  const group = new logs.LogGroup(scope, id, { ...groupProps, encryptionKey: key });
  if (!key) {
    suppressNag(group, [{
      id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted',
      reason: 'The construct\'s key is imported, so its key policy cannot be given the CloudWatch Logs statement here; the group keeps '
        + `CloudWatch Logs' own encryption at rest. Pass \`${keyProp}\` (a key whose policy allows logs.<region>.amazonaws.com) to use a CMK.`,
    }]);
  }
  return group;
}

const granted = new WeakSet<kms.Key>();

function allowCloudWatchLogs(key: kms.Key): kms.Key {
  if (granted.has(key)) return key;
  granted.add(key);
  const stack = Stack.of(key);
  key.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'AllowCloudWatchLogsOfThisAccount',
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
          service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    },
  }));
  return key;
}
