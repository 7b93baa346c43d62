import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { GraphQLError, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config, QueryLimits } from './config.js';
import { useQueryCost } from './query-cost.js';

/**
 * Refuse abusive operations while parsing, validating or planning execution, before any
 * resolver runs (graphql-armor for tokens, depth, aliases and directives; the cost with its
 * variables in useQueryCost). The defaults let every ordinary operation of the API through — a
 * thread with 50 messages, each with its run and reply — and refuse deeper, wider or longer ones.
 */
export function queryLimitPlugins(limits: QueryLimits): Plugin[] {
  // Validation rules report a coded error instead of throwing graphql-armor's uncoded one, so
  // every refusal reaches the client (HTTP or WebSocket) as BAD_USER_INPUT.
  const armor = {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(withCode(error))],
  };
  return [
    maxTokensPlugin({ exposeLimits: true, n: limits.tokens }),
    useTokenLimitCode(),
    maxDepthPlugin({ ...armor, n: limits.depth, ignoreIntrospection: true, flattenFragments: true }),
    maxAliasesPlugin({ ...armor, n: limits.aliases }),
    maxDirectivesPlugin({ ...armor, n: limits.directives }),
    useQueryCost(limits.cost),
  ] as Plugin[];
}

/** graphql-armor's refusals read "Syntax Error: … limit …" and carry no code; an oversized operation is BAD_USER_INPUT. */
function withCode(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { nodes: error.nodes, extensions: { code: 'BAD_USER_INPUT' } });
}

/**
 * The token limit fails the parse itself; give that failure its code. graphql-js parses nested
 * literals recursively, so a list or object literal some 2,000 levels deep overflows the stack
 * (a RangeError) before the token limit is reached: that is oversized input too, not ours.
 */
function useTokenLimitCode(): Plugin {
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError && !result.extensions?.code && /^Syntax Error: Token limit/.test(result.message)) {
          replaceParseResult(withCode(result));
        } else if (result instanceof RangeError) {
          replaceParseResult(new GraphQLError('query: is nested too deeply to parse', { extensions: { code: 'BAD_USER_INPUT', field: 'query' } }));
        }
      };
    },
  };
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
