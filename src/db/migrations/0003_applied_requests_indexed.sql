DROP INDEX `requests_id_unique`;--> statement-breakpoint
DROP INDEX `requests_project_time`;--> statement-breakpoint
ALTER TABLE `requests` ADD `applied` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
-- Rows after the watermark are settled but not applied yet: they join the indexes when applied.
UPDATE `requests` SET `applied` = 0 WHERE `seq` > coalesce((SELECT `applied_seq` FROM `settlement_watermark` WHERE `id` = 1), 0);--> statement-breakpoint
CREATE UNIQUE INDEX `requests_id_unique` ON `requests` (`id`) WHERE applied = 1;--> statement-breakpoint
CREATE INDEX `requests_project_time` ON `requests` (`project_id`,`created_at`) WHERE applied = 1;
