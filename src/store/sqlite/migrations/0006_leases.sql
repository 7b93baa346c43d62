ALTER TABLE `runs` ADD `cancel_requested_at` integer;--> statement-breakpoint
ALTER TABLE `threads` ADD `window_end` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `threads` ADD `foreign_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `threads` ADD `writer` text;--> statement-breakpoint
ALTER TABLE `threads` ADD `writer_epoch` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `threads` ADD `lease_until` integer;--> statement-breakpoint
CREATE INDEX `threads_lease_idx` ON `threads` (`lease_until`) WHERE writer is not null;--> statement-breakpoint
UPDATE `threads` SET `window_end` = `last_event_seq`;
