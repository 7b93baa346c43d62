DROP INDEX `runs_status_idx`;--> statement-breakpoint
DROP INDEX `runs_one_in_progress_idx`;--> statement-breakpoint
ALTER TABLE `runs` ADD `tools` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `tool_choice` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `parallel_tool_calls` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `tool_rounds` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `expires_at` integer;--> statement-breakpoint
CREATE INDEX `runs_status_idx` ON `runs` (`status`) WHERE status in ('QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION');--> statement-breakpoint
CREATE UNIQUE INDEX `runs_one_in_progress_idx` ON `runs` (`thread_id`) WHERE status in ('IN_PROGRESS', 'REQUIRES_ACTION');--> statement-breakpoint
ALTER TABLE `assistants` ADD `tools` text;