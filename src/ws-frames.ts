import { MessageType } from 'graphql-ws';

/** Messages only a server sends; graphql-ws's server has no case for them. */
const serverOnly = new Set<unknown>([MessageType.ConnectionAck, MessageType.Next, MessageType.Error]);

/**
 * A JSON reviver for incoming graphql-transport-ws frames. graphql-ws validates a client's
 * `next`, `error` or `connection_ack` frame as well formed, then throws on it ("Unexpected
 * message of type next received"), which closes the socket with 4500 and logs an internal
 * error. Throwing while parsing instead makes it close with 4400 "Invalid message received",
 * as for any other frame out of protocol.
 *
 * JSON.parse revives the whole message last, under the key "" of a holder with only that key.
 * A nested `{"": {"type": "next"}}` inside variables looks the same and is refused too: an
 * acceptable cost for a frame no client sends.
 */
export function refuseServerOnlyFrames(this: unknown, key: string, value: unknown): unknown {
  if (key === '' && isSoleKeyHolder(this) && typeof value === 'object' && value !== null && serverOnly.has((value as { type?: unknown }).type)) {
    throw new Error(`a client may not send "${(value as { type: string }).type}" messages`);
  }
  return value;
}

function isSoleKeyHolder(holder: unknown): boolean {
  return typeof holder === 'object' && holder !== null && Object.keys(holder).length === 1;
}
