CREATE TABLE "api_keys" (
	"pos" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "api_keys_pos_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"owner" text NOT NULL,
	"hash" text NOT NULL,
	"prefix" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_id_unique" UNIQUE("id"),
	CONSTRAINT "api_keys_hash_unique" UNIQUE("hash")
);
--> statement-breakpoint
CREATE TABLE "assistants" (
	"pos" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "assistants_pos_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"owner" text DEFAULT 'local' NOT NULL,
	"name" text,
	"model" text,
	"instructions" text,
	"temperature" double precision,
	"truncation" json,
	"tools" json,
	"metadata" json NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "assistants_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"thread_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"type" text NOT NULL,
	"message_id" text,
	"payload" json NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "events_thread_id_seq_pk" PRIMARY KEY("thread_id","seq")
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"pos" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "messages_pos_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"owner" text DEFAULT 'local' NOT NULL,
	"thread_id" text NOT NULL,
	"role" text NOT NULL,
	"content" text NOT NULL,
	"refusal" text,
	"status" text NOT NULL,
	"run_id" text,
	"idempotency_key" text,
	"metadata" json NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "messages_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"pos" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "runs_pos_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"owner" text DEFAULT 'local' NOT NULL,
	"thread_id" text NOT NULL,
	"assistant_id" text,
	"status" text NOT NULL,
	"model" text NOT NULL,
	"instructions" text,
	"reply_message_id" text,
	"tools" json,
	"tool_choice" json,
	"parallel_tool_calls" boolean,
	"tool_rounds" json DEFAULT '[]'::json NOT NULL,
	"expires_at" timestamp with time zone,
	"error_code" text,
	"error_message" text,
	"incomplete_reason" text,
	"input_tokens" integer,
	"output_tokens" integer,
	"total_tokens" integer,
	"created_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	CONSTRAINT "runs_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "threads" (
	"pos" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "threads_pos_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"owner" text DEFAULT 'local' NOT NULL,
	"assistant_id" text,
	"title" text,
	"truncation" json,
	"metadata" json NOT NULL,
	"last_event_seq" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "threads_id_unique" UNIQUE("id")
);
--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_thread_id_threads_id_fk" FOREIGN KEY ("thread_id") REFERENCES "public"."threads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_thread_id_threads_id_fk" FOREIGN KEY ("thread_id") REFERENCES "public"."threads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_thread_id_threads_id_fk" FOREIGN KEY ("thread_id") REFERENCES "public"."threads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "threads" ADD CONSTRAINT "threads_assistant_id_assistants_id_fk" FOREIGN KEY ("assistant_id") REFERENCES "public"."assistants"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_delta_idx" ON "events" USING btree ("type","created_at");--> statement-breakpoint
CREATE INDEX "messages_thread_idx" ON "messages" USING btree ("thread_id","pos");--> statement-breakpoint
CREATE INDEX "messages_run_idx" ON "messages" USING btree ("run_id");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_idempotency_idx" ON "messages" USING btree ("thread_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "runs_thread_idx" ON "runs" USING btree ("thread_id","pos");--> statement-breakpoint
CREATE INDEX "runs_status_idx" ON "runs" USING btree ("status") WHERE status in ('QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION');--> statement-breakpoint
CREATE UNIQUE INDEX "runs_one_in_progress_idx" ON "runs" USING btree ("thread_id") WHERE status in ('IN_PROGRESS', 'REQUIRES_ACTION');--> statement-breakpoint
CREATE INDEX "threads_assistant_idx" ON "threads" USING btree ("assistant_id","pos");--> statement-breakpoint
CREATE INDEX "threads_owner_idx" ON "threads" USING btree ("owner","pos");