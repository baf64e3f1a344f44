CREATE TABLE "outbox_message" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"message_id_header" text NOT NULL,
	"envelope_from" text NOT NULL,
	"envelope_to" jsonb NOT NULL,
	"to_addresses" text NOT NULL,
	"subject" text NOT NULL,
	"raw_sha256" text NOT NULL,
	"size" bigint NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_holder" text,
	"lease_expires_at" timestamp with time zone,
	"recoveries" integer DEFAULT 0 NOT NULL,
	"last_reply" text,
	"last_attempt_at" timestamp with time zone,
	"sent_at" timestamp with time zone,
	"reply_to_message_id" bigint,
	"task_id" bigint,
	"created_by" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "smtp_account" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"host" text NOT NULL,
	"port" integer NOT NULL,
	"security" text NOT NULL,
	"auth" text NOT NULL,
	"username" text,
	"password_encrypted" text,
	"from_address" text NOT NULL,
	"from_name" text,
	"ca_file" text,
	"tls_legacy" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "message" ADD COLUMN "automated" text;--> statement-breakpoint
ALTER TABLE "outbox_message" ADD CONSTRAINT "outbox_message_raw_sha256_blob_sha256_fk" FOREIGN KEY ("raw_sha256") REFERENCES "public"."blob"("sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "outbox_message" ADD CONSTRAINT "outbox_message_reply_to_message_id_message_id_fk" FOREIGN KEY ("reply_to_message_id") REFERENCES "public"."message"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "outbox_message" ADD CONSTRAINT "outbox_message_task_id_task_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."task"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "outbox_message" ADD CONSTRAINT "outbox_message_created_by_staff_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."staff"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_message_id_header_idx" ON "outbox_message" USING btree ("message_id_header");--> statement-breakpoint
CREATE INDEX "outbox_due_idx" ON "outbox_message" USING btree ("next_attempt_at","id") WHERE "outbox_message"."state" = 'queued';--> statement-breakpoint
CREATE INDEX "outbox_sending_idx" ON "outbox_message" USING btree ("lease_expires_at") WHERE "outbox_message"."state" = 'sending';