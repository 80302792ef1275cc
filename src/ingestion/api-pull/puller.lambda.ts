// The ApiPullIngestion puller: one function for every endpoint of a construct. The state machine
// calls it with `{ action: 'pull', endpoint, ... }` and, once the run is landed and transformed,
// with `{ action: 'commit', endpoint, runId, windowEnd }`. Logic lives in runtime/ (tested there
// against a local HTTP server); this file only wires the AWS clients.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CONFIG_ENV, EndpointConfig, PullerConfig } from './runtime/config';
import { ERROR_NAMES, PullError } from './runtime/errors';
import { CommitEvent, Puller, PullerDeps, PullEvent } from './runtime/puller';
import { DynamoWatermarkStore } from './runtime/watermark';

let base: { config: PullerConfig; deps: PullerDeps } | undefined;

/**
 * The function's environment holds what all endpoints share; each endpoint's own configuration
 * comes in the event from the state machine definition (so a construct may have many endpoints
 * without hitting Lambda's 4 KiB environment limit). Only the workflow's role invokes the function.
 */
function puller(endpoints: EndpointConfig[] = []): Puller {
  if (!base) {
    const text = process.env[CONFIG_ENV];
    if (!text) throw new PullError(ERROR_NAMES.config, `${CONFIG_ENV} is not set`);
    const config = JSON.parse(text) as PullerConfig;
    const secrets = new SecretsManagerClient({});
    base = {
      config,
      deps: {
        s3: new S3Client({}),
        watermarks: new DynamoWatermarkStore(new DynamoDBClient({}), config.watermarkTable, config.pipelineName),
        getSecret: async (arn) => (await secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString,
      },
    };
  }
  return new Puller({ ...base.config, endpoints: Object.fromEntries(endpoints.map((e) => [e.name, e])) }, base.deps);
}

type PullerEvent =
  | (PullEvent & { action?: 'pull'; config: EndpointConfig })
  | (CommitEvent & { action: 'commit' })
  | { action: 'listUploads'; endpoints: EndpointConfig[] }
  | { action: 'finishUpload'; endpoint: string; key: string };

export async function handler(event: PullerEvent) {
  switch (event.action) {
    case 'commit': return puller().commit(event);
    case 'listUploads': return puller(event.endpoints).listUploads();
    case 'finishUpload': return puller().finishUpload(event);
    default: return puller([event.config]).pull(event);
  }
}
