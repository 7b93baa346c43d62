CREATE TABLE `assistants` (
	`pos` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`name` text,
	`model` text,
	`instructions` text,
	`temperature` real,
	`metadata` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `assistants_id_unique` ON `assistants` (`id`);--> statement-breakpoint
CREATE TABLE `events` (
	`thread_id` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`message_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`thread_id`, `seq`),
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `events_delta_idx` ON `events` (`type`,`created_at`);--> statement-breakpoint
CREATE TABLE `messages` (
	`pos` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`thread_id` text NOT NULL,
	`role` text NOT NULL,
	`content` text NOT NULL,
	`status` text NOT NULL,
	`run_id` text,
	`idempotency_key` text,
	`metadata` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_id_unique` ON `messages` (`id`);--> statement-breakpoint
CREATE INDEX `messages_thread_idx` ON `messages` (`thread_id`,`pos`);--> statement-breakpoint
CREATE UNIQUE INDEX `messages_idempotency_idx` ON `messages` (`thread_id`,`idempotency_key`);--> statement-breakpoint
CREATE TABLE `runs` (
	`pos` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`thread_id` text NOT NULL,
	`assistant_id` text,
	`status` text NOT NULL,
	`model` text NOT NULL,
	`instructions` text,
	`reply_message_id` text,
	`error_code` text,
	`error_message` text,
	`incomplete_reason` text,
	`input_tokens` integer,
	`output_tokens` integer,
	`total_tokens` integer,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`completed_at` integer,
	FOREIGN KEY (`thread_id`) REFERENCES `threads`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runs_id_unique` ON `runs` (`id`);--> statement-breakpoint
CREATE INDEX `runs_thread_idx` ON `runs` (`thread_id`,`pos`);--> statement-breakpoint
CREATE INDEX `runs_status_idx` ON `runs` (`status`) WHERE status in ('QUEUED', 'IN_PROGRESS');--> statement-breakpoint
CREATE TABLE `threads` (
	`pos` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`assistant_id` text,
	`title` text,
	`metadata` text NOT NULL,
	`last_event_seq` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`assistant_id`) REFERENCES `assistants`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `threads_id_unique` ON `threads` (`id`);--> statement-breakpoint
CREATE INDEX `threads_assistant_idx` ON `threads` (`assistant_id`,`pos`);