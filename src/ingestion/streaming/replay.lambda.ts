/**
 * The replay Lambda: an operator invokes it with `{ eventType, from, to, replayId?, maxEvents?,
 * startAfter? }` (see `replay-core.ts` and docs/streaming-dedup-ingestion.md). It answers what it sent and, when its
 * limit stopped it, where to continue.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { replay, ReplayRequest, ReplayResult } from './replay-core';

const logger = new Logger();
const s3 = new S3Client({});
const kinesis = new KinesisClient({});

export const handler = async (request: ReplayRequest): Promise<ReplayResult> => {
  const result = await replay(request, {
    bucket: process.env.RAW_BUCKET!,
    prefix: process.env.RAW_PREFIX!,
    streamName: process.env.STREAM_NAME!,
    maxEvents: Number(process.env.MAX_EVENTS ?? '100000'),
    envelope: process.env.ENVELOPE === 'true',
  }, { s3, kinesis });
  logger.info('replay done', { ...result });
  return result;
};
