CREATE TABLE "device_account" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"password_hash" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_auth_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "device_account_name_idx" ON "device_account" USING btree (lower("name"));