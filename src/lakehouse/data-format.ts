/** Options for CSV data. */
export interface CsvOptions {
  /**
   * Field separator.
   * @default ','
   */
  readonly separator?: string;
  /**
   * Quote character.
   * @default '"'
   */
  readonly quote?: string;
  /**
   * Header lines to skip at the top of each file.
   * @default 1
   */
  readonly headerLines?: number;
}

/**
 * The file format of a raw table: how Athena and Glue read the objects. An enum-like class
 * because a format carries its SerDe and input/output formats.
 */
export class DataFormat {
  /** One JSON object per line (JSON lines), optionally gzip-compressed (`.gz`). */
  public static readonly JSON_LINES = new DataFormat(
    'json',
    'org.apache.hadoop.mapred.TextInputFormat',
    'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    'org.openx.data.jsonserde.JsonSerDe',
    // Malformed lines fail the query instead of silently reading as nulls.
    { 'ignore.malformed.json': 'false' },
    {},
  );

  /** Apache Parquet. */
  public static readonly PARQUET = new DataFormat(
    'parquet',
    'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
    'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
    'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
    {},
    {},
  );

  /** Comma-separated values with a header line and double quotes (OpenCSVSerde). */
  public static readonly CSV = DataFormat.csv({});

  /**
   * CSV with a separator, quote and header lines of your choosing.
   * @param options the delimiter, quote and header settings
   */
  public static csv(options: CsvOptions): DataFormat {
    return new DataFormat(
      'csv',
      'org.apache.hadoop.mapred.TextInputFormat',
      'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      'org.apache.hadoop.hive.serde2.OpenCSVSerde',
      { separatorChar: options.separator ?? ',', quoteChar: options.quote ?? '"', escapeChar: '\\' },
      { 'skip.header.line.count': String(options.headerLines ?? 1) },
    );
  }

  private constructor(
    /** Glue `classification` of the table. */
    public readonly classification: string,
    /** Hadoop input format class. */
    public readonly inputFormat: string,
    /** Hadoop output format class. */
    public readonly outputFormat: string,
    /** SerDe class. */
    public readonly serializationLibrary: string,
    /** SerDe parameters. */
    public readonly serdeParameters: { [key: string]: string },
    /** Table parameters the format needs. */
    public readonly tableParameters: { [key: string]: string },
  ) {}
}
