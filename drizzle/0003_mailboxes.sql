CREATE TABLE "imap_checkpoint" (
	"account" text NOT NULL,
	"folder" text NOT NULL,
	"uid_validity" text NOT NULL,
	"last_uid" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "imap_checkpoint_account_folder_pk" PRIMARY KEY("account","folder")
);
--> statement-breakpoint
CREATE TABLE "mailbox" (
	"channel" text PRIMARY KEY NOT NULL,
	"protocol" text NOT NULL,
	"host" text NOT NULL,
	"port" integer NOT NULL,
	"security" text NOT NULL,
	"username" text NOT NULL,
	"password_encrypted" text NOT NULL,
	"folder" text DEFAULT 'INBOX' NOT NULL,
	"after_import" text NOT NULL,
	"ca_file" text,
	"tls_legacy" boolean DEFAULT false NOT NULL,
	"import_since" timestamp with time zone,
	"enabled" boolean DEFAULT true NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mailbox_failure" (
	"account" text NOT NULL,
	"item_key" text NOT NULL,
	"reason" text NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"permanent" boolean DEFAULT false NOT NULL,
	"last_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mailbox_failure_account_item_key_pk" PRIMARY KEY("account","item_key")
);
--> statement-breakpoint
CREATE TABLE "mailbox_health" (
	"channel" text PRIMARY KEY NOT NULL,
	"last_poll_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"last_error" text,
	"last_error_at" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"imported_total" bigint DEFAULT 0 NOT NULL,
	"lease_holder" text,
	"lease_expires_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "pop3_seen" (
	"account" text NOT NULL,
	"uidl" text NOT NULL,
	"imported_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pop3_seen_account_uidl_pk" PRIMARY KEY("account","uidl")
);
