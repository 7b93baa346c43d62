// `npm run schema:print`: writes the printed schema to schema.graphql (a test checks it is current).
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';

writeFileSync(new URL('../schema.graphql', import.meta.url), printSchema(schema) + '\n');
console.log('schema.graphql written');
