ALTER TABLE `assistants` ADD `truncation` text;--> statement-breakpoint
ALTER TABLE `threads` ADD `truncation` text;