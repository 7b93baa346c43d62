CREATE TABLE `api_keys` (
	`pos` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`owner` text NOT NULL,
	`hash` text NOT NULL,
	`prefix` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_id_unique` ON `api_keys` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_unique` ON `api_keys` (`hash`);--> statement-breakpoint
ALTER TABLE `assistants` ADD `owner` text DEFAULT 'local' NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `owner` text DEFAULT 'local' NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `owner` text DEFAULT 'local' NOT NULL;--> statement-breakpoint
ALTER TABLE `threads` ADD `owner` text DEFAULT 'local' NOT NULL;--> statement-breakpoint
CREATE INDEX `threads_owner_idx` ON `threads` (`owner`,`pos`);