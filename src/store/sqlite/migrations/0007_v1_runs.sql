ALTER TABLE `assistants` ADD `description` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `temperature` real;--> statement-breakpoint
ALTER TABLE `runs` ADD `truncation` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `max_prompt_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `max_completion_tokens` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `metadata` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `idempotency_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_idempotency_idx` ON `runs` (`owner`,`idempotency_key`);