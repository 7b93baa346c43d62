import { Column, getTableColumns, getTableName } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';

/**
 * Whole rows of a table read with node-postgres directly (array rows, its default type parsers),
 * decoded column by column as Drizzle's select() decodes them: bigint text as numbers, JSON kept
 * as node-postgres parsed it, timestamps as Dates, null kept. For the statements a run makes in
 * its transactions (tx.ts), where building each query with Drizzle cost more than the statement.
 */
export interface PgRowReader<Row> {
  /** The select (or RETURNING) list, in the order `read` expects. */
  readonly columns: string;
  readonly table: string;
  read(values: readonly unknown[]): Row;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function pgRowReader<T extends PgTable>(table: T): PgRowReader<T['$inferSelect']> {
  const fields = Object.entries(getTableColumns(table) as Record<string, PgColumn>).map(([key, column]) => ({
    key,
    decode: column.mapFromDriverValue === Column.prototype.mapFromDriverValue ? null : (value: unknown) => column.mapFromDriverValue(value),
    column,
  }));
  return {
    columns: fields.map((f) => quote(f.column.name)).join(', '),
    table: quote(getTableName(table)),
    read(values) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i]!;
        const value = values[i];
        row[field.key] = value === null || field.decode === null ? value : field.decode(value);
      }
      return row as T['$inferSelect'];
    },
  };
}
