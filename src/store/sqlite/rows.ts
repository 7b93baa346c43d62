import { Column, getTableColumns, getTableName } from 'drizzle-orm';
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core';

/**
 * Whole rows of a table read straight from better-sqlite3 (raw arrays), decoded column by
 * column as Drizzle's `select()` decodes them (JSON text parsed, timestamps as Dates, null kept).
 * Drizzle's own mapping is generic — entity checks and a path walk for every value — and a page
 * of messages is on every screen, so the hottest reads (pages, lookups by id) come through here.
 * test/sqlite-rows.test.ts holds both readings of every table to each other.
 */
export interface RowReader<Row> {
  /** The select list, in the order `read` expects. */
  readonly columns: string;
  /** `from "table"`, quoted. */
  readonly table: string;
  /** The row of one raw result; `fixed` supplies the value of the column left out of `columns`. */
  read(values: readonly unknown[], fixed?: unknown): Row;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** `without`: a column the caller already knows (the scope of a page), not read back. */
export function rowReader<T extends SQLiteTable>(table: T, without?: SQLiteColumn): RowReader<T['$inferSelect']> {
  const fields = Object.entries(getTableColumns(table) as Record<string, SQLiteColumn>).map(([key, column]) => ({
    key,
    // Most columns (plain text, integers) keep the driver's value: no call for those.
    decode: column.mapFromDriverValue === Column.prototype.mapFromDriverValue ? null : (value: unknown) => column.mapFromDriverValue(value),
    column,
    fixed: column === without,
  }));
  const selected = fields.filter((f) => !f.fixed);
  return {
    columns: selected.map((f) => quote(f.column.name)).join(', '),
    table: quote(getTableName(table)),
    read(values, fixed) {
      const row: Record<string, unknown> = {};
      let i = 0;
      for (const field of fields) {
        if (field.fixed) {
          row[field.key] = fixed;
          continue;
        }
        const value = values[i++];
        row[field.key] = value === null || field.decode === null ? value : field.decode(value);
      }
      return row as T['$inferSelect'];
    },
  };
}
