import { QUALITY_RULES_VERSION, QualityRule } from './quality-rules';
import { propError } from './validation';

/**
 * Validation and rendering of quality rules into the document the merge job reads (kept out of
 * the public API: `src/index.ts` exports `quality-rules.ts` only).
 */

/** The rules of one curated table with the prop they came from (for error messages). */
export interface QualityRulesAt {
  /** Curated table name. */
  readonly table: string;
  /** Prop of the rule list, e.g. `tables[0].qualityRules`. */
  readonly prop: string;
  /** The rules. */
  readonly rules: QualityRule[];
}

/** The `--quality_rules` document. */
export interface RenderedQualityRules {
  readonly version: number;
  readonly tables: { [table: string]: Array<{ [key: string]: unknown }> };
}

/**
 * Validates the rules of every table and renders the document the merge job reads. A table may
 * appear once; a custom SQL rule's name once per table. Tables without rules are left out.
 */
export function renderQualityRules(construct: string, tables: QualityRulesAt[]): RenderedQualityRules {
  const out: { [table: string]: Array<{ [key: string]: unknown }> } = {};
  const from = new Map<string, string>();
  for (const t of tables) {
    if (t.rules === undefined) continue;
    if (!Array.isArray(t.rules)) throw propError(construct, t.prop, 'it is not a list', 'give a list of QualityRule');
    if (t.rules.length === 0) continue;
    const other = from.get(t.table);
    if (other) {
      throw propError(construct, t.prop, `curated table "${t.table}" already has rules from ${other}`, `declare the rules of "${t.table}" in one place`);
    }
    from.set(t.table, t.prop);
    const names = new Set<string>();
    out[t.table] = t.rules.map((rule, i) => {
      if (!(rule instanceof QualityRule)) throw propError(construct, `${t.prop}[${i}]`, 'it is not a QualityRule', 'build it with a QualityRule factory, e.g. QualityRule.isComplete("id")');
      const rendered = rule._render(construct, `${t.prop}[${i}]`);
      if (rendered.rule === 'CustomSql') {
        if (names.has(rendered.name as string)) {
          throw propError(construct, `${t.prop}[${i}].name`, `another custom SQL rule of "${t.table}" is named "${rendered.name}"`, 'give each custom rule of a table its own name');
        }
        names.add(rendered.name as string);
      }
      return rendered;
    });
  }
  return { version: QUALITY_RULES_VERSION, tables: out };
}
