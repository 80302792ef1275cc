import { propError } from '../core/validation';

/** Options for a date partition projection. */
export interface DatePartitionOptions {
  /** Java date format of the partition values, e.g. `yyyy-MM-dd`. */
  readonly format: string;
  /** First value of the range in that format, or a relative one such as `NOW-3YEARS`. */
  readonly rangeStart: string;
  /**
   * Last value of the range.
   * @default 'NOW'
   */
  readonly rangeEnd?: string;
  /**
   * Interval between values.
   * @default 1
   */
  readonly interval?: number;
  /**
   * Unit of the interval (`YEARS`, `MONTHS`, `WEEKS`, `DAYS`, `HOURS`, `MINUTES`, `SECONDS`).
   * @default 'DAYS'
   */
  readonly intervalUnit?: string;
}

/**
 * How Athena computes the partitions of one key without a crawler or `MSCK REPAIR`
 * (partition projection). Enum-like: each type carries its settings.
 */
export class PartitionProjection {
  /**
   * Values are given by the query (`WHERE key = 'x'`); any value works. Queries must filter
   * on the key. Good for high-cardinality keys such as an event type.
   */
  public static injected(): PartitionProjection {
    return new PartitionProjection('injected', {});
  }

  /**
   * A fixed list of values.
   * @param values the values the partition key takes
   */
  public static values(values: string[]): PartitionProjection {
    if (values.length === 0) {
      throw propError('PartitionProjection', 'values', 'the list is empty', 'give at least one value, or use PartitionProjection.injected()');
    }
    return new PartitionProjection('enum', { values: values.join(',') });
  }

  /**
   * Integers from min to max, zero-padded to `digits` (e.g. month 01-12).
   * @param min the smallest value
   * @param max the largest value
   * @param digits the number of digits, zero-padded (e.g. 2 for `01`)
   */
  public static integerRange(min: number, max: number, digits?: number): PartitionProjection {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min > max) {
      throw propError('PartitionProjection', 'integerRange', `[${min}, ${max}] is not a range of integers`, 'give whole numbers with min <= max');
    }
    return new PartitionProjection('integer', {
      range: `${min},${max}`,
      ...(digits !== undefined ? { digits: String(digits) } : {}),
    });
  }

  /**
   * Dates in a format between a start and an end.
   * @param options the first date, the format and the unit of the range
   */
  public static dateRange(options: DatePartitionOptions): PartitionProjection {
    return new PartitionProjection('date', {
      'format': options.format,
      'range': `${options.rangeStart},${options.rangeEnd ?? 'NOW'}`,
      'interval': String(options.interval ?? 1),
      'interval.unit': options.intervalUnit ?? 'DAYS',
    });
  }

  private constructor(
    /** The projection type (`injected`, `enum`, `integer`, `date`). */
    public readonly type: string,
    /** Settings of the type, keyed by suffix (`range`, `digits`...). */
    public readonly settings: { [key: string]: string },
  ) {}

  /** Glue table parameters for a key with this projection. @internal */
  public _parametersFor(key: string): { [key: string]: string } {
    const parameters: { [key: string]: string } = { [`projection.${key}.type`]: this.type };
    for (const [suffix, value] of Object.entries(this.settings)) {
      parameters[`projection.${key}.${suffix}`] = value;
    }
    return parameters;
  }
}
