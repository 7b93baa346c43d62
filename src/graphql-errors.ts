import { GraphQLError } from 'graphql';
import { handleStreamOrSingleExecutionResult, maskError, type Plugin } from 'graphql-yoga';
import { AppError, RateLimitedError, ShuttingDownError, StorageUnavailableError, UnauthenticatedError } from './errors.js';
import { StorageError } from './store/errors.js';

/** HTTP status of an error answered before GraphQL runs (authentication, rate limits, shutdown). */
export function httpStatusOf(error: AppError): number {
  if (error instanceof UnauthenticatedError) return 401;
  if (error instanceof RateLimitedError) return 429;
  if (error instanceof ShuttingDownError) return 503;
  return error.code === 'FORBIDDEN' ? 403 : 400;
}

/** Extra HTTP headers an error asks for. */
export function httpHeadersOf(error: AppError): Record<string, string> {
  if (error instanceof UnauthenticatedError) return { 'www-authenticate': 'Bearer' };
  if (error instanceof RateLimitedError || error instanceof ShuttingDownError) return { 'retry-after': String(error.retryAfter) };
  return {};
}

export function toGraphQLError(error: AppError, located?: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: located?.nodes,
    path: located?.path,
    extensions: { code: error.code, ...error.details },
  });
}

/**
 * yoga's error masking, with the contract's codes: an AppError keeps its code and message;
 * GraphQL's own refusals of the request (parse, validation, variables) are BAD_USER_INPUT,
 * CSRF refusals FORBIDDEN; anything else is logged and answered "Unexpected error." — never
 * a stack, not even in development.
 */
export function createErrorMasker(logUnexpected: (error: unknown) => void, options: { bodyLimit: number }) {
  return (error: unknown, message: string): Error => {
    if (isBodyTooLarge(error)) return bodyTooLarge(options.bodyLimit);
    let original = error instanceof GraphQLError ? (error.originalError ?? null) : error;
    if (original instanceof StorageError) {
      // The operator needs the cause; the client a clear, retryable refusal without internals.
      logUnexpected(original);
      original = new StorageUnavailableError();
    }
    if (original instanceof AppError) return toGraphQLError(original, error instanceof GraphQLError ? error : undefined);
    if (error instanceof GraphQLError && (original === null || original instanceof GraphQLError)) return withContractCode(error);
    logUnexpected(original);
    return maskError(error, message, false);
  };
}

/**
 * yoga masks `errors` of a result, not those inside the incremental parts of @defer/@stream;
 * this gives them the same treatment (codes kept, internals masked).
 */
export function useMaskedIncrementalErrors(mask: (error: unknown, message: string) => Error): Plugin {
  const maskAll = (errors: readonly GraphQLError[]) => errors.map((e) => mask(e, 'Unexpected error.') as GraphQLError);
  return {
    onExecute() {
      return {
        onExecuteDone(payload) {
          return handleStreamOrSingleExecutionResult(payload, ({ result, setResult }) => {
            const incremental = (result as { incremental?: { errors?: readonly GraphQLError[] }[] }).incremental;
            if (!incremental?.some((part) => part.errors)) return;
            setResult({
              ...result,
              incremental: incremental.map((part) => (part.errors ? { ...part, errors: maskAll(part.errors) } : part)),
            } as typeof result);
          });
        },
      };
    },
  };
}

const requestRefusals = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'OPERATION_RESOLUTION_FAILURE', 'BAD_REQUEST', undefined]);

/**
 * yoga answers validation errors (and an operationName that names no operation) without
 * passing them through the masker; this gives them the contract's BAD_USER_INPUT too.
 */
export function useContractRequestCodes(): Plugin {
  return {
    onValidate() {
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map((e: Error) => (e instanceof GraphQLError ? withContractCode(e) : e)));
      };
    },
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result) || !result.errors) return;
      const errors = result.errors as readonly GraphQLError[];
      if (!errors.some((e) => e instanceof GraphQLError && requestRefusals.has(e.extensions?.code as string) && e.extensions?.code !== undefined)) return;
      setResult({ ...result, errors: errors.map((e) => (e instanceof GraphQLError ? withContractCode(e) : e)) } as typeof result);
    },
  };
}

function withContractCode(error: GraphQLError): GraphQLError {
  const code = error.extensions?.code as string | undefined;
  if (!requestRefusals.has(code)) return error;
  const http = error.extensions?.http as { status?: number } | undefined;
  const contractCode = http?.status === 403 ? 'FORBIDDEN' : 'BAD_USER_INPUT';
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    path: error.path,
    extensions: { ...error.extensions, code: contractCode },
  });
}

/** yoga's maxRequestBodySize refusal (declared or chunked body), before GraphQL parses anything. */
function isBodyTooLarge(error: unknown): boolean {
  return error instanceof GraphQLError && error.extensions?.code === 'REQUEST_ENTITY_TOO_LARGE';
}

/** The contract's BAD_USER_INPUT naming the limit; `http` keeps yoga's 413 (it is not sent). */
function bodyTooLarge(limit: number): GraphQLError {
  return new GraphQLError(`The request body is larger than the limit of ${limit} bytes.`, {
    extensions: { code: 'BAD_USER_INPUT', limit, http: { status: 413 } },
  });
}
