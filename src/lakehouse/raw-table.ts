import * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import { DataFormat } from './data-format';
import { glueColumns, LakeTableBase } from './lake-table';
import { PartitionProjection } from './partition-projection';
import { RawTableProps } from './table-props';
import { propError, validateGlueName } from '../core/validation';

/**
 * A table over raw files (JSON lines, CSV or Parquet) in a zone, with partition projection so
 * Athena sees new partitions as soon as their objects land, with no crawler.
 *
 * @example
 * declare const lake: LakehouseTier;
 *
 * new RawTable(this, 'Events', {
 *   zone: lake.raw,
 *   tableName: 'events',
 *   columns: [{ name: 'event_id', type: 'string' }, { name: 'payload', type: 'string' }],
 *   partitionKeys: [
 *     { name: 'event_type' },
 *     { name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: '2024-01-01' }) },
 *   ],
 * });
 */
export class RawTable extends LakeTableBase {
  public readonly cfnTable: glue.CfnTable;
  /** The format of the table's files. */
  public readonly format: DataFormat;

  constructor(scope: Construct, id: string, props: RawTableProps) {
    super(scope, id, 'RawTable', props.zone, props.tableName, props.prefix);
    this.format = props.format ?? DataFormat.JSON_LINES;
    const columns = glueColumns('RawTable', props.columns, true);
    const partitionKeys = props.partitionKeys ?? [];

    const columnNames = new Set(props.columns.map((c) => c.name));
    const keyNames = new Set<string>();
    partitionKeys.forEach((key, i) => {
      validateGlueName('RawTable', `partitionKeys[${i}].name`, key.name);
      if (columnNames.has(key.name)) {
        throw propError('RawTable', `partitionKeys[${i}].name`, `partition key "${key.name}" collides with a column of the same name`,
          'remove the column from "columns" (a partition key is already a column) or rename the key');
      }
      if (keyNames.has(key.name)) {
        throw propError('RawTable', `partitionKeys[${i}].name`, `partition key "${key.name}" appears twice`, 'give each key a unique name');
      }
      keyNames.add(key.name);
    });

    const parameters: { [key: string]: string } = {
      classification: this.format.classification,
      has_encrypted_data: 'true',
      ...this.format.tableParameters,
    };
    if (partitionKeys.length > 0) {
      const hive = props.hivePartitionPaths ?? true;
      const path = partitionKeys.map((k) => (hive ? `${k.name}=\${${k.name}}` : `\${${k.name}}`)).join('/');
      parameters['projection.enabled'] = 'true';
      parameters['storage.location.template'] = `${props.zone.s3Url(this.prefix)}${path}/`;
      for (const key of partitionKeys) {
        Object.assign(parameters, (key.projection ?? PartitionProjection.injected())._parametersFor(key.name));
      }
    }

    this.cfnTable = new glue.CfnTable(this, 'Table', {
      catalogId: this.catalogId,
      databaseName: props.zone.databaseName,
      tableInput: {
        name: props.tableName,
        description: props.description,
        tableType: 'EXTERNAL_TABLE',
        parameters,
        partitionKeys: partitionKeys.map((k) => ({ name: k.name, type: k.type ?? 'string' })),
        storageDescriptor: {
          columns,
          location: props.zone.s3Url(this.prefix),
          inputFormat: this.format.inputFormat,
          outputFormat: this.format.outputFormat,
          serdeInfo: {
            serializationLibrary: this.format.serializationLibrary,
            parameters: this.format.serdeParameters,
          },
        },
      },
    });
    // The database must exist first when the zone created it in this app.
    this.cfnTable.node.addDependency(props.zone);
  }
}
