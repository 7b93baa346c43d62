import { BadUserInputError } from '../errors.js';
import { invalid, type WireError } from './errors.js';

/** A body over MAX_BODY_BYTES: 413 with OpenAI's error envelope, before anything is parsed. */
export class BodyTooLargeError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
}

/**
 * The request's JSON body, read up to `limit` bytes (declared or chunked alike). No body (the
 * SDK's runs.cancel sends none) reads as `{}`.
 */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  const tooLarge = () => new BodyTooLargeError(invalid(null, `The request body is larger than the limit of ${limit} bytes.`, 413));
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limit) throw tooLarge();
  if (!request.body) return {};
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadUserInputError('body', 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload.)');
  }
}
