CREATE UNIQUE INDEX "activity_type_name_lower_idx" ON "activity_type" USING btree (lower("name"));--> statement-breakpoint
CREATE INDEX "task_open_created_idx" ON "task" USING btree ("created_at","id") WHERE "task"."status" in ('open', 'unassigned');--> statement-breakpoint
CREATE INDEX "task_assignee_idx" ON "task" USING btree ("assignee_id","created_at");