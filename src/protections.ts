import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Config, QueryLimits } from './config.js';

/**
 * Refuse abusive operations while parsing and validating, before any resolver runs (graphql-armor).
 * The defaults let every ordinary operation of the API through — a thread with 50 messages,
 * each with its run and reply — and refuse deeper, wider or longer ones.
 */
export function queryLimitPlugins(limits: QueryLimits): Plugin[] {
  return [
    maxTokensPlugin({ n: limits.tokens }),
    maxDepthPlugin({ n: limits.depth, ignoreIntrospection: true, flattenFragments: true }),
    maxAliasesPlugin({ n: limits.aliases }),
    maxDirectivesPlugin({ n: limits.directives }),
    costLimitPlugin({ maxCost: limits.cost, ignoreIntrospection: true, flattenFragments: true }),
  ] as Plugin[];
}

/** In production: no field suggestions, CSRF prevention, and introspection only when enabled. */
export function productionPlugins(config: Config): Plugin[] {
  const plugins: Plugin[] = [];
  if (!config.introspection) plugins.push(useDisableIntrospection() as Plugin);
  if (config.production) {
    plugins.push(blockFieldSuggestionsPlugin() as Plugin);
    plugins.push(useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }) as Plugin);
  }
  return plugins;
}
