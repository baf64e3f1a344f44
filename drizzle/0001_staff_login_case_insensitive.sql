ALTER TABLE "staff" DROP CONSTRAINT "staff_login_unique";--> statement-breakpoint
CREATE UNIQUE INDEX "staff_login_idx" ON "staff" USING btree (lower("login"));