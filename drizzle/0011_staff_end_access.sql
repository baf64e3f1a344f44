-- Custom SQL migration file, put your code below! --
-- Access ends where it starts (issue 14): whatever path changes a person's password, login, role,
-- activity or makes them external (admin page, API, CLI, CSV import, deactivation), their browser
-- sessions and API tokens end in the same transaction. A login removed takes its password with it.
CREATE FUNCTION "staff_end_access"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."login" IS NULL THEN
    NEW."password_hash" := NULL;
  END IF;
  IF NEW."password_hash" IS DISTINCT FROM OLD."password_hash"
     OR NEW."login" IS DISTINCT FROM OLD."login"
     OR NEW."role" IS DISTINCT FROM OLD."role"
     OR NEW."active" IS DISTINCT FROM OLD."active"
     OR NEW."external" IS DISTINCT FROM OLD."external" THEN
    DELETE FROM "admin_session" WHERE "staff_id" = NEW."id";
    DELETE FROM "api_token" WHERE "staff_id" = NEW."id";
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "staff_end_access" BEFORE UPDATE ON "staff" FOR EACH ROW EXECUTE FUNCTION "staff_end_access"();
