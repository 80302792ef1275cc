// Runtime code of the puller Lambda: its packages are bundled into the function by esbuild (devDependencies).
/* eslint-disable import/no-extraneous-dependencies */
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';

/** The last successful watermark of an endpoint. */
export interface StoredWatermark {
  /** End of the last committed window (ISO-8601 UTC). */
  readonly watermark: string;
  /** Run that committed it. */
  readonly runId: string;
  /** When it was committed (ISO-8601 UTC). */
  readonly committedAt: string;
}

/** Where watermarks are kept. */
export interface WatermarkStore {
  get(endpoint: string): Promise<StoredWatermark | undefined>;
  /**
   * Moves the watermark forward to `watermark` (never back). Returns false when it already was
   * at or past it (a re-run of a committed window), which is not an error.
   */
  advance(endpoint: string, value: StoredWatermark): Promise<boolean>;
}

/**
 * Watermarks in a DynamoDB table keyed by `pk` = `<pipeline>#<endpoint>`. The conditional update
 * makes the advance monotonic and a repeated commit a no-op.
 */
export class DynamoWatermarkStore implements WatermarkStore {
  constructor(private readonly client: DynamoDBClient, private readonly table: string, private readonly pipeline: string) {}

  public async get(endpoint: string): Promise<StoredWatermark | undefined> {
    const out = await this.client.send(new GetItemCommand({
      TableName: this.table,
      Key: { pk: { S: this.key(endpoint) } },
      ConsistentRead: true,
    }));
    const item = out.Item;
    if (!item?.watermark?.S) return undefined;
    return { watermark: item.watermark.S, runId: item.runId?.S ?? '', committedAt: item.committedAt?.S ?? '' };
  }

  public async advance(endpoint: string, value: StoredWatermark): Promise<boolean> {
    try {
      await this.client.send(new UpdateItemCommand({
        TableName: this.table,
        Key: { pk: { S: this.key(endpoint) } },
        UpdateExpression: 'SET watermark = :w, runId = :r, committedAt = :c',
        ConditionExpression: 'attribute_not_exists(watermark) OR watermark < :w',
        ExpressionAttributeValues: { ':w': { S: value.watermark }, ':r': { S: value.runId }, ':c': { S: value.committedAt } },
      }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  private key(endpoint: string) {
    return `${this.pipeline}#${endpoint}`;
  }
}
