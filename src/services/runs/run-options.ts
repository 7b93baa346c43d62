import { z } from 'zod';
import type { AssistantRow, FunctionTool, ToolChoice } from '../../store/types.js';
import { checkToolChoice, toolChoice, tools } from '../validation.js';

/** The tool fields a run may be started with (createThread, sendMessage), as zod fields. */
export const runToolFields = () => ({
  tools: tools().nullish(),
  toolChoice: toolChoice().nullish(),
  parallelToolCalls: z.boolean({ error: 'must be a boolean' }).nullish(),
});

/**
 * The tools a new run gets: the input's (replacing the assistant's), else the assistant's. A
 * FUNCTION choice must name one of them.
 */
export function runTools(
  input: { tools?: FunctionTool[] | null; toolChoice?: ToolChoice | null; parallelToolCalls?: boolean | null },
  assistant: AssistantRow | undefined,
  prefix: string,
): { tools: FunctionTool[] | null; toolChoice: ToolChoice | null; parallelToolCalls: boolean | null } {
  const available = input.tools ?? assistant?.tools ?? null;
  checkToolChoice(input.toolChoice ?? null, available ?? [], `${prefix}.toolChoice`);
  return { tools: available && available.length > 0 ? available : null, toolChoice: input.toolChoice ?? null, parallelToolCalls: input.parallelToolCalls ?? null };
}
