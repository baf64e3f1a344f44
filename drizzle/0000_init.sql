CREATE TABLE "activity_type" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	CONSTRAINT "activity_type_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "api_token" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"token_sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_token_name_unique" UNIQUE("name"),
	CONSTRAINT "api_token_token_sha256_unique" UNIQUE("token_sha256")
);
--> statement-breakpoint
CREATE TABLE "attachment" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" bigint NOT NULL,
	"position" integer NOT NULL,
	"filename" text NOT NULL,
	"content_type" text NOT NULL,
	"declared_content_type" text NOT NULL,
	"size" bigint NOT NULL,
	"sha256" text NOT NULL,
	"content_id" text,
	"inline" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blob" (
	"sha256" text PRIMARY KEY NOT NULL,
	"size" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blob_chunk" (
	"sha256" text NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "blob_chunk_sha256_seq_pk" PRIMARY KEY("sha256","seq")
);
--> statement-breakpoint
CREATE TABLE "channel_setting" (
	"channel" text PRIMARY KEY NOT NULL,
	"activity_type_id" integer NOT NULL,
	"auto_import" boolean DEFAULT true NOT NULL,
	"poll_interval_minutes" integer DEFAULT 15 NOT NULL,
	"auto_complete" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbound_address" (
	"address" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "message" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"raw_sha256" text NOT NULL,
	"size" bigint NOT NULL,
	"fingerprint" text NOT NULL,
	"message_id_header" text,
	"sender_address" text,
	"sender_name" text,
	"subject" text,
	"date" timestamp with time zone NOT NULL,
	"date_from_header" boolean NOT NULL,
	"text" text,
	"html" text,
	"parse_error" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "receipt" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" bigint NOT NULL,
	"source_kind" text NOT NULL,
	"source" jsonb NOT NULL,
	"duplicate" boolean NOT NULL,
	"raw_sha256" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sender_mapping" (
	"id" serial PRIMARY KEY NOT NULL,
	"from_address" text NOT NULL,
	"to_staff_id" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "staff" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"external" boolean DEFAULT false NOT NULL,
	"login" text,
	"password_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "staff_login_unique" UNIQUE("login")
);
--> statement-breakpoint
CREATE TABLE "task" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" bigint NOT NULL,
	"channel" text NOT NULL,
	"activity_type_id" integer NOT NULL,
	"status" text NOT NULL,
	"unreadable" boolean DEFAULT false NOT NULL,
	"assignee_id" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "task_candidate" (
	"task_id" bigint NOT NULL,
	"staff_id" integer NOT NULL,
	CONSTRAINT "task_candidate_task_id_staff_id_pk" PRIMARY KEY("task_id","staff_id")
);
--> statement-breakpoint
ALTER TABLE "attachment" ADD CONSTRAINT "attachment_message_id_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attachment" ADD CONSTRAINT "attachment_sha256_blob_sha256_fk" FOREIGN KEY ("sha256") REFERENCES "public"."blob"("sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "blob_chunk" ADD CONSTRAINT "blob_chunk_sha256_blob_sha256_fk" FOREIGN KEY ("sha256") REFERENCES "public"."blob"("sha256") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_setting" ADD CONSTRAINT "channel_setting_activity_type_id_activity_type_id_fk" FOREIGN KEY ("activity_type_id") REFERENCES "public"."activity_type"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message" ADD CONSTRAINT "message_raw_sha256_blob_sha256_fk" FOREIGN KEY ("raw_sha256") REFERENCES "public"."blob"("sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "receipt" ADD CONSTRAINT "receipt_message_id_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sender_mapping" ADD CONSTRAINT "sender_mapping_to_staff_id_staff_id_fk" FOREIGN KEY ("to_staff_id") REFERENCES "public"."staff"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task" ADD CONSTRAINT "task_message_id_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."message"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task" ADD CONSTRAINT "task_activity_type_id_activity_type_id_fk" FOREIGN KEY ("activity_type_id") REFERENCES "public"."activity_type"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task" ADD CONSTRAINT "task_assignee_id_staff_id_fk" FOREIGN KEY ("assignee_id") REFERENCES "public"."staff"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_candidate" ADD CONSTRAINT "task_candidate_task_id_task_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."task"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_candidate" ADD CONSTRAINT "task_candidate_staff_id_staff_id_fk" FOREIGN KEY ("staff_id") REFERENCES "public"."staff"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "attachment_message_position_idx" ON "attachment" USING btree ("message_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "message_fingerprint_idx" ON "message" USING btree ("fingerprint");--> statement-breakpoint
CREATE INDEX "message_sender_idx" ON "message" USING btree ("sender_address");--> statement-breakpoint
CREATE INDEX "message_message_id_idx" ON "message" USING btree ("message_id_header");--> statement-breakpoint
CREATE INDEX "receipt_message_idx" ON "receipt" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "sender_mapping_from_to_idx" ON "sender_mapping" USING btree ("from_address","to_staff_id");--> statement-breakpoint
CREATE UNIQUE INDEX "staff_active_email_idx" ON "staff" USING btree (lower("email")) WHERE "staff"."active";--> statement-breakpoint
CREATE UNIQUE INDEX "task_message_channel_idx" ON "task" USING btree ("message_id","channel");--> statement-breakpoint
CREATE INDEX "task_status_idx" ON "task" USING btree ("status");--> statement-breakpoint
CREATE INDEX "task_candidate_staff_idx" ON "task_candidate" USING btree ("staff_id");