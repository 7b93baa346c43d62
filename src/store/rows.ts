/**
 * The rows stores return. Their shape is the SQLite tables' (PostgreSQL mirrors them column
 * for column), so services and surfaces see one type whatever the backend.
 */
export type { AssistantRow, ThreadRow, MessageRow, RunRow, EventRow, ApiKeyRow, Metadata, TruncationStrategy, RunStatus, FunctionTool, ToolChoice, StoredToolCall, ToolRound } from './sqlite/tables.js';
export { LOCAL_OWNER, messageRoles, messageStatuses, runStatuses, eventTypes } from './sqlite/tables.js';
import type { messageStatuses } from './sqlite/tables.js';
export type MessageStatus = (typeof messageStatuses)[number];
