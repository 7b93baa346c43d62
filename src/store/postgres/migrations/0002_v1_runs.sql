ALTER TABLE "assistants" ADD COLUMN "description" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "temperature" double precision;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "truncation" json;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "max_prompt_tokens" integer;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "max_completion_tokens" integer;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "metadata" json DEFAULT '{}'::json NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
CREATE UNIQUE INDEX "runs_idempotency_idx" ON "runs" USING btree ("owner","idempotency_key");