import { GraphQLError } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';

/**
 * yoga reads GET query strings and form-encoded bodies with a bare `JSON.parse` of `variables`
 * and `extensions`, so a value that is not JSON escaped as an unexpected error (HTTP 500). This
 * parser reads the same parameters and refuses one that is not JSON with 400 BAD_USER_INPUT,
 * naming it. Shapes (an array for variables, say) are still checked by yoga afterwards.
 */
export function useStrictUrlParams(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === 'GET') {
        setRequestParser((req) => paramsOf(new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1))));
      } else if (request.method === 'POST' && isFormEncoded(request.headers.get('content-type'))) {
        setRequestParser(async (req) => paramsOf(new URLSearchParams(await req.text())));
      }
    },
  };
}

// yoga's own test: the first of a comma-separated list, with or without parameters.
function isFormEncoded(contentType: string | null): boolean {
  const type = contentType?.split(',')[0];
  return type === 'application/x-www-form-urlencoded' || !!type?.startsWith('application/x-www-form-urlencoded;');
}

function paramsOf(search: URLSearchParams): GraphQLParams {
  return {
    operationName: search.get('operationName') || undefined,
    query: search.get('query') || undefined,
    variables: jsonParam(search, 'variables'),
    extensions: jsonParam(search, 'extensions'),
  };
}

function jsonParam(search: URLSearchParams, name: string): any {
  const text = search.get(name);
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new GraphQLError(`${name}: is not valid JSON`, {
      extensions: { code: 'BAD_USER_INPUT', field: name, http: { status: 400 } },
    });
  }
}
