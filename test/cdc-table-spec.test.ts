import * as fc from 'fast-check';
import { CdcTable } from '../src/ingestion/cdc/cdc-ingestion-props';
import { curatedTableName, resolveTables, TOMBSTONE_SUFFIX } from '../src/ingestion/cdc/cdc-table-spec';

const t = (name: string): CdcTable => ({ name, primaryKey: ['id'] });

describe('two source tables, one curated table (synth time)', () => {
  test('two declared names that map to one curated table are refused, naming both and the prop', () => {
    expect(() => resolveTables([t('sales.order_items'), t('sales.Order_Items')], 'shop_')).toThrow(
      /invalid prop "tables\[1\]\.name": "sales\.Order_Items" and tables\[0\] \("sales\.order_items"\) both become curated table "shop_sales_order_items"/,
    );
    // The schema/table split moves, the curated name does not.
    expect(() => resolveTables([t('sales.order_items'), t('sales_order.items')], 'shop_')).toThrow(
      /"sales_order\.items" and tables\[0\] \("sales\.order_items"\) both become curated table "shop_sales_order_items"/,
    );
  });

  test('a declared table whose curated name is another table\'s tombstone table is refused', () => {
    expect(() => resolveTables([t('sales.orders'), t(`sales.orders${TOMBSTONE_SUFFIX}`)], 'shop_')).toThrow(
      /invalid prop "tables\[1\]\.name": "sales\.orders__cdc_tombstones" and tables\[0\] \("sales\.orders"\): the merge job keeps a curated table's deleted keys in "<curated table>__cdc_tombstones"/,
    );
    expect(() => resolveTables([t(`sales.orders${TOMBSTONE_SUFFIX}`), t('sales.orders')], 'shop_')).toThrow(/tables\[0\] \("sales\.orders__cdc_tombstones"\)/);
  });

  test('a declared table that a pattern of another entry matches is refused, naming both', () => {
    expect(() => resolveTables([t('sales.*'), t('sales.order_items')], 'shop_')).toThrow(
      /invalid prop "tables\[1\]\.name": "sales\.order_items" is also matched by the pattern "sales\.\*" of tables\[0\]/,
    );
    expect(() => resolveTables([t('public.orders'), t('*.ord*')], 'shop_')).toThrow(/"public\.orders" is also matched by the pattern "\*\.ord\*" of tables\[1\]/);
    // Case-sensitive, like the job's fnmatchcase: "Sales.*" does not match "sales.orders".
    expect(() => resolveTables([t('Sales.*'), t('sales.orders'), t('sales.x$y'), t('sales.o*s')], 'shop_')).toThrow(/"sales\.orders" is also matched by the pattern "sales\.o\*s"/);
    expect(resolveTables([t('Sales.*'), t('sales.orders'), t('other.*')], 'shop_').map((s) => s.curatedTable)).toEqual([undefined, 'shop_sales_orders', undefined]);
  });

  test('property: declared names are accepted exactly when no two share a curated or tombstone name and no pattern matches a name', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9_$]{1,6}$/);
    const name = fc.oneof(
      fc.tuple(part, part).map(([s, x]) => `${s}.${x}`),
      fc.tuple(part, part).map(([s, x]) => `${s}.${x}${TOMBSTONE_SUFFIX}`),
      fc.tuple(part, fc.constantFrom('*', 'a*', '*_1')).map(([s, x]) => `${s}.${x}`),
    );
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), (names) => {
        // An independent oracle: every (claimer, claimed name) pair, then any clash.
        const claims: Array<[string, string]> = [];
        for (const n of names.filter((x) => !x.includes('*'))) {
          const [s, x] = n.split('.');
          claims.push([n, `shop_${s}_${x}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')]);
          claims.push([n, `shop_${s}_${x}`.toLowerCase().replace(/[^a-z0-9_]/g, '_') + TOMBSTONE_SUFFIX]);
        }
        const clash = claims.some(([a, ca], i) => claims.some(([b, cb], j) => i !== j && a !== b && ca === cb));
        const glob = (p: string, v: string) => new RegExp('^' + p.split('*').map((c) => c.replace(/[$]/g, '\\$')).join('.*') + '$').test(v);
        const overlap = names.some((p) => p.includes('*') && names.some((n) => !n.includes('*')
          && glob(p.split('.')[0], n.split('.')[0]) && glob(p.split('.')[1], n.split('.')[1])));
        const tooLong = names.some((n) => !n.includes('*') && `shop_${n}`.length > 255);
        let threw: Error | undefined;
        try {
          resolveTables(names.map(t), 'shop_');
        } catch (e) {
          threw = e as Error;
        }
        if (tooLong) return;
        expect(threw !== undefined).toBe(clash || overlap);
        if (threw) expect(threw.message).toMatch(/invalid prop "tables\[\d+\]\.name"/);
      }),
      { seed: 14, numRuns: 400 },
    );
  });

  test('curatedTableName mirrors the job: lowercase, one "_" per character outside [a-z0-9_]', () => {
    expect(curatedTableName('shop_', 'sales', 'Order-Items')).toBe(curatedTableName('shop_', 'sales', 'order_items'));
  });
});
