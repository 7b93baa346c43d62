ALTER TABLE "runs" ADD COLUMN "cancel_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "threads" ADD COLUMN "window_end" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "threads" ADD COLUMN "foreign_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "threads" ADD COLUMN "writer" text;--> statement-breakpoint
ALTER TABLE "threads" ADD COLUMN "writer_epoch" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "threads" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "threads_lease_idx" ON "threads" USING btree ("lease_until") WHERE writer is not null;