CREATE TABLE "auth_known_client" (
	"key_sha256" text PRIMARY KEY NOT NULL,
	"last_success_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "auth_throttle" (
	"key_sha256" text PRIMARY KEY NOT NULL,
	"failures" integer NOT NULL,
	"refused" integer DEFAULT 0 NOT NULL,
	"last_at" timestamp with time zone NOT NULL,
	"next_allowed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "send_limit" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"max_recipients" integer DEFAULT 50 NOT NULL,
	"max_per_minute" integer DEFAULT 10 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "auth_throttle_last_at_idx" ON "auth_throttle" USING btree ("last_at");--> statement-breakpoint
CREATE INDEX "outbox_created_by_idx" ON "outbox_message" USING btree ("created_by","created_at") WHERE "outbox_message"."created_by" is not null;